package kefu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// ConversationState is who answers a conversation.
type ConversationState string

// Conversation states. A conversation starts with the bot; a hand-off makes
// it wait for an agent, who claims it; an agent resolves it (the next
// customer message gives it back to the bot) or closes it for good.
const (
	StateBot      ConversationState = "bot"      // the bot answers
	StateWaiting  ConversationState = "waiting"  // a hand-off was requested; no agent has claimed it yet
	StateAgent    ConversationState = "agent"    // an agent claimed it; the bot is silent
	StateResolved ConversationState = "resolved" // an agent resolved it; the next customer message goes back to the bot
	StateClosed   ConversationState = "closed"   // finished: it takes no more messages
)

// ValidState reports whether s names a conversation state.
func ValidState(s ConversationState) bool {
	switch s {
	case StateBot, StateWaiting, StateAgent, StateResolved, StateClosed:
		return true
	}
	return false
}

// WithAgents reports whether a person has the conversation: the bot never
// answers in these states.
func (s ConversationState) WithAgents() bool { return s == StateWaiting || s == StateAgent }

// Hand-off triggers: why a conversation was handed to a person. The first
// four are KBSettings.Handoff.Triggers.
const (
	TriggerSensitive  = "sensitive"   // a sensitive word (投诉, lawyer…)
	TriggerRequest    = "request"     // an explicit request for a person (转人工, "talk to a human")
	TriggerUnknown    = "unknown"     // the bot could not answer several times in a row
	TriggerThumbsDown = "thumbs_down" // a request for a person right after a thumbs-down
	TriggerAgent      = "agent"       // an agent took the conversation over on their own
)

// Built-in channels: the API surfaces a conversation can start on. Channels
// configured for POST /v1/channels/{channel}/messages have other names.
const (
	ChannelAPI       = "api"       // POST /v1/kbs/{kb}/ask, JSON or server-sent events
	ChannelWebSocket = "websocket" // GET /v1/kbs/{kb}/chat
	ChannelOpenAI    = "openai"    // POST /v1/chat/completions
	ChannelCLI       = "cli"       // kefu ask
)

// Conversation is one customer's exchange with a KB's bot and its agents.
type Conversation struct {
	ID    string            `json:"id"`
	KB    string            `json:"kb"`
	State ConversationState `json:"state"`
	// Channel is where the customer writes from: a built-in channel or a
	// configured channel's name.
	Channel string `json:"channel"`
	EndUser string `json:"end_user,omitempty"` // the channel's id of the customer
	KeyID   string `json:"key_id,omitempty"`   // the API key that started it
	Lang    string `json:"lang,omitempty"`     // the customer's language as last seen
	// Assignee is the agent who claimed the conversation.
	Assignee string `json:"assignee,omitempty"`
	// Trigger says why it was last handed off (TriggerSensitive…).
	Trigger string `json:"trigger,omitempty"`
	// Notified is set once the customer has been told, since the last
	// hand-off, that a person will reply.
	Notified bool `json:"notified,omitempty"`
	// Messages is how many messages it holds; the last one's Seq.
	Messages uint64 `json:"messages"`
	// Routes are the routes of the bot's answers in it, each once.
	Routes     []Route           `json:"routes,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	HandoffAt  *time.Time        `json:"handoff_at,omitempty"`
	ResolvedAt *time.Time        `json:"resolved_at,omitempty"`
}

// Role is who wrote a message.
type Role string

// Message roles.
const (
	RoleCustomer Role = "customer"
	RoleBot      Role = "bot"   // an answer (Message.Answer) or a notice of the desk
	RoleAgent    Role = "agent" // a person's reply, delivered to the customer
	RoleNote     Role = "note"  // an agent's internal note, never shown to the customer
	RoleEvent    Role = "event" // a change of state (Message.Event), for the transcript
)

// Message events: the changes of state a transcript shows.
const (
	EventHandoff  = "handoff"  // the conversation waits for an agent
	EventClaimed  = "claimed"  // an agent took it
	EventReleased = "released" // an agent gave it back to the bot
	EventResolved = "resolved"
	EventReopened = "reopened" // a customer wrote after it was resolved: back to the bot
	EventClosed   = "closed"
)

// Message is one entry of a conversation's transcript.
type Message struct {
	Seq            uint64    `json:"seq"` // its place in the conversation, from 1
	ID             string    `json:"id"`  // the Answer's id for an answer
	ConversationID string    `json:"conversation_id"`
	KB             string    `json:"kb"`
	Role           Role      `json:"role"`
	Text           string    `json:"text"`
	At             time.Time `json:"at"`
	RequestID      string    `json:"request_id,omitempty"`
	Channel        string    `json:"channel,omitempty"`
	ExternalID     string    `json:"external_id,omitempty"` // the channel's own id of a customer message
	Author         string    `json:"author,omitempty"`      // the agent, for agent messages, notes and their events
	// Answer is the bot's answer, for RoleBot messages that are answers.
	Answer *Answer `json:"answer,omitempty"`
	// Vote is the customer's feedback on an answer: +1, -1 or 0 (none).
	Vote int `json:"vote,omitempty"`
	// Event and State are a RoleEvent message's change and the state after it.
	Event string            `json:"event,omitempty"`
	State ConversationState `json:"state,omitempty"`
}

// Turn is a customer message and the reply it got (the bot's answer, or an
// agent's first reply), as the answerer reads a conversation's history.
type Turn struct {
	Question string `json:"question"`
	Query    string `json:"query,omitempty"` // the standalone query retrieval ran
	Answer   string `json:"answer"`
	Route    Route  `json:"route,omitempty"` // "" when a person replied
	Lang     string `json:"lang,omitempty"`
	Vote     int    `json:"vote,omitempty"` // the customer's feedback on the answer
}

// ConversationFilter selects conversations of a KB; zero fields select all.
type ConversationFilter struct {
	State    ConversationState
	Route    Route // holding an answer of this route
	Channel  string
	EndUser  string
	Assignee string
	Since    time.Time // updated at or after
	Until    time.Time // updated before
	// After continues a listing: conversations updated before the one of
	// this id (whose update time is Until), in the listing's order.
	After string
	Limit int // default 50, at most MaxConversationsListed
}

// MaxConversationsListed bounds one listing of conversations.
const MaxConversationsListed = 1000

// ConversationChange is what a ConversationStore.UpdateConversation callback
// writes beside the conversation, all in one transaction.
type ConversationChange struct {
	// Messages are appended in order; their Seq must follow the
	// conversation's Messages count, which the callback advances.
	Messages []Message
	// Votes set the Vote of earlier messages, by Seq.
	Votes map[uint64]int
	// Answer is logged in the answer log; Feedback is added to it.
	Answer   *AnswerRecord
	Feedback *Feedback
	// Events go to the webhook outbox.
	Events []Event
}

// ConversationStore keeps conversations and their transcripts. The embedded
// store (index.Store) is one; a deployment whose KBs live in Qdrant keeps
// conversations in each node's embedded store, so a conversation lives on
// the node its customer reaches.
type ConversationStore interface {
	// Conversation returns one conversation of a KB, ENOTFOUND when the KB
	// has none of that id.
	Conversation(ctx context.Context, kb, id string) (*Conversation, error)
	// Conversations lists a KB's conversations, most recently updated first.
	Conversations(ctx context.Context, kb string, f ConversationFilter) ([]*Conversation, error)
	// Messages returns up to limit messages with Seq > after, oldest first.
	Messages(ctx context.Context, kb, id string, after uint64, limit int) ([]Message, error)
	// RecentMessages returns the last n messages, oldest first.
	RecentMessages(ctx context.Context, kb, id string, n int) ([]Message, error)
	// MessageByExternalID finds the customer message a channel sent with
	// this id, ENOTFOUND when none.
	MessageByExternalID(ctx context.Context, kb, channel, externalID string) (*Message, error)
	// OpenConversation returns the end user's latest conversation on a
	// channel that is not closed, ENOTFOUND when none.
	OpenConversation(ctx context.Context, kb, channel, endUser string) (*Conversation, error)
	// UpdateConversation runs fn on the stored conversation, or on a new one
	// in state bot when none exists (CreatedAt zero), and stores it with
	// fn's change in one crash-safe transaction. UpdatedAt is the time of
	// the change when fn runs. An error from fn changes nothing. fn may run
	// more than once and must not block.
	UpdateConversation(ctx context.Context, kb, id string, fn func(c *Conversation) (*ConversationChange, error)) (*Conversation, error)
	// PurgeConversations deletes a KB's conversations last updated before
	// t, with their messages, and returns how many it deleted.
	PurgeConversations(ctx context.Context, kb string, before time.Time) (int, error)
}

// Agent actions on a conversation.
const (
	ActionClaim   = "claim"   // take it: state agent, the bot is silent
	ActionReply   = "reply"   // send the customer a message (claims it when nobody has)
	ActionNote    = "note"    // add an internal note
	ActionRelease = "release" // hand it back to the bot
	ActionResolve = "resolve" // done for now: the next customer message goes to the bot
	ActionClose   = "close"   // done for good
)

// AgentAction is what an agent does to a conversation.
type AgentAction struct {
	Kind  string `json:"action"`
	Agent string `json:"agent"`          // who: a name or key id
	Text  string `json:"text,omitempty"` // reply and note
	// Force lets claim take a conversation another agent holds.
	Force bool `json:"force,omitempty"`
}

// LiveEvent is a change to a conversation, as live streams carry it.
type LiveEvent struct {
	// Kind is "message" (Message is set) or "state" (the conversation's
	// state, assignee or trigger changed).
	Kind         string        `json:"kind"`
	Conversation *Conversation `json:"conversation"`
	Message      *Message      `json:"message,omitempty"`
}

// Desk runs conversations: its Ask stores each customer message and the
// bot's answer, and lets the bot answer only while the conversation is the
// bot's; agents act on conversations; live streams watch them.
type Desk interface {
	Answerer
	Conversation(ctx context.Context, kb, id string) (*Conversation, error)
	Conversations(ctx context.Context, kb string, f ConversationFilter) ([]*Conversation, error)
	Messages(ctx context.Context, kb, id string, after uint64, limit int) ([]Message, error)
	// Act applies an agent action and returns the conversation after it.
	Act(ctx context.Context, kb, id string, a AgentAction) (*Conversation, error)
	// Feedback records a customer's vote on an answer.
	Feedback(ctx context.Context, kb string, fb Feedback) error
	// Watch calls fn with every live event of conversation id of kb (of
	// every conversation of kb when id is "", of every KB when kb is "" as
	// well) until stop is called. fn runs on the writer's goroutine: it
	// must not block.
	Watch(kb, id string, fn func(LiveEvent)) (stop func())
}

// NewConversationID returns a new random conversation id ("c_" and 24 hex
// digits): unguessable, so a public widget's visitor can hold it as the
// key to their own conversation.
func NewConversationID() string { return randomID("c_", 12) }

// NewMessageID returns a new random message id.
func NewMessageID() string { return randomID("m_", 12) }

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MaxConversationID bounds a conversation id a client chooses.
const MaxConversationID = 128

// ValidConversationID reports whether id can name a conversation: 1 to 128
// bytes of ASCII letters, digits and - _ . : @ + =.
func ValidConversationID(id string) bool {
	if id == "" || len(id) > MaxConversationID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:@+=", c) >= 0) {
			return false
		}
	}
	return true
}
