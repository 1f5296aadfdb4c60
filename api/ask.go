package api

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-dev/kefu"
)

// AskBody is the body of POST /v1/kbs/{kb}/ask.
type AskBody struct {
	Question       string `json:"question"`
	ConversationID string `json:"conversation_id,omitempty"`
}

func (s *Server) ask(c *fiber.Ctx) error {
	if s.cfg.Answerer == nil {
		return unavailable("answerer")
	}
	var body AskBody
	if err := s.decode(c, &body, `{"question", "conversation_id"?}`); err != nil {
		return err
	}
	req := kefu.AskRequest{KB: c.Params("kb"), Question: body.Question, ConversationID: body.ConversationID}
	if strings.TrimSpace(req.Question) == "" {
		return kefu.Errorf(kefu.EINVALID, "question is empty")
	}
	if !strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") {
		ans, err := s.cfg.Answerer.Ask(c.UserContext(), req, nil)
		if err != nil {
			return err
		}
		return c.JSON(ans)
	}
	// A missing KB is an HTTP error, not an event.
	if _, err := s.cfg.Store.KB(c.UserContext(), req.KB); err != nil {
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
	name string
	data []byte
}

// stream answers with server-sent events produced by run, which runs in its
// own goroutine and emits events in order. Each event is flushed as it
// comes. When the client goes away (a write fails), run's context is
// cancelled and emit returns false; so it is when the server shuts down
// past its grace period.
func (s *Server) stream(c *fiber.Ctx, run func(ctx context.Context, emit func(event string, data any) bool)) error {
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	ctx, cancel := context.WithCancel(s.base)
	events := make(chan sseEvent, 64)
	emit := func(event string, data any) bool {
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
		case events <- sseEvent{event, b}:
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
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
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

// FeedbackBody is the body of POST /v1/kbs/{kb}/answers/{id}/feedback.
type FeedbackBody struct {
	Vote    int    `json:"vote"`
	Comment string `json:"comment,omitempty"`
}

func (s *Server) feedback(c *fiber.Ctx) error {
	if s.cfg.AnswerLog == nil {
		return unavailable("answer log")
	}
	var body FeedbackBody
	if err := s.decode(c, &body, `{"vote": 1 or -1, "comment"?}`); err != nil {
		return err
	}
	if body.Vote != 1 && body.Vote != -1 {
		return kefu.Errorf(kefu.EINVALID, "vote must be 1 or -1")
	}
	fb := kefu.Feedback{AnswerID: c.Params("id"), Vote: body.Vote, Comment: body.Comment, At: time.Now().UTC()}
	if err := s.cfg.AnswerLog.AddFeedback(c.UserContext(), c.Params("kb"), fb); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) unanswered(c *fiber.Ctx) error {
	if s.cfg.AnswerLog == nil {
		return unavailable("answer log")
	}
	limit := c.QueryInt("limit", 50)
	if limit <= 0 || limit > 1000 {
		return kefu.Errorf(kefu.EINVALID, "limit must be in [1, 1000]")
	}
	kb := c.Params("kb")
	if _, err := s.cfg.Store.KB(c.UserContext(), kb); err != nil {
		return err
	}
	recs, err := s.cfg.AnswerLog.Unanswered(c.UserContext(), kb, limit)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []kefu.AnswerRecord{}
	}
	return c.JSON(fiber.Map{"questions": recs})
}

// evalFile reads a file of a KB's latest `kefu eval` report.
func (s *Server) evalFile(c *fiber.Ctx, name string) ([]byte, error) {
	kb := c.Params("kb")
	if !kefu.ValidKBName(kb) {
		return nil, kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q", kb)
	}
	if _, err := s.cfg.Store.KB(c.UserContext(), kb); err != nil {
		return nil, err
	}
	if s.cfg.Reports == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no evaluation report for %q", kb)
	}
	return s.cfg.Reports.ReportFile(c.UserContext(), kb, name)
}

func (s *Server) evalSummary(c *fiber.Ctx) error {
	b, err := s.evalFile(c, kefu.ReportSummary)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

func (s *Server) evalReport(c *fiber.Ctx) error {
	b, err := s.evalFile(c, kefu.ReportHTML)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b)
}
