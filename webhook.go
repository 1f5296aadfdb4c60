package kefu

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// EventType names a webhook event.
type EventType string

// Event types a subscription may choose.
const (
	EventHandoffRequested     EventType = "handoff.requested"     // a conversation waits for an agent
	EventConversationMessage  EventType = "conversation.message"  // a message was added to a conversation (every role)
	EventConversationResolved EventType = "conversation.resolved" // an agent resolved or closed a conversation
	EventAnswerUnknown        EventType = "answer.unknown"        // the bot had no answer
	EventFeedbackCreated      EventType = "feedback.created"      // a customer voted on an answer
	EventDocumentIngested     EventType = "document.ingested"     // a document was added or replaced
)

// Event types kefu sends to one target only, never to subscriptions.
const (
	EventChannelReply EventType = "channel.reply" // a reply for a channel's outbound URL
	EventPing         EventType = "ping"          // a test event for one subscription
)

// EventTypes are the event types a subscription may choose, in order.
var EventTypes = []EventType{EventHandoffRequested, EventConversationMessage, EventConversationResolved,
	EventAnswerUnknown, EventFeedbackCreated, EventDocumentIngested}

// ValidEventType reports whether t is one of EventTypes.
func ValidEventType(t EventType) bool {
	for _, e := range EventTypes {
		if e == t {
			return true
		}
	}
	return false
}

// Event is something that happened, as webhook receivers get it: the JSON
// body of every delivery.
type Event struct {
	ID        string          `json:"id"` // "evt_…": receivers deduplicate on it
	Type      EventType       `json:"type"`
	KB        string          `json:"kb,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	RequestID string          `json:"request_id,omitempty"` // the API request that caused it
	Data      json.RawMessage `json:"data"`
	// Target, when set, sends the event to this target only
	// (TargetSubscription+":"+id or TargetChannel+":"+name) instead of to
	// every subscription of its type and KB.
	Target string `json:"-"`
}

// NewEvent returns an event of type t with data marshalled as its Data and
// the request id ctx carries.
func NewEvent(ctx context.Context, t EventType, kb string, data any) (Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, Errorf(EINTERNAL, "event %s: %w", t, err)
	}
	return Event{ID: randomID("evt_", 12), Type: t, KB: kb, CreatedAt: time.Now().UTC(), RequestID: RequestID(ctx), Data: b}, nil
}

// Subscription is a webhook endpoint and the events it receives.
type Subscription struct {
	ID          string      `json:"id"`
	URL         string      `json:"url"`
	KB          string      `json:"kb,omitempty"` // "" for every KB
	Events      []EventType `json:"events"`
	Description string      `json:"description,omitempty"`
	// Secret signs its deliveries (see Sign in internal/signature); shown
	// once, when the subscription is created or its secret rotated.
	Secret    string    `json:"-"`
	Disabled  bool      `json:"disabled,omitempty"` // no new deliveries while set
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Wants reports whether the subscription receives ev.
func (s *Subscription) Wants(ev *Event) bool {
	if s.Disabled || s.KB != "" && s.KB != ev.KB {
		return false
	}
	for _, t := range s.Events {
		if t == ev.Type {
			return true
		}
	}
	return false
}

// Delivery targets.
const (
	TargetSubscription = "webhook" // a Subscription's URL
	TargetChannel      = "channel" // a Channel's outbound URL
)

// DeliveryState is where a delivery is.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending   DeliveryState = "pending"   // waiting for its first or next attempt
	DeliveryDelivered DeliveryState = "delivered" // the receiver answered 2xx
	DeliveryDead      DeliveryState = "dead"      // retries ran out (dead letter): redeliver by hand
)

// Attempt is one try at a delivery.
type Attempt struct {
	At         time.Time `json:"at"`
	Status     int       `json:"status,omitempty"` // the receiver's HTTP status; 0 when none came
	Error      string    `json:"error,omitempty"`
	DurationMS float64   `json:"duration_ms"`
	Response   string    `json:"response,omitempty"` // the start of the receiver's answer
}

// MaxAttemptLog is how many attempts a delivery's log keeps, newest last.
const MaxAttemptLog = 20

// Delivery is one event on its way to one target.
type Delivery struct {
	ID         string        `json:"id"`
	EventID    string        `json:"event_id"`
	EventType  EventType     `json:"event_type"`
	KB         string        `json:"kb,omitempty"`
	Target     string        `json:"target"`    // TargetSubscription or TargetChannel
	TargetID   string        `json:"target_id"` // the subscription's id or the channel's name
	URL        string        `json:"url,omitempty"`
	State      DeliveryState `json:"state"`
	Attempts   int           `json:"attempts"`
	NextAt     *time.Time    `json:"next_at,omitempty"` // the next attempt, while pending
	LastStatus int           `json:"last_status,omitempty"`
	LastError  string        `json:"last_error,omitempty"`
	Log        []Attempt     `json:"log"`
	// RetryUntil is when a pending delivery that keeps failing goes dead.
	RetryUntil  time.Time  `json:"retry_until"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// AttemptResult is the outcome of an attempt, to record: the delivery's
// next state and, when pending, when to try again.
type AttemptResult struct {
	DeliveryID string
	Attempt    Attempt
	URL        string
	State      DeliveryState
	NextAt     time.Time
}

// DeliveryFilter selects deliveries; zero fields select all.
type DeliveryFilter struct {
	Target   string // TargetSubscription or TargetChannel
	TargetID string
	KB       string
	EventID  string
	State    DeliveryState
	Limit    int // default 50, at most 1000
}

// WebhookStore keeps webhook subscriptions and the outbox: each event, one
// delivery per target, their attempts. Enqueueing is crash-safe, so an
// event once enqueued is delivered even across a kill -9. The embedded
// store is one; a Qdrant deployment keeps its outbox in each node's.
type WebhookStore interface {
	// PutSubscription creates or replaces a subscription.
	PutSubscription(ctx context.Context, s *Subscription) error
	Subscription(ctx context.Context, id string) (*Subscription, error)
	Subscriptions(ctx context.Context) ([]*Subscription, error)
	DeleteSubscription(ctx context.Context, id string) error
	// Enqueue records events and a pending delivery per target each has
	// (its Target, else every subscription that wants it), due at once and
	// retried for the store's retry window.
	Enqueue(ctx context.Context, events ...Event) error
	Event(ctx context.Context, id string) (*Event, error)
	// Lease returns up to n pending deliveries due by now, with what an
	// attempt needs, and makes them due again at leaseUntil, so that a
	// delivery whose sender died is tried again then.
	Lease(ctx context.Context, now, leaseUntil time.Time, n int) ([]Lease, error)
	// NextDue returns when the first pending delivery is due; ok is false
	// when none is pending.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	RecordAttempts(ctx context.Context, results []AttemptResult) error
	Delivery(ctx context.Context, id string) (*Delivery, error)
	// Deliveries lists deliveries, newest first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// Redeliver makes a delivery pending and due now, retried for another
	// retry window.
	Redeliver(ctx context.Context, id string) (*Delivery, error)
}

// Lease is a delivery taken for an attempt, with what the attempt needs.
type Lease struct {
	Delivery Delivery
	Event    Event
	Body     []byte // the event as JSON: the request body, as signed
	URL      string // the target's URL now
	Secret   string // the target's signing secret
	// Gone says why the delivery cannot be attempted (its target or its
	// event was deleted); the sender records it dead.
	Gone string
}

// Channel is a messaging channel (an email gateway, a WeChat bridge…) that
// posts its customers' messages to POST /v1/channels/{name}/messages and
// receives the replies at OutboundURL.
type Channel struct {
	Name        string `json:"name"`
	KB          string `json:"kb"`
	OutboundURL string `json:"outbound_url,omitempty"` // "" : replies only in the HTTP response
	Description string `json:"description,omitempty"`
	// Secret signs both ways: the messages the channel posts and the
	// replies kefu posts to OutboundURL. Shown once.
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ChannelStore keeps channels.
type ChannelStore interface {
	// PutChannel creates or replaces a channel.
	PutChannel(ctx context.Context, c *Channel) error
	Channel(ctx context.Context, name string) (*Channel, error)
	Channels(ctx context.Context) ([]*Channel, error)
	DeleteChannel(ctx context.Context, name string) error
}

// ValidChannelName reports whether name can name a configured channel: a
// KB name's shape, and none of the built-in channels.
func ValidChannelName(name string) bool {
	switch name {
	case ChannelAPI, ChannelWebSocket, ChannelOpenAI, ChannelCLI:
		return false
	}
	return ValidKBName(name)
}

// ValidWebhookURL checks a URL kefu will post to: absolute http or https,
// with a host and no user info.
func ValidWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return Errorf(EINVALID, "url %q is not a URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return Errorf(EINVALID, "url %q: use http or https", raw)
	case u.Host == "":
		return Errorf(EINVALID, "url %q has no host", raw)
	case u.User != nil:
		return Errorf(EINVALID, "url %q: put no credentials in it; receivers check the signature", raw)
	case len(raw) > 2048:
		return Errorf(EINVALID, "url over 2048 bytes")
	}
	return nil
}
