package api

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// AskBody is the body of POST /v1/kbs/{kb}/ask.
type AskBody struct {
	Question string `json:"question"`
	// ConversationID continues a conversation; without it the server starts
	// one and returns its id in the Answer. A public key continues only the
	// conversations the server started for it.
	ConversationID string            `json:"conversation_id,omitempty"`
	User           string            `json:"user,omitempty"` // the customer's id in the caller's system
	Metadata       map[string]string `json:"metadata,omitempty"`
}

func (s *Server) ask(c fiber.Ctx) error {
	if s.cfg.Answerer == nil {
		return unavailable("answerer")
	}
	var body AskBody
	if err := s.decode(c, &body, `{"question", "conversation_id"?, "user"?, "metadata"?}`); err != nil {
		return err
	}
	p := principalOf(c)
	req := kefu.AskRequest{KB: c.Params("kb"), Question: body.Question, ConversationID: body.ConversationID,
		Channel: kefu.ChannelAPI, EndUser: body.User, KeyID: p.keyID, Metadata: body.Metadata}
	if strings.TrimSpace(req.Question) == "" {
		return kefu.Errorf(kefu.EINVALID, "question is empty")
	}
	if err := s.checkConversation(c.Context(), p, req.KB, req.ConversationID); err != nil {
		return err
	}
	if err := s.visitorLimit(c, p, req.ConversationID); err != nil {
		return err
	}
	if !strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") {
		ctx, stop := s.answerContext(c)
		ans, err := s.cfg.Answerer.Ask(ctx, req, nil)
		stop()
		if err != nil {
			return s.answerError(ctx, err)
		}
		return c.JSON(ans)
	}
	// A missing KB is an HTTP error, not an event.
	if _, err := s.cfg.Store.KB(c.Context(), req.KB); err != nil {
		return err
	}
	return s.stream(c, func(ctx context.Context, emit func(event string, data any) bool) {
		ans, err := s.cfg.Answerer.Ask(ctx, req, func(d string) { emit("delta", fiber.Map{"text": d}) })
		if err != nil {
			emit("error", ErrorDetail{Code: kefu.ErrorCode(err), Message: kefu.ErrorMessage(err)})
			return
		}
		emit("citations", ans.Citations)
		if ans.Route == kefu.RouteHandoff {
			emit("handoff", ans)
		} else {
			emit("done", ans)
		}
	})
}

// sseEvent is one server-sent event; an empty name writes data alone.
type sseEvent struct {
	name, id string
	data     []byte
}

// stream answers with server-sent events produced by run, which runs in its
// own goroutine and emits events in order. Each event is flushed as it
// comes. When the client goes away (a write fails), run's context is
// cancelled and emit returns false; so it is when the server shuts down
// past its grace period.
func (s *Server) stream(c fiber.Ctx, run func(ctx context.Context, emit func(event string, data any) bool)) error {
	return s.streamIDs(c, func(ctx context.Context, emit func(event, id string, data any) bool) {
		run(ctx, func(event string, data any) bool { return emit(event, "", data) })
	})
}

// streamIDs is stream with event ids: an event with an id writes an "id:"
// line, which a reconnecting EventSource sends back as Last-Event-ID.
func (s *Server) streamIDs(c fiber.Ctx, run func(ctx context.Context, emit func(event, id string, data any) bool)) error {
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	ctx, cancel := context.WithCancel(kefu.WithRequestID(s.base, requestID(c)))
	events := make(chan sseEvent, 64)
	emit := func(event, id string, data any) bool {
		var b []byte
		if raw, ok := data.([]byte); ok {
			b = raw
		} else {
			var err error
			if b, err = json.Marshal(data); err != nil {
				b, _ = json.Marshal(ErrorDetail{Code: kefu.EINTERNAL, Message: "internal error"})
				event = "error"
			}
		}
		select {
		case events <- sseEvent{event, id, b}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer close(events)
		run(ctx, emit)
	}()
	reqID, route, start := requestID(c), c.Route().Path, time.Now()
	c.RequestCtx().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		defer func() {
			s.log.Info("stream ended", "route", route, "request_id", reqID, "ms", float64(time.Since(start).Microseconds())/1000, "client_gone", ctx.Err() != nil && s.base.Err() == nil)
		}()
		beat := time.NewTicker(s.cfg.StreamHeartbeat)
		defer beat.Stop()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.name != "" {
					w.WriteString("event: " + ev.name + "\n")
				}
				if ev.id != "" {
					w.WriteString("id: " + ev.id + "\n")
				}
				w.WriteString("data: ")
				w.Write(ev.data)
				w.WriteString("\n\n")
			case <-beat.C:
				w.WriteString(": keep-alive\n\n")
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	})
	return nil
}

// evalFile reads a file of a KB's latest `kefu eval` report.
func (s *Server) evalFile(c fiber.Ctx, name string) ([]byte, error) {
	kb := c.Params("kb")
	if !kefu.ValidKBName(kb) {
		return nil, kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q", kb)
	}
	if _, err := s.cfg.Store.KB(c.Context(), kb); err != nil {
		return nil, err
	}
	if s.cfg.Reports == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no evaluation report for %q", kb)
	}
	return s.cfg.Reports.ReportFile(c.Context(), kb, name)
}

func (s *Server) evalSummary(c fiber.Ctx) error {
	b, err := s.evalFile(c, kefu.ReportSummary)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

func (s *Server) evalReport(c fiber.Ctx) error {
	b, err := s.evalFile(c, kefu.ReportHTML)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b)
}
