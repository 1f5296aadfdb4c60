package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
)

// LogAnswer appends an answered question to the KB's answer log, dropping
// the oldest entries beyond Options.AnswerLogLimit.
func (s *Store) LogAnswer(ctx context.Context, rec kefu.AnswerRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error { return s.logAnswerTx(tx, rec) })
}

// logAnswerTx is LogAnswer inside a transaction (a conversation's turn
// logs its answer in the turn's own).
func (s *Store) logAnswerTx(tx *bolt.Tx, rec kefu.AnswerRecord) error {
	if rec.At.IsZero() {
		rec.At = time.Now().UTC()
	}
	b, err := s.nodeBucket(tx, rec.KB, true)
	if err != nil {
		return err
	}
	ab := b.Bucket(bucketAnswers)
	seq, err := ab.NextSequence()
	if err != nil {
		return err
	}
	if err := putJSON(ab, u64key(seq), rec); err != nil {
		return err
	}
	if rec.ID != "" {
		if err := b.Bucket(bucketAnswerIDs).Put([]byte(rec.ID), u64key(seq)); err != nil {
			return err
		}
	}
	if seq%1000 == 0 {
		return s.pruneAnswers(b, seq)
	}
	return nil
}

// pruneAnswers deletes log entries older than the newest AnswerLogLimit.
func (s *Store) pruneAnswers(b *bolt.Bucket, last uint64) error {
	if last <= uint64(s.opts.AnswerLogLimit) {
		return nil
	}
	cutoff := last - uint64(s.opts.AnswerLogLimit)
	ab, ids := b.Bucket(bucketAnswers), b.Bucket(bucketAnswerIDs)
	c := ab.Cursor()
	for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, v = c.Next() {
		var rec kefu.AnswerRecord
		if json.Unmarshal(v, &rec) == nil && rec.ID != "" {
			if err := ids.Delete([]byte(rec.ID)); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Unanswered lists the newest questions answered below the threshold.
func (s *Store) Unanswered(ctx context.Context, kb string, limit int) ([]kefu.AnswerRecord, error) {
	return newest(s, kb, bucketAnswers, limit, func(_ *bolt.Bucket, rec kefu.AnswerRecord) (kefu.AnswerRecord, bool) {
		return rec, (rec.Route == kefu.RouteDisclaimer || rec.Route == kefu.RouteUnknown) && rec.Fallback == ""
	})
}

// newest lists up to limit (default 100, at most 10,000) records of one of
// a KB's node buckets, newest first, as keep maps and filters them; b is
// the KB's node bucket, for lookups beside the record.
func newest[T, R any](s *Store, kb string, bucket []byte, limit int, keep func(b *bolt.Bucket, v T) (R, bool)) ([]R, error) {
	if limit <= 0 || limit > 10_000 {
		limit = 100
	}
	var out []R
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := s.nodeBucket(tx, kb, false)
		if err != nil || b == nil {
			return err
		}
		c := b.Bucket(bucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var rec T
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if r, ok := keep(b, rec); ok {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// AddFeedback records a vote on a logged answer.
func (s *Store) AddFeedback(ctx context.Context, kb string, fb kefu.Feedback) error {
	return s.db.Update(func(tx *bolt.Tx) error { return s.addFeedbackTx(tx, kb, fb) })
}

func (s *Store) addFeedbackTx(tx *bolt.Tx, kb string, fb kefu.Feedback) error {
	if fb.Vote != 1 && fb.Vote != -1 {
		return kefu.Errorf(kefu.EINVALID, "vote must be 1 or -1")
	}
	if len(fb.Comment) > 4000 {
		return kefu.Errorf(kefu.ETOOLARGE, "feedback comment over 4000 bytes")
	}
	if fb.At.IsZero() {
		fb.At = time.Now().UTC()
	}
	b, err := s.nodeBucket(tx, kb, false)
	if err != nil {
		return err
	}
	if b == nil || b.Bucket(bucketAnswerIDs).Get([]byte(fb.AnswerID)) == nil {
		return kefu.Errorf(kefu.ENOTFOUND, "answer %q not found in %q", fb.AnswerID, kb)
	}
	fbb := b.Bucket(bucketFeedback)
	seq, err := fbb.NextSequence()
	if err != nil {
		return err
	}
	return putJSON(fbb, u64key(seq), fb)
}

// AnswerRecord returns a logged answer by id, ENOTFOUND once it is pruned.
func (s *Store) AnswerRecord(ctx context.Context, kb, id string) (*kefu.AnswerRecord, error) {
	var rec *kefu.AnswerRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := s.nodeBucket(tx, kb, false)
		if err != nil {
			return err
		}
		if b != nil {
			rec = answerByID(b, id)
		}
		if rec == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "answer %q not found in %q", id, kb)
		}
		return nil
	})
	return rec, err
}

func answerByID(b *bolt.Bucket, id string) *kefu.AnswerRecord {
	seq := b.Bucket(bucketAnswerIDs).Get([]byte(id))
	if seq == nil {
		return nil
	}
	v := b.Bucket(bucketAnswers).Get(seq)
	var rec kefu.AnswerRecord
	if v == nil || json.Unmarshal(v, &rec) != nil {
		return nil
	}
	return &rec
}

// FeedbackList lists a KB's newest feedback with the answers it judges;
// vote 1 or -1 keeps those votes only.
func (s *Store) FeedbackList(ctx context.Context, kb string, vote, limit int) ([]kefu.FeedbackRecord, error) {
	return newest(s, kb, bucketFeedback, limit, func(b *bolt.Bucket, fb kefu.Feedback) (kefu.FeedbackRecord, bool) {
		if vote != 0 && fb.Vote != vote {
			return kefu.FeedbackRecord{}, false
		}
		r := kefu.FeedbackRecord{Feedback: fb, KB: kb}
		if rec := answerByID(b, fb.AnswerID); rec != nil {
			r.Question, r.Answer, r.Route, r.Confidence = rec.Question, rec.Answer, rec.Route, rec.Confidence
			if r.ConversationID == "" {
				r.ConversationID = rec.ConversationID
			}
		}
		return r, true
	})
}

// Feedback lists the newest feedback on a KB's answers.
func (s *Store) Feedback(ctx context.Context, kb string, limit int) ([]kefu.Feedback, error) {
	return newest(s, kb, bucketFeedback, limit, func(_ *bolt.Bucket, fb kefu.Feedback) (kefu.Feedback, bool) { return fb, true })
}

// ReviewUnanswered records what the team did about logged answers, on
// their records; ENOTFOUND when one of them is not in the log.
func (s *Store) ReviewUnanswered(ctx context.Context, kb string, ids []string, r kefu.Review) error {
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := s.nodeBucket(tx, kb, false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if b == nil {
				return kefu.Errorf(kefu.ENOTFOUND, "answer %q not found in %q", id, kb)
			}
			seq := bytes.Clone(b.Bucket(bucketAnswerIDs).Get([]byte(id)))
			rec := answerByID(b, id)
			if rec == nil {
				return kefu.Errorf(kefu.ENOTFOUND, "answer %q not found in %q", id, kb)
			}
			rv := r
			rec.Review = &rv
			if err := putJSON(b.Bucket(bucketAnswers), seq, rec); err != nil {
				return err
			}
		}
		return nil
	})
}
