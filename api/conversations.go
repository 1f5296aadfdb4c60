package api

import (
	"bufio"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// Conversations (kefu.Desk): agents list, export, watch and act on them;
// a customer (any key, a public one included) reads and watches the
// conversations its own key started. A conversation another key started is
// "not found" to it, so that ids leak nothing.

// Bounds of the conversation routes.
const (
	maxExport        = 100_000 // conversations one export writes
	liveBuffer       = 256     // live events waiting for a slow stream before it is closed
	maxWatchedPerWS  = 8       // conversations one chat socket watches
	maxMessagesShown = 1000
)

func (s *Server) desk() (kefu.Desk, error) {
	if s.cfg.Desk == nil {
		return nil, unavailable("conversation store")
	}
	return s.cfg.Desk, nil
}

// readable returns the route's conversation (:kb, :id) when the caller may
// read it; one it may not read is not found, as if it did not exist.
func (s *Server) readable(c fiber.Ctx) (kefu.Desk, *kefu.Conversation, error) {
	d, err := s.desk()
	if err != nil {
		return nil, nil, err
	}
	kb, id := c.Params("kb"), c.Params("id")
	conv, err := d.Conversation(c.Context(), kb, id)
	if err != nil {
		return nil, nil, err
	}
	if !canRead(principalOf(c), conv) {
		return nil, nil, kefu.Errorf(kefu.ENOTFOUND, "conversation %q not found in knowledge base %q", id, kb)
	}
	return d, conv, nil
}

// canRead reports whether p may read conv: agents (and admins) any of
// their KBs', others those their own key started.
func canRead(p *principal, conv *kefu.Conversation) bool {
	return p.allows(conv.KB) && (p.scope.Includes(kefu.ScopeAgent) || conv.KeyID == p.keyID)
}

// customerView is a transcript as a customer sees it: without notes.
func customerView(p *principal, msgs []kefu.Message) []kefu.Message {
	if p.scope.Includes(kefu.ScopeAgent) {
		return msgs
	}
	return slices.DeleteFunc(msgs, func(m kefu.Message) bool { return m.Role == kefu.RoleNote })
}

// checkConversation lets p continue conversation id of kb: a new id is
// fine (but not for a public key, whose conversations the server names);
// an existing one must be p's to read.
func (s *Server) checkConversation(ctx context.Context, p *principal, kb, id string) error {
	if id == "" || s.cfg.Desk == nil {
		return nil
	}
	conv, err := s.cfg.Desk.Conversation(ctx, kb, id)
	switch {
	case kefu.ErrorCode(err) == kefu.ENOTFOUND && !p.public():
		return nil
	case kefu.ErrorCode(err) == kefu.ENOTFOUND, err == nil && !canRead(p, conv):
		return kefu.Errorf(kefu.ENOTFOUND, "conversation %q not found: send no conversation_id to start one", id)
	}
	return err
}

// conversationFilter reads a listing's query parameters.
func conversationFilter(c fiber.Ctx) (kefu.ConversationFilter, error) {
	limit, err := queryInt(c, "limit", 50, 1, kefu.MaxConversationsListed)
	if err != nil {
		return kefu.ConversationFilter{}, err
	}
	f := kefu.ConversationFilter{
		State: kefu.ConversationState(c.Query("state")), Route: kefu.Route(c.Query("route")), Channel: c.Query("channel"),
		EndUser: c.Query("end_user"), Assignee: c.Query("assignee"), After: c.Query("after"), Limit: limit,
	}
	if f.State != "" && !kefu.ValidState(f.State) {
		return f, kefu.Errorf(kefu.EINVALID, "state %q: use bot, waiting, agent, resolved or closed", f.State)
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.Query(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, kefu.Errorf(kefu.EINVALID, "%s %q: use RFC 3339 (2026-01-02T15:04:05Z)", t.name, v)
			}
			*t.dst = at
		}
	}
	if f.Limit <= 0 || f.Limit > kefu.MaxConversationsListed {
		return f, kefu.Errorf(kefu.EINVALID, "limit must be in [1, %d]", kefu.MaxConversationsListed)
	}
	return f, nil
}

// kbsOf returns the KBs a listing covers: ?kb=, else every KB p may see.
func (s *Server) kbsOf(c fiber.Ctx, p *principal) ([]string, error) {
	if kb := c.Query("kb"); kb != "" {
		if !p.allows(kb) {
			return nil, kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q", p.kb)
		}
		if _, err := s.cfg.Store.KB(c.Context(), kb); err != nil {
			return nil, err
		}
		return []string{kb}, nil
	}
	if p.kb != "" {
		return []string{p.kb}, nil
	}
	kbs, err := s.cfg.Store.KBs(c.Context())
	if err != nil {
		return nil, err
	}
	out := make([]string, len(kbs))
	for i, kb := range kbs {
		out[i] = kb.Name
	}
	return out, nil
}

// ConversationList is the body of GET /v1/conversations. Next, when set,
// continues the listing: pass its until and after as query parameters.
type ConversationList struct {
	Conversations []*kefu.Conversation `json:"conversations"`
	Next          *ListCursor          `json:"next,omitempty"`
}

// ListCursor continues a listing of conversations.
type ListCursor struct {
	Until time.Time `json:"until"`
	After string    `json:"after"`
}

// listConversations lists conversations of every KB the key may see (or
// ?kb=), most recently updated first.
func (s *Server) listConversations(c fiber.Ctx) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	f, err := conversationFilter(c)
	if err != nil {
		return err
	}
	kbs, err := s.kbsOf(c, principalOf(c))
	if err != nil {
		return err
	}
	var all []*kefu.Conversation
	for _, kb := range kbs {
		convs, err := d.Conversations(c.Context(), kb, f)
		if err != nil {
			return err
		}
		all = append(all, convs...)
	}
	slices.SortFunc(all, func(a, b *kefu.Conversation) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	out := ConversationList{Conversations: all}
	if len(all) > f.Limit {
		out.Conversations = all[:f.Limit]
	}
	if n := len(out.Conversations); n == f.Limit {
		last := out.Conversations[n-1]
		out.Next = &ListCursor{Until: last.UpdatedAt, After: last.ID}
	}
	if out.Conversations == nil {
		out.Conversations = []*kefu.Conversation{}
	}
	return c.JSON(out)
}

// ConversationExport is one line of GET /v1/conversations/export: a
// conversation with its messages, as GET of one conversation shows it.
type ConversationExport = ConversationView

// exportConversations writes JSONL: one conversation with its messages a
// line, KB by KB, each most recently updated first; ?limit= (default and
// most maxExport) bounds the conversations.
func (s *Server) exportConversations(c fiber.Ctx) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", maxExport, 1, maxExport)
	if err != nil {
		return err
	}
	c.Request().URI().QueryArgs().Set("limit", "1000")
	f, err := conversationFilter(c)
	if err != nil {
		return err
	}
	kbs, err := s.kbsOf(c, principalOf(c))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(s.base)
	reqID := requestID(c)
	c.Set(fiber.HeaderContentType, "application/x-ndjson; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="conversations.jsonl"`)
	c.RequestCtx().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		n, err := ExportConversations(ctx, d, kbs, f, limit, func(line ConversationExport) error {
			b, err := json.Marshal(line)
			if err != nil {
				return err
			}
			w.Write(b)
			w.WriteByte('\n')
			return w.Flush()
		})
		s.log.Info("conversations exported", "conversations", n, "request_id", reqID, "err", err)
	})
	return nil
}

// ConversationReader reads conversations; a kefu.Desk and a
// kefu.ConversationStore are both one.
type ConversationReader interface {
	Conversations(ctx context.Context, kb string, f kefu.ConversationFilter) ([]*kefu.Conversation, error)
	Messages(ctx context.Context, kb, id string, after uint64, limit int) ([]kefu.Message, error)
}

// ExportConversations calls write with each conversation of kbs that f
// selects, with its messages, KB by KB, most recently updated first, at
// most limit in all; f.Limit is the page size. It returns how many it
// wrote. `kefu conversations export` and the export route share it.
func ExportConversations(ctx context.Context, d ConversationReader, kbs []string, f kefu.ConversationFilter, limit int, write func(ConversationExport) error) (int, error) {
	n := 0
	for _, kb := range kbs {
		page := f
		for n < limit {
			convs, err := d.Conversations(ctx, kb, page)
			if err != nil {
				return n, err
			}
			for _, conv := range convs {
				if n >= limit {
					break
				}
				msgs, err := d.Messages(ctx, kb, conv.ID, 0, 0)
				if err != nil && kefu.ErrorCode(err) != kefu.ENOTFOUND {
					return n, err
				}
				if msgs == nil {
					msgs = []kefu.Message{}
				}
				if err := write(ConversationExport{Conversation: conv, Messages: msgs}); err != nil {
					return n, err
				}
				n++
			}
			if len(convs) < page.Limit || len(convs) == 0 {
				break
			}
			last := convs[len(convs)-1]
			page.Until, page.After = last.UpdatedAt, last.ID
		}
	}
	return n, nil
}

// ConversationView is the body of GET /v1/kbs/{kb}/conversations/{id}.
type ConversationView struct {
	Conversation *kefu.Conversation `json:"conversation"`
	Messages     []kefu.Message     `json:"messages"`
}

// getConversation returns a conversation and its messages after ?after=
// (up to ?limit=, default and most 1000).
func (s *Server) getConversation(c fiber.Ctx) error {
	d, conv, err := s.readable(c)
	if err != nil {
		return err
	}
	p, kb, id := principalOf(c), conv.KB, conv.ID
	after, err := strconv.ParseUint(c.Query("after", "0"), 10, 64)
	if err != nil {
		return kefu.Errorf(kefu.EINVALID, "after must be a message seq")
	}
	limit, err := queryInt(c, "limit", maxMessagesShown, 1, maxMessagesShown)
	if err != nil {
		return err
	}
	msgs, err := d.Messages(c.Context(), kb, id, after, limit)
	if err != nil {
		return err
	}
	msgs = customerView(p, msgs)
	if msgs == nil {
		msgs = []kefu.Message{}
	}
	return c.JSON(ConversationView{Conversation: conv, Messages: msgs})
}

// ActionBody is the body of POST /v1/kbs/{kb}/conversations/{id}/{action}
// (claim, reply, note, release, resolve, close); it may be empty but for
// reply and note, which need text.
type ActionBody struct {
	Agent string `json:"agent,omitempty"` // who acts; default the key's name, else its id
	Text  string `json:"text,omitempty"`
	Force bool   `json:"force,omitempty"` // claim a conversation another agent holds
}

// ActionResult is the answer to an agent action.
type ActionResult struct {
	Conversation *kefu.Conversation `json:"conversation"`
}

func (s *Server) act(c fiber.Ctx) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	var body ActionBody
	if err := s.decodeOptional(c, &body, `{"agent"?, "text"?, "force"?}`); err != nil {
		return err
	}
	a := kefu.AgentAction{Kind: c.Params("action"), Agent: body.Agent, Text: body.Text, Force: body.Force}
	if a.Agent == "" {
		a.Agent = principalOf(c).agentName()
	}
	conv, err := d.Act(c.Context(), c.Params("kb"), c.Params("id"), a)
	if err != nil {
		return err
	}
	return c.JSON(ActionResult{Conversation: conv})
}

// StateEvent is a live "state" event on a customer's stream: who has the
// conversation now.
type StateEvent struct {
	ConversationID string                 `json:"conversation_id"`
	State          kefu.ConversationState `json:"state"`
	Assignee       string                 `json:"assignee,omitempty"`
}

func stateOf(conv *kefu.Conversation) StateEvent {
	return StateEvent{ConversationID: conv.ID, State: conv.State, Assignee: conv.Assignee}
}

// forCustomer reports whether a live message goes to the customer's live
// streams: an agent's reply. The customer's own messages and the bot's
// answers come back on the ask that sent them.
func forCustomer(m *kefu.Message) bool { return m.Role == kefu.RoleAgent }

// conversationEvents streams a conversation's live events to its customer
// (server-sent events; EventSource may pass the key as ?access_token=):
//
//	event: message   id: <seq>   data: Message      an agent's reply
//	event: state                 data: StateEvent   who has the conversation now
//
// First come the agent messages after Last-Event-ID (or ?after=), so a
// reconnecting EventSource misses nothing, then a state event, then live
// events as they happen.
func (s *Server) conversationEvents(c fiber.Ctx) error {
	d, conv, err := s.readable(c)
	if err != nil {
		return err
	}
	kb, id := conv.KB, conv.ID
	last := c.Get("Last-Event-ID", c.Query("after", "0"))
	after, err := strconv.ParseUint(last, 10, 64)
	if err != nil {
		return kefu.Errorf(kefu.EINVALID, "Last-Event-ID or after must be a message seq")
	}
	live := make(chan kefu.LiveEvent, liveBuffer)
	overflow := make(chan struct{})
	stop := d.Watch(kb, id, liveSink(live, overflow))
	return s.streamIDs(c, func(ctx context.Context, emit func(event, id string, data any) bool) {
		defer stop()
		msgs, err := d.Messages(ctx, kb, id, after, maxMessagesShown)
		if err != nil {
			emit("error", "", ErrorDetail{Code: kefu.ErrorCode(err), Message: kefu.ErrorMessage(err)})
			return
		}
		for i := range msgs {
			if forCustomer(&msgs[i]) && !emit("message", strconv.FormatUint(msgs[i].Seq, 10), msgs[i]) {
				return
			}
			after = max(after, msgs[i].Seq)
		}
		if !emit("state", "", stateOf(conv)) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stopping:
				return
			case <-overflow:
				s.log.Warn("live stream does not read: closing it", "conversation_id", id, "request_id", kefu.RequestID(ctx))
				return
			case ev := <-live:
				switch {
				case ev.Kind == "state":
					emit("state", "", stateOf(ev.Conversation))
				case ev.Message.Seq > after && forCustomer(ev.Message):
					after = ev.Message.Seq
					emit("message", strconv.FormatUint(ev.Message.Seq, 10), ev.Message)
				}
			}
		}
	})
}

// liveSink is a Watch callback that never blocks the writer: it queues the
// event, or closes overflow once when the queue is full.
func liveSink(live chan kefu.LiveEvent, overflow chan struct{}) func(kefu.LiveEvent) {
	closed := false
	return func(ev kefu.LiveEvent) {
		select {
		case live <- ev:
		default:
			if !closed {
				closed = true
				close(overflow)
			}
		}
	}
}

// InboxMessage is the data of a "message" event on the agents' stream.
type InboxMessage struct {
	Conversation *kefu.Conversation `json:"conversation"`
	Message      *kefu.Message      `json:"message"`
}

// inboxEvents streams the live events of every conversation of the KBs
// the key may see (or ?kb=) to agents (server-sent events):
//
//	event: message        data: InboxMessage         a message of any role, notes included
//	event: conversation   data: Conversation         its state, assignee or trigger changed, or it is new
func (s *Server) inboxEvents(c fiber.Ctx) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	p := principalOf(c)
	kb := c.Query("kb", p.kb)
	if !p.allows(kb) || (p.kb != "" && kb == "") {
		return kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q", p.kb)
	}
	live := make(chan kefu.LiveEvent, liveBuffer)
	overflow := make(chan struct{})
	stop := d.Watch(kb, "", liveSink(live, overflow))
	return s.stream(c, func(ctx context.Context, emit func(string, any) bool) {
		defer stop()
		emit("ready", fiber.Map{"kb": kb})
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stopping:
				return
			case <-overflow:
				s.log.Warn("inbox stream does not read: closing it", "request_id", kefu.RequestID(ctx))
				return
			case ev := <-live:
				if ev.Kind == "state" {
					emit("conversation", ev.Conversation)
				} else {
					emit("message", InboxMessage{Conversation: ev.Conversation, Message: ev.Message})
				}
			}
		}
	})
}
