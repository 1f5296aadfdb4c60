package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
)

// Conversations live in their KB's bucket ("kb/<name>"), so deleting a KB
// deletes them. The buckets are created by the first write, so data
// directories from before conversations were stored need no migration.
var (
	bucketConvs     = []byte("conversations") // conversation id → Conversation JSON
	bucketConvMsgs  = []byte("conv_messages") // id 0x00 seq (u64 BE) → Message JSON
	bucketConvTime  = []byte("conv_updated")  // updated (u64 BE ns) id → nil: listing and retention
	bucketConvState = []byte("conv_state")    // state 0x00 updated (u64 BE ns) id → nil: the queue
	bucketConvExt   = []byte("conv_external") // channel 0x00 external id → id 0x00 seq: idempotent channels
	bucketConvUsers = []byte("conv_endusers") // channel 0x00 end user → id of their latest conversation
)

// Bounds of the conversation store.
const (
	maxMessageText    = 32 << 10 // bytes of one message's text
	maxListScan       = 100_000  // conversations a listing examines at most
	maxMessagesListed = 10_000
	purgeBatch        = 500 // conversations one purge transaction deletes
)

var _ kefu.ConversationStore = (*Store)(nil)

// convBuckets are a KB's conversation buckets; all nil when the KB has
// none yet (and create is false).
type convBuckets struct {
	convs, msgs, byTime, byState, ext, users *bolt.Bucket
}

func (s *Store) kbConvBuckets(tx *bolt.Tx, kb string, create bool) (*convBuckets, error) {
	b, err := s.nodeBucket(tx, kb, create)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return &convBuckets{}, nil
	}
	get := func(name []byte) (*bolt.Bucket, error) {
		if !create {
			return b.Bucket(name), nil
		}
		return b.CreateBucketIfNotExists(name)
	}
	var cb convBuckets
	for _, p := range []struct {
		dst  **bolt.Bucket
		name []byte
	}{{&cb.convs, bucketConvs}, {&cb.msgs, bucketConvMsgs}, {&cb.byTime, bucketConvTime}, {&cb.byState, bucketConvState},
		{&cb.ext, bucketConvExt}, {&cb.users, bucketConvUsers}} {
		bk, err := get(p.name)
		if err != nil {
			return nil, err
		}
		*p.dst = bk
	}
	return &cb, nil
}

func msgKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(id), 0), seq)
}

func timeKey(t time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

func stateKey(s kefu.ConversationState, t time.Time, id string) []byte {
	return append(append([]byte(s), 0), timeKey(t, id)...)
}

func pairKey(a, b string) []byte { return append(append([]byte(a), 0), b...) }

func getConv(cb *convBuckets, id string) (*kefu.Conversation, error) {
	if cb.convs == nil {
		return nil, nil
	}
	v := cb.convs.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	c := new(kefu.Conversation)
	return c, json.Unmarshal(v, c)
}

func notFoundConv(kb, id string) error {
	return kefu.Errorf(kefu.ENOTFOUND, "conversation %q not found in knowledge base %q", id, kb)
}

// Conversation returns one conversation of a KB.
func (s *Store) Conversation(ctx context.Context, kb, id string) (*kefu.Conversation, error) {
	var c *kefu.Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, false)
		if err != nil {
			return err
		}
		if c, err = getConv(cb, id); err == nil && c == nil {
			err = notFoundConv(kb, id)
		}
		return err
	})
	return c, err
}

// UpdateConversation runs fn on a conversation (a new one when none of that
// id exists) and stores the result with fn's change in one transaction,
// committed with the other writers of the moment (groupCommit).
func (s *Store) UpdateConversation(ctx context.Context, kb, id string, fn func(c *kefu.Conversation) (*kefu.ConversationChange, error)) (*kefu.Conversation, error) {
	if !kefu.ValidConversationID(id) {
		return nil, kefu.Errorf(kefu.EINVALID, "invalid conversation id %q: 1 to %d letters, digits and - _ . : @ + =", id, kefu.MaxConversationID)
	}
	var out *kefu.Conversation
	err := s.commits.do(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, true)
		if err != nil {
			return err
		}
		c, err := getConv(cb, id)
		if err != nil {
			return err
		}
		isNew := c == nil
		if isNew {
			c = &kefu.Conversation{ID: id, KB: kb, State: kefu.StateBot}
		}
		oldState, oldTime, oldSeq := c.State, c.UpdatedAt, c.Messages
		now := time.Now().UTC()
		c.UpdatedAt = now
		ch, err := fn(c)
		if err != nil {
			return err
		}
		if ch == nil {
			ch = &kefu.ConversationChange{}
		}
		if c.ID != id || c.KB != kb || !kefu.ValidState(c.State) {
			return kefu.Errorf(kefu.EINTERNAL, "conversation %q: the update changed its id or KB or set state %q", id, c.State)
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		c.UpdatedAt = now
		if err := s.putMessages(cb, c, oldSeq, ch.Messages, now); err != nil {
			return err
		}
		for seq, vote := range ch.Votes {
			if err := setVote(cb, id, seq, vote); err != nil {
				return err
			}
		}
		if ch.Answer != nil {
			if err := s.logAnswerTx(tx, *ch.Answer); err != nil {
				return err
			}
		}
		if ch.Feedback != nil {
			if err := s.addFeedbackTx(tx, kb, *ch.Feedback); err != nil {
				return err
			}
		}
		if err := s.enqueueTx(tx, ch.Events); err != nil {
			return err
		}
		if !isNew {
			if err := cb.byTime.Delete(timeKey(oldTime, id)); err != nil {
				return err
			}
			if err := cb.byState.Delete(stateKey(oldState, oldTime, id)); err != nil {
				return err
			}
		}
		if err := cb.byTime.Put(timeKey(now, id), nil); err != nil {
			return err
		}
		if err := cb.byState.Put(stateKey(c.State, now, id), nil); err != nil {
			return err
		}
		if c.EndUser != "" && c.Channel != "" {
			if err := cb.users.Put(pairKey(c.Channel, c.EndUser), []byte(id)); err != nil {
				return err
			}
		}
		if err := putJSON(cb.convs, []byte(id), c); err != nil {
			return err
		}
		cp := *c
		out = &cp
		return nil
	})
	return out, err
}

// putMessages appends a change's messages, which must continue the
// conversation's sequence from oldSeq up to c.Messages.
func (s *Store) putMessages(cb *convBuckets, c *kefu.Conversation, oldSeq uint64, msgs []kefu.Message, now time.Time) error {
	if want := oldSeq + uint64(len(msgs)); c.Messages != want {
		return kefu.Errorf(kefu.EINTERNAL, "conversation %q: %d messages after adding %d to %d", c.ID, c.Messages, len(msgs), oldSeq)
	}
	for i := range msgs {
		m := msgs[i]
		if m.Seq != oldSeq+uint64(i)+1 {
			return kefu.Errorf(kefu.EINTERNAL, "conversation %q: message seq %d, want %d", c.ID, m.Seq, oldSeq+uint64(i)+1)
		}
		if len(m.Text) > maxMessageText {
			return kefu.Errorf(kefu.ETOOLARGE, "message over %d bytes", maxMessageText)
		}
		m.ConversationID, m.KB = c.ID, c.KB
		if m.At.IsZero() {
			m.At = now
		}
		if m.ExternalID != "" && m.Role == kefu.RoleCustomer {
			k := pairKey(m.Channel, m.ExternalID)
			if cb.ext.Get(k) != nil {
				return kefu.Errorf(kefu.ECONFLICT, "channel %s already sent message %q", m.Channel, m.ExternalID)
			}
			if err := cb.ext.Put(k, msgKey(c.ID, m.Seq)); err != nil {
				return err
			}
		}
		if err := putJSON(cb.msgs, msgKey(c.ID, m.Seq), m); err != nil {
			return err
		}
	}
	return nil
}

func setVote(cb *convBuckets, id string, seq uint64, vote int) error {
	k := msgKey(id, seq)
	v := cb.msgs.Get(k)
	if v == nil {
		return kefu.Errorf(kefu.ENOTFOUND, "conversation %q has no message %d", id, seq)
	}
	var m kefu.Message
	if err := json.Unmarshal(v, &m); err != nil {
		return err
	}
	m.Vote = vote
	return putJSON(cb.msgs, k, m)
}

// Conversations lists a KB's conversations, most recently updated first.
// A listing by state reads the state index; any other reads the update
// index; either examines at most maxListScan conversations.
func (s *Store) Conversations(ctx context.Context, kb string, f kefu.ConversationFilter) ([]*kefu.Conversation, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, kefu.MaxConversationsListed)
	var out []*kefu.Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, false)
		if err != nil || cb.convs == nil {
			return err
		}
		idx, prefix := cb.byTime, []byte(nil)
		if f.State != "" {
			idx, prefix = cb.byState, append([]byte(f.State), 0)
		}
		c := idx.Cursor()
		// Start after the newest key in range: the prefix's end, or the
		// listing's position.
		var k []byte
		switch {
		case !f.Until.IsZero():
			k, _ = c.Seek(append(slices.Clone(prefix), timeKey(f.Until, f.After)...))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		case prefix != nil:
			k, _ = c.Seek(append(slices.Clone(prefix[:len(prefix)-1]), 1))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		default:
			k, _ = c.Last()
		}
		for scanned := 0; k != nil && bytes.HasPrefix(k, prefix) && len(out) < f.Limit && scanned < maxListScan; k, _ = c.Prev() {
			scanned++
			rest := k[len(prefix):]
			if len(rest) < 8 {
				continue
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(rest)))
			if !f.Since.IsZero() && at.Before(f.Since) {
				break
			}
			conv, err := getConv(cb, string(rest[8:]))
			if err != nil {
				return err
			}
			if conv != nil && matches(conv, &f) {
				out = append(out, conv)
			}
		}
		return nil
	})
	return out, err
}

func matches(c *kefu.Conversation, f *kefu.ConversationFilter) bool {
	switch {
	case f.State != "" && c.State != f.State,
		f.Channel != "" && c.Channel != f.Channel,
		f.EndUser != "" && c.EndUser != f.EndUser,
		f.Assignee != "" && c.Assignee != f.Assignee,
		f.Route != "" && !slices.Contains(c.Routes, f.Route):
		return false
	}
	return true
}

// Messages returns up to limit messages with Seq > after, oldest first.
func (s *Store) Messages(ctx context.Context, kb, id string, after uint64, limit int) ([]kefu.Message, error) {
	if limit <= 0 || limit > maxMessagesListed {
		limit = maxMessagesListed
	}
	var out []kefu.Message
	err := s.db.View(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, false)
		if err != nil {
			return err
		}
		if c, err := getConv(cb, id); err != nil || c == nil {
			if err == nil {
				err = notFoundConv(kb, id)
			}
			return err
		}
		prefix := append([]byte(id), 0)
		c := cb.msgs.Cursor()
		for k, v := c.Seek(msgKey(id, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			var m kefu.Message
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// RecentMessages returns a conversation's last n messages, oldest first; none
// when the conversation does not exist.
func (s *Store) RecentMessages(ctx context.Context, kb, id string, n int) ([]kefu.Message, error) {
	var out []kefu.Message
	err := s.db.View(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, false)
		if err != nil || cb.msgs == nil {
			return err
		}
		prefix := append([]byte(id), 0)
		c := cb.msgs.Cursor()
		k, v := c.Seek(msgKey(id, 1<<63))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < n; k, v = c.Prev() {
			var m kefu.Message
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

// MessageByExternalID finds the customer message a channel sent with this
// id.
func (s *Store) MessageByExternalID(ctx context.Context, kb, channel, externalID string) (*kefu.Message, error) {
	var m *kefu.Message
	err := s.db.View(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, false)
		if err != nil {
			return err
		}
		var ref []byte
		if cb.ext != nil {
			ref = cb.ext.Get(pairKey(channel, externalID))
		}
		if ref == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "channel %s sent no message %q", channel, externalID)
		}
		v := cb.msgs.Get(ref)
		if v == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "channel %s sent no message %q", channel, externalID)
		}
		m = new(kefu.Message)
		return json.Unmarshal(v, m)
	})
	return m, err
}

// OpenConversation returns the end user's latest conversation on a channel
// that is not closed.
func (s *Store) OpenConversation(ctx context.Context, kb, channel, endUser string) (*kefu.Conversation, error) {
	var c *kefu.Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		cb, err := s.kbConvBuckets(tx, kb, false)
		if err != nil {
			return err
		}
		if cb.users != nil {
			if id := cb.users.Get(pairKey(channel, endUser)); id != nil {
				c, err = getConv(cb, string(id))
			}
		}
		if err == nil && (c == nil || c.State == kefu.StateClosed) {
			c, err = nil, kefu.Errorf(kefu.ENOTFOUND, "no open conversation of %q on channel %s", endUser, channel)
		}
		return err
	})
	return c, err
}

// PurgeConversations deletes a KB's conversations last updated before t,
// with their messages and index entries, purgeBatch per transaction so
// that writers are not held up long.
func (s *Store) PurgeConversations(ctx context.Context, kb string, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.commits.do(func(tx *bolt.Tx) error {
			n = 0
			cb, err := s.kbConvBuckets(tx, kb, false)
			if err != nil || cb.convs == nil {
				return err
			}
			var ids [][]byte
			c := cb.byTime.Cursor()
			for k, _ := c.First(); k != nil && len(ids) < purgeBatch; k, _ = c.Next() {
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) >= before.UnixNano() {
					break
				}
				ids = append(ids, slices.Clone(k))
			}
			for _, k := range ids {
				if err := deleteConv(cb, string(k[8:])); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		if err != nil || n < purgeBatch || ctx.Err() != nil {
			return total, err
		}
	}
}

func deleteConv(cb *convBuckets, id string) error {
	conv, err := getConv(cb, id)
	if err != nil {
		return err
	}
	if conv == nil {
		return nil
	}
	prefix := append([]byte(id), 0)
	c := cb.msgs.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Seek(prefix) {
		var m kefu.Message
		if json.Unmarshal(v, &m) == nil && m.ExternalID != "" && m.Role == kefu.RoleCustomer {
			if err := cb.ext.Delete(pairKey(m.Channel, m.ExternalID)); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	if conv.EndUser != "" {
		uk := pairKey(conv.Channel, conv.EndUser)
		if string(cb.users.Get(uk)) == id {
			if err := cb.users.Delete(uk); err != nil {
				return err
			}
		}
	}
	for _, del := range []struct {
		b *bolt.Bucket
		k []byte
	}{{cb.byTime, timeKey(conv.UpdatedAt, id)}, {cb.byState, stateKey(conv.State, conv.UpdatedAt, id)}, {cb.convs, []byte(id)}} {
		if err := del.b.Delete(del.k); err != nil {
			return err
		}
	}
	return nil
}
