package desk

import (
	"context"
	"time"

	"github.com/kefu-dev/kefu"
)

// Feedback records a customer's vote on an answer: in the answer log, on
// the answer's message (so a request for a person right after a thumbs-down
// can hand off) and as a feedback.created event, in one transaction. An
// answer outside any conversation (or whose conversation was purged) goes
// to the log, and its event is enqueued after.
func (d *Service) Feedback(ctx context.Context, kb string, fb kefu.Feedback) error {
	if fb.Vote != 1 && fb.Vote != -1 {
		return kefu.Errorf(kefu.EINVALID, "vote must be 1 or -1")
	}
	if len(fb.Comment) > 4000 {
		return kefu.Errorf(kefu.ETOOLARGE, "feedback comment over 4000 bytes")
	}
	if d.opts.Log == nil {
		return kefu.Errorf(kefu.EUNAVAILABLE, "this server keeps no answer log")
	}
	rec, err := d.opts.Log.AnswerRecord(ctx, kb, fb.AnswerID)
	if err != nil {
		return err
	}
	if fb.At.IsZero() {
		fb.At = d.opts.Now().UTC()
	}
	fb.ConversationID, fb.RequestID = rec.ConversationID, kefu.RequestID(ctx)
	data := func() map[string]any {
		return map[string]any{"feedback": kefu.FeedbackRecord{Feedback: fb, KB: kb, Question: rec.Question, Answer: rec.Answer,
			Route: rec.Route, Confidence: rec.Confidence}}
	}
	if rec.ConversationID != "" {
		// The conversation may have been purged since the answer was given.
		if _, err := d.opts.Store.Conversation(ctx, kb, rec.ConversationID); kefu.ErrorCode(err) == kefu.ENOTFOUND {
			fb.ConversationID = ""
		} else if err != nil {
			return err
		}
	}
	if fb.ConversationID == "" {
		ev, err := kefu.NewEvent(ctx, kefu.EventFeedbackCreated, kb, data())
		if err != nil {
			return err
		}
		if err := d.opts.Log.AddFeedback(ctx, kb, fb); err != nil {
			return err
		}
		if ws, ok := d.opts.Store.(kefu.WebhookStore); ok {
			return ws.Enqueue(ctx, ev)
		}
		return nil
	}
	seq, err := d.messageOf(ctx, kb, rec.ConversationID, fb.AnswerID, rec.At)
	if err != nil {
		return err
	}
	_, _, err = d.update(ctx, kb, rec.ConversationID, func(w *writer) error {
		if w.c.CreatedAt.IsZero() {
			return kefu.Errorf(kefu.ENOTFOUND, "the conversation of answer %q is gone", fb.AnswerID)
		}
		w.ch.Feedback = &fb
		if seq > 0 {
			w.ch.Votes = map[uint64]int{seq: fb.Vote}
		}
		w.emit(kefu.EventFeedbackCreated, data())
		return nil
	})
	return err
}

// messageOf finds the Seq of an answer's message, 0 when it is gone.
func (d *Service) messageOf(ctx context.Context, kb, conv, answerID string, at time.Time) (uint64, error) {
	var after uint64
	for {
		msgs, err := d.opts.Store.Messages(ctx, kb, conv, after, 500)
		if err != nil || len(msgs) == 0 {
			if kefu.ErrorCode(err) == kefu.ENOTFOUND {
				err = nil
			}
			return 0, err
		}
		for _, m := range msgs {
			if m.Role == kefu.RoleBot && m.ID == answerID {
				return m.Seq, nil
			}
		}
		after = msgs[len(msgs)-1].Seq
	}
}
