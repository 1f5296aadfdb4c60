package desk

import (
	"context"

	"github.com/kefu-dev/kefu"
)

// writer builds one conversation update: the messages it appends, the
// webhook events it enqueues, inside the store's transaction.
type writer struct {
	ctx    context.Context
	c      *kefu.Conversation
	ch     *kefu.ConversationChange
	before kefu.Conversation
	err    error
}

func newWriter(ctx context.Context, c *kefu.Conversation) *writer {
	return &writer{ctx: ctx, c: c, ch: &kefu.ConversationChange{}, before: *c}
}

// open fills in a new conversation from the request that starts it.
func (w *writer) open(req *kefu.AskRequest) {
	c := w.c
	if !c.CreatedAt.IsZero() {
		return
	}
	c.CreatedAt = c.UpdatedAt
	c.Channel, c.EndUser, c.KeyID, c.Metadata = req.Channel, req.EndUser, req.KeyID, req.Metadata
}

// add appends a message and returns it as stored.
func (w *writer) add(m kefu.Message) kefu.Message {
	w.c.Messages++
	m.Seq, m.ConversationID, m.KB, m.At = w.c.Messages, w.c.ID, w.c.KB, w.c.UpdatedAt
	m.RequestID = kefu.RequestID(w.ctx)
	if m.Channel == "" {
		m.Channel = w.c.Channel
	}
	w.ch.Messages = append(w.ch.Messages, m)
	return m
}

// event appends a state change to the transcript, once c.State is the
// state after it.
func (w *writer) event(name, author string) {
	w.add(kefu.Message{ID: kefu.NewMessageID(), Role: kefu.RoleEvent, Event: name, State: w.c.State, Author: author})
}

// emit enqueues a webhook event.
func (w *writer) emit(t kefu.EventType, data any) {
	w.target(t, "", data)
}

func (w *writer) target(t kefu.EventType, target string, data any) {
	if w.err != nil {
		return
	}
	ev, err := kefu.NewEvent(w.ctx, t, w.c.KB, data)
	if err != nil {
		w.err = err
		return
	}
	ev.Target = target
	w.ch.Events = append(w.ch.Events, ev)
}

// ChannelReply is the data of a channel.reply event: a reply for the
// customer, posted to the channel's outbound URL.
type ChannelReply struct {
	Channel        string       `json:"channel"`
	EndUser        string       `json:"end_user_id"`
	ConversationID string       `json:"conversation_id"`
	InReplyTo      string       `json:"in_reply_to,omitempty"` // the channel's id of the customer message answered
	Text           string       `json:"text"`
	Message        kefu.Message `json:"message"`
}

// reply sends m to the conversation's channel.
func (w *writer) reply(m kefu.Message, inReplyTo string) {
	w.target(kefu.EventChannelReply, kefu.TargetChannel+":"+w.c.Channel, ChannelReply{
		Channel: w.c.Channel, EndUser: w.c.EndUser, ConversationID: w.c.ID, InReplyTo: inReplyTo, Text: m.Text, Message: m})
}

// finish adds a conversation.message event for every message, with the
// conversation as it ends.
func (w *writer) finish() {
	for _, m := range w.ch.Messages {
		w.emit(kefu.EventConversationMessage, map[string]any{"conversation": w.c, "message": m})
	}
}

// stateChanged reports whether the update changed who has the conversation.
func (w *writer) stateChanged() bool {
	b, c := &w.before, w.c
	return b.State != c.State || b.Assignee != c.Assignee || b.Trigger != c.Trigger || b.CreatedAt.IsZero()
}

// update runs fn in a conversation update and, once it is committed, tells
// the watchers.
func (d *Service) update(ctx context.Context, kb, id string, fn func(w *writer) error) (*kefu.Conversation, *writer, error) {
	var w *writer
	c, err := d.opts.Store.UpdateConversation(ctx, kb, id, func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		w = newWriter(ctx, c)
		if err := fn(w); err != nil {
			return nil, err
		}
		w.finish()
		return w.ch, w.err
	})
	if err != nil {
		return nil, nil, err
	}
	d.hub.publish(c, w.ch.Messages, w.stateChanged())
	if len(w.ch.Events) > 0 && d.opts.Notify != nil {
		d.opts.Notify()
	}
	return c, w, nil
}
