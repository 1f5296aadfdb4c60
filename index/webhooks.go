package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
)

// The webhook outbox lives at the root of kefu.db: an event is written in
// the transaction of the change it reports (a conversation's turn, a
// document), with one delivery per target, so that no event is lost to a
// crash between the two and every delivery survives restarts.
var (
	bucketSubs       = []byte("webhook_subscriptions") // id → subRecord JSON
	bucketChannels   = []byte("channels")              // name → channelRecord JSON
	bucketEvents     = []byte("outbox_events")         // event id → eventRecord JSON
	bucketDeliveries = []byte("outbox_deliveries")     // delivery id (sortable) → Delivery JSON
	bucketDue        = []byte("outbox_due")            // due (u64 BE ns) delivery id → nil: pending deliveries
	bucketByTarget   = []byte("outbox_by_target")      // target 0x00 target id 0x00 delivery id → nil
)

// Defaults of the outbox.
const (
	// DefaultRetryFor is how long a failing delivery is retried before it
	// goes dead: more than a day, so a receiver down over a weekend night
	// still gets everything.
	DefaultRetryFor = 25 * time.Hour
	// DefaultDeliveryRetention is how long finished deliveries (delivered
	// or dead) stay in the delivery log.
	DefaultDeliveryRetention = 30 * 24 * time.Hour
	maxSubscriptions         = 1000
	maxChannels              = 1000
	maxDeliveriesListed      = 1000
	pruneEvery               = 1000 // deliveries created between two prunes of the log
)

var (
	_ kefu.WebhookStore = (*Store)(nil)
	_ kefu.ChannelStore = (*Store)(nil)
)

type subRecord struct {
	kefu.Subscription
	Secret string `json:"secret"`
}

type channelRecord struct {
	kefu.Channel
	Secret string `json:"secret"`
}

// eventRecord is an event with the number of its deliveries still stored.
type eventRecord struct {
	kefu.Event
	Deliveries int `json:"deliveries"`
}

func rootBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if tx.Writable() {
		return tx.CreateBucketIfNotExists(name)
	}
	return tx.Bucket(name), nil
}

// PutSubscription creates or replaces a subscription.
func (s *Store) PutSubscription(ctx context.Context, sub *kefu.Subscription) error {
	if err := validSubscription(sub); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := rootBucket(tx, bucketSubs)
		if err != nil {
			return err
		}
		if b.Get([]byte(sub.ID)) == nil && b.Stats().KeyN >= maxSubscriptions {
			return kefu.Errorf(kefu.ETOOLARGE, "more than %d webhook subscriptions", maxSubscriptions)
		}
		now := time.Now().UTC()
		if sub.CreatedAt.IsZero() {
			sub.CreatedAt = now
		}
		sub.UpdatedAt = now
		return putJSON(b, []byte(sub.ID), subRecord{*sub, sub.Secret})
	})
}

func validSubscription(sub *kefu.Subscription) error {
	switch {
	case sub.ID == "" || len(sub.ID) > 64:
		return kefu.Errorf(kefu.EINVALID, "a subscription needs an id of at most 64 bytes")
	case sub.Secret == "":
		return kefu.Errorf(kefu.EINVALID, "a subscription needs a signing secret")
	case sub.KB != "" && !kefu.ValidKBName(sub.KB):
		return kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q", sub.KB)
	case len(sub.Events) == 0:
		return kefu.Errorf(kefu.EINVALID, "a subscription needs events: %s", eventList())
	case len(sub.Description) > 1000:
		return kefu.Errorf(kefu.EINVALID, "description over 1000 bytes")
	}
	for _, t := range sub.Events {
		if !kefu.ValidEventType(t) {
			return kefu.Errorf(kefu.EINVALID, "event %q: use %s", t, eventList())
		}
	}
	return kefu.ValidWebhookURL(sub.URL)
}

func eventList() string {
	names := make([]string, len(kefu.EventTypes))
	for i, t := range kefu.EventTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Subscription returns a subscription with its secret.
func (s *Store) Subscription(ctx context.Context, id string) (*kefu.Subscription, error) {
	var sub *kefu.Subscription
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		sub, err = getSub(tx, id)
		return err
	})
	return sub, err
}

func getSub(tx *bolt.Tx, id string) (*kefu.Subscription, error) {
	b := tx.Bucket(bucketSubs)
	var v []byte
	if b != nil {
		v = b.Get([]byte(id))
	}
	if v == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "webhook subscription %q not found", id)
	}
	var r subRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	r.Subscription.Secret = r.Secret
	return &r.Subscription, nil
}

// Subscriptions lists the subscriptions, oldest first, with their secrets.
func (s *Store) Subscriptions(ctx context.Context) ([]*kefu.Subscription, error) {
	var out []*kefu.Subscription
	err := s.db.View(func(tx *bolt.Tx) error {
		out = subscriptions(tx)
		return nil
	})
	return out, err
}

func subscriptions(tx *bolt.Tx) []*kefu.Subscription {
	var out []*kefu.Subscription
	if b := tx.Bucket(bucketSubs); b != nil {
		b.ForEach(func(_, v []byte) error {
			var r subRecord
			if json.Unmarshal(v, &r) == nil {
				r.Subscription.Secret = r.Secret
				out = append(out, &r.Subscription)
			}
			return nil
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// DeleteSubscription removes a subscription; its pending deliveries go
// dead at their next attempt.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSubs)
		if b == nil || b.Get([]byte(id)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "webhook subscription %q not found", id)
		}
		return b.Delete([]byte(id))
	})
}

// PutChannel creates or replaces a channel.
func (s *Store) PutChannel(ctx context.Context, c *kefu.Channel) error {
	switch {
	case !kefu.ValidChannelName(c.Name):
		return kefu.Errorf(kefu.EINVALID, "invalid channel name %q: 1-63 lower-case letters, digits, '-' or '_', not api, websocket, openai or cli", c.Name)
	case !kefu.ValidKBName(c.KB):
		return kefu.Errorf(kefu.EINVALID, "a channel needs a knowledge base")
	case c.Secret == "":
		return kefu.Errorf(kefu.EINVALID, "a channel needs a signing secret")
	case len(c.Description) > 1000:
		return kefu.Errorf(kefu.EINVALID, "description over 1000 bytes")
	}
	if c.OutboundURL != "" {
		if err := kefu.ValidWebhookURL(c.OutboundURL); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketKBs).Get([]byte(c.KB)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", c.KB)
		}
		b, err := rootBucket(tx, bucketChannels)
		if err != nil {
			return err
		}
		if b.Get([]byte(c.Name)) == nil && b.Stats().KeyN >= maxChannels {
			return kefu.Errorf(kefu.ETOOLARGE, "more than %d channels", maxChannels)
		}
		now := time.Now().UTC()
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		c.UpdatedAt = now
		return putJSON(b, []byte(c.Name), channelRecord{*c, c.Secret})
	})
}

// Channel returns a channel with its secret.
func (s *Store) Channel(ctx context.Context, name string) (*kefu.Channel, error) {
	var c *kefu.Channel
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		c, err = getChannel(tx, name)
		return err
	})
	return c, err
}

func getChannel(tx *bolt.Tx, name string) (*kefu.Channel, error) {
	b := tx.Bucket(bucketChannels)
	var v []byte
	if b != nil {
		v = b.Get([]byte(name))
	}
	if v == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "channel %q not found", name)
	}
	var r channelRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	r.Channel.Secret = r.Secret
	return &r.Channel, nil
}

// Channels lists the channels by name, with their secrets.
func (s *Store) Channels(ctx context.Context) ([]*kefu.Channel, error) {
	var out []*kefu.Channel
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChannels)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r channelRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			r.Channel.Secret = r.Secret
			out = append(out, &r.Channel)
			return nil
		})
	})
	return out, err
}

// DeleteChannel removes a channel; replies still pending for it go dead at
// their next attempt.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChannels)
		if b == nil || b.Get([]byte(name)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "channel %q not found", name)
		}
		return b.Delete([]byte(name))
	})
}

// Enqueue records events with a pending delivery per target, due now.
func (s *Store) Enqueue(ctx context.Context, events ...kefu.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.commits.do(func(tx *bolt.Tx) error { return s.enqueueTx(tx, events) })
}

// outbox are the outbox's buckets in a write transaction.
type outbox struct {
	events, deliveries, due, byTarget *bolt.Bucket
}

func openOutbox(tx *bolt.Tx) (*outbox, error) {
	var o outbox
	for _, p := range []struct {
		dst  **bolt.Bucket
		name []byte
	}{{&o.events, bucketEvents}, {&o.deliveries, bucketDeliveries}, {&o.due, bucketDue}, {&o.byTarget, bucketByTarget}} {
		b, err := rootBucket(tx, p.name)
		if err != nil {
			return nil, err
		}
		*p.dst = b
	}
	return &o, nil
}

// enqueueTx writes events and their deliveries in tx. An event no target
// wants is not written at all, so a server without webhooks pays for
// reading the subscriptions only.
func (s *Store) enqueueTx(tx *bolt.Tx, events []kefu.Event) error {
	if len(events) == 0 {
		return nil
	}
	var subs []*kefu.Subscription
	loaded := false
	var o *outbox
	now := time.Now().UTC()
	for _, ev := range events {
		var targets [][2]string
		switch {
		case ev.Target != "":
			kind, id, _ := strings.Cut(ev.Target, ":")
			targets = append(targets, [2]string{kind, id})
		default:
			if !loaded {
				subs, loaded = subscriptions(tx), true
			}
			for _, sub := range subs {
				if sub.Wants(&ev) {
					targets = append(targets, [2]string{kefu.TargetSubscription, sub.ID})
				}
			}
		}
		if len(targets) == 0 {
			continue
		}
		if o == nil {
			var err error
			if o, err = openOutbox(tx); err != nil {
				return err
			}
		}
		if ev.ID == "" || ev.Type == "" || len(ev.Data) == 0 {
			return kefu.Errorf(kefu.EINTERNAL, "an event needs an id, a type and data")
		}
		if ev.CreatedAt.IsZero() {
			ev.CreatedAt = now
		}
		if o.events.Get([]byte(ev.ID)) != nil {
			return kefu.Errorf(kefu.ECONFLICT, "event %s was already enqueued", ev.ID)
		}
		if err := putJSON(o.events, []byte(ev.ID), eventRecord{ev, len(targets)}); err != nil {
			return err
		}
		for _, t := range targets {
			seq, err := o.deliveries.NextSequence()
			if err != nil {
				return err
			}
			d := kefu.Delivery{ID: fmt.Sprintf("dlv_%016x", seq), EventID: ev.ID, EventType: ev.Type, KB: ev.KB,
				Target: t[0], TargetID: t[1], State: kefu.DeliveryPending, NextAt: &now, Log: []kefu.Attempt{},
				RetryUntil: now.Add(s.opts.RetryFor), CreatedAt: now, UpdatedAt: now}
			if err := o.putDelivery(&d, nil); err != nil {
				return err
			}
			if err := o.byTarget.Put(targetKey(d.Target, d.TargetID, d.ID), nil); err != nil {
				return err
			}
			if seq%pruneEvery == 0 {
				if err := o.prune(now.Add(-s.opts.DeliveryRetention)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func targetKey(target, id, delivery string) []byte {
	return append(pairKey(target, id+"\x00"), delivery...)
}

func dueKey(t time.Time, id string) []byte { return timeKey(t, id) }

// putDelivery stores d and moves its due entry from old (if any) to
// d.NextAt (if pending).
func (o *outbox) putDelivery(d *kefu.Delivery, old *kefu.Delivery) error {
	if old != nil && old.State == kefu.DeliveryPending && old.NextAt != nil {
		if err := o.due.Delete(dueKey(*old.NextAt, old.ID)); err != nil {
			return err
		}
	}
	if d.State == kefu.DeliveryPending {
		if d.NextAt == nil {
			return kefu.Errorf(kefu.EINTERNAL, "pending delivery %s without a due time", d.ID)
		}
		if err := o.due.Put(dueKey(*d.NextAt, d.ID), nil); err != nil {
			return err
		}
	} else {
		d.NextAt = nil
	}
	return putJSON(o.deliveries, []byte(d.ID), d)
}

func (o *outbox) delivery(id string) (*kefu.Delivery, error) {
	v := o.deliveries.Get([]byte(id))
	if v == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "delivery %q not found", id)
	}
	d := new(kefu.Delivery)
	return d, json.Unmarshal(v, d)
}

// prune deletes finished deliveries created before cutoff, oldest first,
// and each event once its last delivery is gone.
func (o *outbox) prune(cutoff time.Time) error {
	c := o.deliveries.Cursor()
	var gone []*kefu.Delivery
	for k, v := c.First(); k != nil && len(gone) < 10*pruneEvery; k, v = c.Next() {
		var d kefu.Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		if !d.CreatedAt.Before(cutoff) {
			break
		}
		if d.State != kefu.DeliveryPending {
			gone = append(gone, &d)
		}
	}
	for _, d := range gone {
		if err := o.deliveries.Delete([]byte(d.ID)); err != nil {
			return err
		}
		if err := o.byTarget.Delete(targetKey(d.Target, d.TargetID, d.ID)); err != nil {
			return err
		}
		v := o.events.Get([]byte(d.EventID))
		if v == nil {
			continue
		}
		var ev eventRecord
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		if ev.Deliveries--; ev.Deliveries <= 0 {
			if err := o.events.Delete([]byte(d.EventID)); err != nil {
				return err
			}
		} else if err := putJSON(o.events, []byte(d.EventID), ev); err != nil {
			return err
		}
	}
	return nil
}

// Event returns an enqueued event.
func (s *Store) Event(ctx context.Context, id string) (*kefu.Event, error) {
	var ev *kefu.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "event %q not found", id)
		}
		var r eventRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		ev = &r.Event
		return nil
	})
	return ev, err
}

// Lease returns up to n pending deliveries due by now, with their events,
// URLs and secrets, and makes them due again at leaseUntil, in one
// transaction: a sender that dies mid-attempt leaves them to be tried
// again then.
func (s *Store) Lease(ctx context.Context, now, leaseUntil time.Time, n int) ([]kefu.Lease, error) {
	var out []kefu.Lease
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		if tx.Bucket(bucketDue) == nil {
			return nil
		}
		o, err := openOutbox(tx)
		if err != nil {
			return err
		}
		var ids []string
		c := o.due.Cursor()
		for k, _ := c.First(); k != nil && len(ids) < n; k, _ = c.Next() {
			if int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
				break
			}
			ids = append(ids, string(k[8:]))
		}
		for _, id := range ids {
			d, err := o.delivery(id)
			if err != nil {
				return err
			}
			old := *d
			d.NextAt = &leaseUntil
			if err := o.putDelivery(d, &old); err != nil {
				return err
			}
			l := kefu.Lease{Delivery: *d}
			if v := o.events.Get([]byte(d.EventID)); v == nil {
				l.Gone = "its event was deleted"
			} else {
				var r eventRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				l.Event = r.Event
				if l.Body, err = json.Marshal(r.Event); err != nil {
					return err
				}
			}
			switch d.Target {
			case kefu.TargetSubscription:
				if sub, err := getSub(tx, d.TargetID); err != nil {
					l.Gone = "its webhook subscription was deleted"
				} else {
					l.URL, l.Secret = sub.URL, sub.Secret
				}
			case kefu.TargetChannel:
				if ch, err := getChannel(tx, d.TargetID); err != nil || ch.OutboundURL == "" {
					l.Gone = "its channel was deleted or has no outbound URL"
				} else {
					l.URL, l.Secret = ch.OutboundURL, ch.Secret
				}
			default:
				l.Gone = "unknown target " + d.Target
			}
			out = append(out, l)
		}
		return nil
	})
	return out, err
}

// NextDue returns when the first pending delivery is due.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	ok := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketDue); b != nil {
			if k, _ := b.Cursor().First(); k != nil {
				at, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k))), true
			}
		}
		return nil
	})
	return at, ok, err
}

// RecordAttempts stores attempts' outcomes in one transaction.
func (s *Store) RecordAttempts(ctx context.Context, results []kefu.AttemptResult) error {
	if len(results) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		o, err := openOutbox(tx)
		if err != nil {
			return err
		}
		for _, r := range results {
			d, err := o.delivery(r.DeliveryID)
			if kefu.ErrorCode(err) == kefu.ENOTFOUND {
				continue // pruned meanwhile
			}
			if err != nil {
				return err
			}
			old := *d
			a := r.Attempt
			d.Attempts++
			d.Log = append(d.Log, a)
			if len(d.Log) > kefu.MaxAttemptLog {
				d.Log = slices.Clone(d.Log[len(d.Log)-kefu.MaxAttemptLog:])
			}
			d.LastStatus, d.LastError, d.URL, d.UpdatedAt = a.Status, a.Error, r.URL, a.At
			d.State = r.State
			switch r.State {
			case kefu.DeliveryPending:
				next := r.NextAt
				d.NextAt = &next
			case kefu.DeliveryDelivered:
				at := a.At
				d.DeliveredAt = &at
			}
			if err := o.putDelivery(d, &old); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delivery returns one delivery with its attempt log.
func (s *Store) Delivery(ctx context.Context, id string) (*kefu.Delivery, error) {
	var d *kefu.Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		if b == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "delivery %q not found", id)
		}
		var err error
		d, err = (&outbox{deliveries: b}).delivery(id)
		return err
	})
	return d, err
}

// Deliveries lists deliveries, newest first; by target it reads the target
// index, otherwise the deliveries in order of creation.
func (s *Store) Deliveries(ctx context.Context, f kefu.DeliveryFilter) ([]kefu.Delivery, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, maxDeliveriesListed)
	var out []kefu.Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketDeliveries)
		if db == nil {
			return nil
		}
		keep := func(v []byte) error {
			var d kefu.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if (f.KB == "" || d.KB == f.KB) && (f.EventID == "" || d.EventID == f.EventID) && (f.State == "" || d.State == f.State) &&
				(f.Target == "" || d.Target == f.Target) && (f.TargetID == "" || d.TargetID == f.TargetID) {
				out = append(out, d)
			}
			return nil
		}
		scanned := 0
		if f.Target != "" && f.TargetID != "" {
			prefix := targetKey(f.Target, f.TargetID, "")
			c := tx.Bucket(bucketByTarget).Cursor()
			k, _ := c.Seek(append(slices.Clone(prefix), 0xff))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < f.Limit && scanned < maxListScan; k, _ = c.Prev() {
				scanned++
				if v := db.Get(k[len(prefix):]); v != nil {
					if err := keep(v); err != nil {
						return err
					}
				}
			}
			return nil
		}
		c := db.Cursor()
		for k, v := c.Last(); k != nil && len(out) < f.Limit && scanned < maxListScan; k, v = c.Prev() {
			scanned++
			if err := keep(v); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Redeliver makes a delivery pending and due now, retried for another
// RetryFor.
func (s *Store) Redeliver(ctx context.Context, id string) (*kefu.Delivery, error) {
	var out *kefu.Delivery
	err := s.db.Update(func(tx *bolt.Tx) error {
		o, err := openOutbox(tx)
		if err != nil {
			return err
		}
		d, err := o.delivery(id)
		if err != nil {
			return err
		}
		if o.events.Get([]byte(d.EventID)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "the event of delivery %s is no longer stored", id)
		}
		old := *d
		now := time.Now().UTC()
		d.State, d.NextAt, d.RetryUntil, d.UpdatedAt, d.DeliveredAt = kefu.DeliveryPending, &now, now.Add(s.opts.RetryFor), now, nil
		if err := o.putDelivery(d, &old); err != nil {
			return err
		}
		out = d
		return nil
	})
	return out, err
}

// documentEvent enqueues document.ingested for doc, in the transaction that
// stores it.
func (s *Store) documentEvent(ctx context.Context, tx *bolt.Tx, doc *kefu.Document) error {
	probe := kefu.Event{Type: kefu.EventDocumentIngested, KB: doc.KB}
	if !slices.ContainsFunc(subscriptions(tx), func(sub *kefu.Subscription) bool { return sub.Wants(&probe) }) {
		return nil
	}
	ev, err := kefu.NewEvent(ctx, kefu.EventDocumentIngested, doc.KB, map[string]any{"document": doc})
	if err != nil {
		return err
	}
	return s.enqueueTx(tx, []kefu.Event{ev})
}
