package desk

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
)

// Bounds of what a customer message brings.
const (
	MaxQuestionBytes = 4096 // the answerer's own bound
	MaxEndUserBytes  = 256
	MaxExternalBytes = 256
	MaxMetadataKeys  = 32
	MaxMetadataBytes = 4096 // keys and values together
	MaxAgentText     = 16 << 10
	MaxAgentName     = 200
)

// historyMessages is how many stored messages are read to rebuild the
// history of turns an answer needs: the answerer's five turns (ten
// messages) and a few events and agent messages between them.
const historyMessages = 24

// KBs reads KBs; index.Store is one.
type KBs interface {
	kefu.KBReader
	KBs(ctx context.Context) ([]*kefu.KB, error)
}

// Options configure a Service. Store, Answerer and KBs are required.
type Options struct {
	Store kefu.ConversationStore
	// Log is the answer log, read to find an answer's conversation when
	// feedback arrives; answers are logged through Store, in their turn's
	// transaction.
	Log      kefu.AnswerLog
	Answerer kefu.Answerer // the bot; it must have no answer log of its own
	KBs      KBs
	// Channels says which channels have an outbound URL, to which replies
	// are sent (channel.reply); nil sends none.
	Channels kefu.ChannelStore
	Logger   *slog.Logger
	// Notify is called after an update that enqueued webhook events, so
	// the dispatcher sends them at once; nil: they wait for its poll.
	Notify func()
	// Now is the clock of service hours and retention; nil is time.Now.
	Now func() time.Time
}

// Service runs conversations; it implements kefu.Desk and is safe for
// concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger
	hub  *hub
}

var _ kefu.Desk = (*Service)(nil)

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Answerer == nil || opts.KBs == nil {
		return nil, kefu.Errorf(kefu.EINVALID, "desk: Store, Answerer and KBs are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{opts: opts, log: opts.Logger, hub: newHub()}, nil
}

// errMoved ends an update whose conversation changed hands between the read
// that chose who answers and the write: the message is taken again.
var errMoved = errors.New("desk: the conversation changed hands")

// Ask handles a customer message (see the package documentation) and
// returns the reply: the bot's answer, or a route "agent" answer when a
// person has the conversation. Answer.ConversationID and Answer.State are
// always set.
func (d *Service) Ask(ctx context.Context, req kefu.AskRequest, onDelta func(string)) (*kefu.Answer, error) {
	if err := validRequest(&req); err != nil {
		return nil, err
	}
	kb, err := d.opts.KBs.KB(ctx, req.KB)
	if err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		conv, err := d.find(ctx, &req)
		if err != nil {
			return nil, err
		}
		if req.ExternalID != "" {
			if a, err := d.replayed(ctx, kb.Name, &req); err == nil {
				if onDelta != nil && a.Text != "" {
					onDelta(a.Text)
				}
				return a, nil
			} else if kefu.ErrorCode(err) != kefu.ENOTFOUND {
				return nil, err
			}
		}
		var a *kefu.Answer
		if conv != nil && conv.State.WithAgents() {
			a, err = d.passOn(ctx, kb, &req, onDelta)
		} else {
			a, err = d.answer(ctx, kb, conv, &req, onDelta)
		}
		if errors.Is(err, errMoved) && try == 0 {
			continue
		}
		if kefu.ErrorCode(err) == kefu.ECONFLICT && req.ExternalID != "" {
			// The same channel message raced itself: the first one won.
			if a, rerr := d.replayed(ctx, kb.Name, &req); rerr == nil {
				if onDelta != nil && a.Text != "" {
					onDelta(a.Text)
				}
				return a, nil
			}
		}
		return a, err
	}
}

func validRequest(req *kefu.AskRequest) error {
	req.Question = strings.TrimSpace(req.Question)
	size := 0
	for k, v := range req.Metadata {
		size += len(k) + len(v)
	}
	switch {
	case !kefu.ValidKBName(req.KB):
		return kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q", req.KB)
	case req.Question == "":
		return kefu.Errorf(kefu.EINVALID, "empty question")
	case len(req.Question) > MaxQuestionBytes:
		return kefu.Errorf(kefu.ETOOLARGE, "question longer than %d bytes", MaxQuestionBytes)
	case !utf8.ValidString(req.Question):
		return kefu.Errorf(kefu.EINVALID, "question is not UTF-8")
	case req.ConversationID != "" && !kefu.ValidConversationID(req.ConversationID):
		return kefu.Errorf(kefu.EINVALID, "invalid conversation id %q: 1 to %d letters, digits and - _ . : @ + =", req.ConversationID, kefu.MaxConversationID)
	case len(req.EndUser) > MaxEndUserBytes || len(req.ExternalID) > MaxExternalBytes:
		return kefu.Errorf(kefu.ETOOLARGE, "end user or message id over %d bytes", MaxEndUserBytes)
	case len(req.Metadata) > MaxMetadataKeys || size > MaxMetadataBytes:
		return kefu.Errorf(kefu.ETOOLARGE, "metadata over %d keys or %d bytes", MaxMetadataKeys, MaxMetadataBytes)
	}
	if req.Channel == "" {
		req.Channel = kefu.ChannelAPI
	}
	return nil
}

// find returns the request's conversation, nil when it is new, and names
// the request's conversation id: the one asked for, the end user's open
// conversation on the channel, or a new one.
func (d *Service) find(ctx context.Context, req *kefu.AskRequest) (*kefu.Conversation, error) {
	st := d.opts.Store
	if req.ConversationID == "" && req.EndUser != "" {
		c, err := st.OpenConversation(ctx, req.KB, req.Channel, req.EndUser)
		switch {
		case err == nil:
			req.ConversationID = c.ID
			return c, nil
		case kefu.ErrorCode(err) != kefu.ENOTFOUND:
			return nil, err
		}
	}
	if req.ConversationID == "" {
		req.ConversationID = kefu.NewConversationID()
		return nil, nil
	}
	c, err := st.Conversation(ctx, req.KB, req.ConversationID)
	switch {
	case kefu.ErrorCode(err) == kefu.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, err
	case c.State == kefu.StateClosed:
		return nil, kefu.Errorf(kefu.ECONFLICT, "conversation %s is closed: start a new one (send no conversation_id)", c.ID)
	}
	return c, nil
}

// replayed answers a channel message the desk has seen with the reply it
// got then; ENOTFOUND when it is new.
func (d *Service) replayed(ctx context.Context, kb string, req *kefu.AskRequest) (*kefu.Answer, error) {
	m, err := d.opts.Store.MessageByExternalID(ctx, kb, req.Channel, req.ExternalID)
	if err != nil {
		return nil, err
	}
	if m.Text != req.Question {
		return nil, kefu.Errorf(kefu.ECONFLICT, "channel %s already sent message %q with other text: a message id names one message", req.Channel, req.ExternalID)
	}
	conv, err := d.opts.Store.Conversation(ctx, kb, m.ConversationID)
	if err != nil {
		return nil, err
	}
	next, err := d.opts.Store.Messages(ctx, kb, m.ConversationID, m.Seq, 8)
	if err != nil {
		return nil, err
	}
	req.ConversationID = conv.ID
	a := &kefu.Answer{ID: m.ID, Route: kefu.RouteAgent, Citations: []kefu.Citation{}}
	for _, n := range next {
		if n.Role == kefu.RoleCustomer {
			break
		}
		if n.Role == kefu.RoleBot {
			if n.Answer != nil {
				c := *n.Answer
				a = &c
			} else {
				a.ID, a.Text = n.ID, n.Text
			}
			break
		}
	}
	a.ConversationID, a.State, a.Replayed = conv.ID, conv.State, true
	return a, nil
}

// answer lets the bot answer and stores the turn.
func (d *Service) answer(ctx context.Context, kb *kefu.KB, conv *kefu.Conversation, req *kefu.AskRequest, onDelta func(string)) (*kefu.Answer, error) {
	areq := *req
	if conv != nil {
		hist, err := d.history(ctx, kb.Name, conv.ID)
		if err != nil {
			return nil, err
		}
		areq.History = hist
	}
	a, err := d.opts.Answerer.Ask(ctx, areq, onDelta)
	if err != nil {
		return nil, err
	}
	a.ConversationID = req.ConversationID
	now := d.opts.Now().UTC()
	if a.Route == kefu.RouteHandoff {
		if note := d.afterHours(kb, a.Lang, now); note != "" {
			a.Text += "\n\n" + note
			if onDelta != nil {
				onDelta("\n\n" + note)
			}
		}
	}
	reqID := kefu.RequestID(ctx)
	outbound := d.outbound(ctx, req.Channel)
	var handedOff bool
	var prev kefu.ConversationState
	c, _, err := d.update(ctx, kb.Name, req.ConversationID, func(w *writer) error {
		c := w.c
		handedOff, prev = false, c.State
		w.open(req)
		if c.State == kefu.StateResolved {
			c.State = kefu.StateBot
			w.event(kefu.EventReopened, "")
		}
		q := w.add(kefu.Message{ID: kefu.NewMessageID(), Role: kefu.RoleCustomer, Text: req.Question, ExternalID: req.ExternalID, Channel: req.Channel})
		ans := *a
		reply := w.add(kefu.Message{ID: a.ID, Role: kefu.RoleBot, Text: a.Text, Answer: &ans})
		c.Lang = a.Lang
		if !slices.Contains(c.Routes, a.Route) {
			c.Routes = append(c.Routes, a.Route)
		}
		if a.Route == kefu.RouteHandoff && !c.State.WithAgents() {
			handedOff = true
			at := c.UpdatedAt
			c.State, c.Trigger, c.Assignee, c.Notified, c.HandoffAt, c.ResolvedAt = kefu.StateWaiting, a.Handoff, "", true, &at, nil
			w.event(kefu.EventHandoff, "")
		}
		rec := a.Record(kb.Name, req.Question, reqID, now)
		w.ch.Answer = &rec
		if handedOff {
			w.emit(kefu.EventHandoffRequested, map[string]any{"conversation": c, "trigger": a.Handoff, "message": q, "answer": reply})
		}
		if a.Route == kefu.RouteUnknown {
			w.emit(kefu.EventAnswerUnknown, map[string]any{"conversation": c, "message": q, "answer": reply})
		}
		if outbound {
			w.reply(reply, req.ExternalID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.State = c.State
	if handedOff {
		d.log.Info("conversation handed off", "kb", kb.Name, "conversation_id", c.ID, "trigger", a.Handoff, "from", prev, "request_id", reqID)
	}
	return a, nil
}

// passOn stores a message for the person who has the conversation, with the
// one-time notice that a person will reply.
func (d *Service) passOn(ctx context.Context, kb *kefu.KB, req *kefu.AskRequest, onDelta func(string)) (*kefu.Answer, error) {
	now := d.opts.Now().UTC()
	outbound := d.outbound(ctx, req.Channel)
	a := &kefu.Answer{ID: kefu.NewMessageID(), Route: kefu.RouteAgent, ConversationID: req.ConversationID, Citations: []kefu.Citation{}}
	c, _, err := d.update(ctx, kb.Name, req.ConversationID, func(w *writer) error {
		c := w.c
		if !c.State.WithAgents() {
			return errMoved
		}
		c.Lang = langOf(req.Question, c.Lang)
		a.Lang, a.Text = c.Lang, ""
		w.add(kefu.Message{ID: kefu.NewMessageID(), Role: kefu.RoleCustomer, Text: req.Question, ExternalID: req.ExternalID, Channel: req.Channel})
		if !c.Notified {
			c.Notified = true
			if a.Text = d.afterHours(kb, c.Lang, now); a.Text == "" {
				a.Text = d.notice(kb, c.Lang).Queued
			}
			notice := w.add(kefu.Message{ID: a.ID, Role: kefu.RoleBot, Text: a.Text})
			if outbound {
				w.reply(notice, req.ExternalID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.State = c.State
	if a.Text != "" && onDelta != nil {
		onDelta(a.Text)
	}
	return a, nil
}

// outbound reports whether replies on channel go to an outbound URL.
func (d *Service) outbound(ctx context.Context, channel string) bool {
	if d.opts.Channels == nil || !kefu.ValidChannelName(channel) {
		return false
	}
	ch, err := d.opts.Channels.Channel(ctx, channel)
	return err == nil && ch.OutboundURL != ""
}

// history rebuilds a conversation's last turns from its stored messages: a
// customer message and the bot's answer or the agent's reply that followed.
func (d *Service) history(ctx context.Context, kb, id string) ([]kefu.Turn, error) {
	msgs, err := d.opts.Store.RecentMessages(ctx, kb, id, historyMessages)
	if err != nil {
		return nil, err
	}
	return turns(msgs), nil
}

// turns pairs customer messages with their replies, oldest first.
func turns(msgs []kefu.Message) []kefu.Turn {
	var out []kefu.Turn
	var cur *kefu.Turn
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, m := range msgs {
		switch {
		case m.Role == kefu.RoleCustomer:
			flush()
			cur = &kefu.Turn{Question: m.Text, Query: m.Text}
		case cur == nil:
		case m.Role == kefu.RoleBot && m.Answer != nil:
			cur.Answer, cur.Route, cur.Lang, cur.Vote = m.Text, m.Answer.Route, m.Answer.Lang, m.Vote
			if m.Answer.Query != "" {
				cur.Query = m.Answer.Query
			}
			flush()
		case m.Role == kefu.RoleAgent:
			cur.Answer = m.Text
			flush()
		}
	}
	flush()
	return out
}

// Conversation returns a conversation of a KB.
func (d *Service) Conversation(ctx context.Context, kb, id string) (*kefu.Conversation, error) {
	return d.opts.Store.Conversation(ctx, kb, id)
}

// Conversations lists a KB's conversations, most recently updated first.
func (d *Service) Conversations(ctx context.Context, kb string, f kefu.ConversationFilter) ([]*kefu.Conversation, error) {
	if _, err := d.opts.KBs.KB(ctx, kb); err != nil {
		return nil, err
	}
	return d.opts.Store.Conversations(ctx, kb, f)
}

// Messages returns a conversation's messages after seq after, oldest first.
func (d *Service) Messages(ctx context.Context, kb, id string, after uint64, limit int) ([]kefu.Message, error) {
	return d.opts.Store.Messages(ctx, kb, id, after, limit)
}

// Watch calls fn with the live events of a conversation, of a KB's
// conversations (id ""), or of every KB's (kb and id ""), until stop.
func (d *Service) Watch(kb, id string, fn func(kefu.LiveEvent)) (stop func()) {
	return d.hub.watch(kb, id, fn)
}
