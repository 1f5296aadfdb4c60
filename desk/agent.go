package desk

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
)

// Act applies an agent's action to a conversation of kb and returns the
// conversation after it. A conversation of another KB is not found; an
// action that does not fit the state is a conflict; either way nothing
// changes.
func (d *Service) Act(ctx context.Context, kb, id string, a kefu.AgentAction) (*kefu.Conversation, error) {
	a.Agent, a.Text = strings.TrimSpace(a.Agent), strings.TrimSpace(a.Text)
	switch {
	case a.Agent == "" || len(a.Agent) > MaxAgentName:
		return nil, kefu.Errorf(kefu.EINVALID, "an action needs the agent's name (at most %d bytes)", MaxAgentName)
	case (a.Kind == kefu.ActionReply || a.Kind == kefu.ActionNote) && a.Text == "":
		return nil, kefu.Errorf(kefu.EINVALID, "a %s needs text", a.Kind)
	case len(a.Text) > MaxAgentText:
		return nil, kefu.Errorf(kefu.ETOOLARGE, "text over %d bytes", MaxAgentText)
	case !utf8.ValidString(a.Text):
		return nil, kefu.Errorf(kefu.EINVALID, "text is not UTF-8")
	case !kefu.ValidConversationID(id):
		return nil, kefu.Errorf(kefu.EINVALID, "invalid conversation id %q", id)
	}
	k, err := d.opts.KBs.KB(ctx, kb)
	if err != nil {
		return nil, err
	}
	var outbound bool
	if a.Kind == kefu.ActionReply {
		if cur, err := d.opts.Store.Conversation(ctx, kb, id); err == nil {
			outbound = d.outbound(ctx, cur.Channel)
		}
	}
	c, _, err := d.update(ctx, k.Name, id, func(w *writer) error {
		c := w.c
		if c.CreatedAt.IsZero() {
			return kefu.Errorf(kefu.ENOTFOUND, "conversation %q not found in knowledge base %q", id, kb)
		}
		return d.act(w, a, outbound)
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("agent action", "kb", kb, "conversation_id", id, "action", a.Kind, "agent", a.Agent, "state", c.State, "request_id", kefu.RequestID(ctx))
	return c, nil
}

func (d *Service) act(w *writer, a kefu.AgentAction, outbound bool) error {
	c := w.c
	closed := func() error {
		return kefu.Errorf(kefu.ECONFLICT, "conversation %s is closed", c.ID)
	}
	claim := func() error {
		switch {
		case c.State == kefu.StateClosed:
			return closed()
		case c.State == kefu.StateAgent && c.Assignee == a.Agent:
			return nil
		case c.State == kefu.StateAgent && c.Assignee != "" && !a.Force:
			return kefu.Errorf(kefu.ECONFLICT, "conversation %s is claimed by %s (claim with \"force\": true to take it over)", c.ID, c.Assignee)
		}
		if !c.State.WithAgents() {
			// An agent steps in without a hand-off.
			at := c.UpdatedAt
			c.Trigger, c.HandoffAt, c.Notified = kefu.TriggerAgent, &at, false
		}
		c.State, c.Assignee, c.ResolvedAt = kefu.StateAgent, a.Agent, nil
		w.event(kefu.EventClaimed, a.Agent)
		return nil
	}
	switch a.Kind {
	case kefu.ActionClaim:
		return claim()
	case kefu.ActionReply:
		// Replying claims a conversation nobody has; one another agent has
		// stays theirs.
		if c.State != kefu.StateAgent || c.Assignee == "" {
			if err := claim(); err != nil {
				return err
			}
		}
		c.Notified = true // a person wrote: no notice needed
		m := w.add(kefu.Message{ID: kefu.NewMessageID(), Role: kefu.RoleAgent, Text: a.Text, Author: a.Agent})
		if outbound {
			w.reply(m, "")
		}
	case kefu.ActionNote:
		w.add(kefu.Message{ID: kefu.NewMessageID(), Role: kefu.RoleNote, Text: a.Text, Author: a.Agent})
	case kefu.ActionRelease:
		if !c.State.WithAgents() {
			return kefu.Errorf(kefu.ECONFLICT, "conversation %s is %s: only a waiting or claimed conversation goes back to the bot", c.ID, c.State)
		}
		c.State, c.Assignee = kefu.StateBot, ""
		w.event(kefu.EventReleased, a.Agent)
	case kefu.ActionResolve, kefu.ActionClose:
		if c.State == kefu.StateClosed {
			return closed()
		}
		ev := kefu.EventResolved
		c.State = kefu.StateResolved
		if a.Kind == kefu.ActionClose {
			ev, c.State = kefu.EventClosed, kefu.StateClosed
		}
		at := c.UpdatedAt
		c.ResolvedAt = &at
		w.event(ev, a.Agent)
		w.emit(kefu.EventConversationResolved, map[string]any{"conversation": c, "agent": a.Agent})
	default:
		return kefu.Errorf(kefu.EINVALID, "action %q: use claim, reply, note, release, resolve or close", a.Kind)
	}
	return nil
}
