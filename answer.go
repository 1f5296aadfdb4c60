package kefu

import (
	"context"
	"time"
)

// Route is how a question was answered.
type Route string

// Routes, in the order the policy considers them.
const (
	RouteHandoff    Route = "handoff"    // a sensitive topic or a request for a person
	RouteFAQ        Route = "faq"        // a confident FAQ match: its stored answer
	RouteGenerated  Route = "generated"  // a confident LLM answer grounded in the evidence
	RouteExtractive Route = "extractive" // a confident answer made of the evidence's own sentences
	RouteDisclaimer Route = "disclaimer" // an answer below the threshold, with a disclaimer
	RouteUnknown    Route = "unknown"    // no answer: below the floor or no evidence
)

// Citation points an answer to its evidence.
type Citation struct {
	N       int    `json:"n"` // the [n] the answer text uses
	DocID   string `json:"doc_id"`
	ChunkID string `json:"chunk_id"`
	Title   string `json:"title,omitempty"`
	URL     string `json:"url,omitempty"`
	Snippet string `json:"snippet"`
}

// Timings is an answer's latency breakdown in milliseconds.
type Timings struct {
	RewriteMS  float64 `json:"rewrite_ms,omitempty"`
	RetrieveMS float64 `json:"retrieve_ms"`
	LLMFirstMS float64 `json:"llm_first_token_ms,omitempty"`
	LLMMS      float64 `json:"llm_ms,omitempty"`
	TotalMS    float64 `json:"total_ms"`
}

// Answer is what kefu tells a customer, in the same shape on every surface.
type Answer struct {
	ID             string     `json:"id"`
	Text           string     `json:"text"`
	Route          Route      `json:"route"`
	Confidence     float64    `json:"confidence"`
	Citations      []Citation `json:"citations"`
	Disclaimer     string     `json:"disclaimer,omitempty"`
	ConversationID string     `json:"conversation_id,omitempty"`
	Query          string     `json:"query,omitempty"` // the standalone query retrieval ran, when rewritten
	Cached         bool       `json:"cached,omitempty"`
	// Fallback says why an LLM answer was replaced by the extractive one
	// (timeout, error, cut stream, breaker open…); "" when it was not.
	Fallback string  `json:"fallback,omitempty"`
	Timings  Timings `json:"timings"`
	// Handoff is why a handoff answer hands off (TriggerSensitive…).
	Handoff string `json:"handoff,omitempty"`
	// State is the conversation's state after this message: "waiting" or
	// "agent" mean a person will reply (route "agent"). Set by a Desk.
	State ConversationState `json:"state,omitempty"`
	Lang  string            `json:"lang,omitempty"` // the reply's language: "zh" or "en"
	// Replayed says the reply was given before: a channel sent the same
	// message id again, and nothing changed.
	Replayed bool `json:"replayed,omitempty"`
}

// RouteAgent is the route of a message the bot did not answer because a
// person has the conversation: the message was passed on, and Text is the
// one-time notice that a person will reply, or empty.
const RouteAgent Route = "agent"

// AskRequest is a customer's question.
type AskRequest struct {
	KB             string `json:"kb"`
	Question       string `json:"question"`
	ConversationID string `json:"conversation_id,omitempty"`

	// Where it comes from, which a Desk stores with the conversation.
	Channel    string            `json:"channel,omitempty"`     // a built-in channel (ChannelAPI…) or a configured one
	EndUser    string            `json:"end_user,omitempty"`    // the channel's id of the customer
	ExternalID string            `json:"external_id,omitempty"` // the channel's id of this message
	KeyID      string            `json:"key_id,omitempty"`      // the API key it came with
	Metadata   map[string]string `json:"metadata,omitempty"`

	// History is the conversation so far, oldest turn first, for follow-up
	// questions and the hand-off triggers that look back (a Desk reads it
	// from the stored turns).
	History []Turn `json:"-"`
}

// Answerer answers questions from a KB. When onDelta is not nil, Ask calls it
// with each piece of the answer text as it is produced (the pieces joined are
// Answer.Text); it returns the complete Answer at the end either way.
type Answerer interface {
	Ask(ctx context.Context, req AskRequest, onDelta func(string)) (*Answer, error)
}

// AnswerRecord is one answered question, as logged.
type AnswerRecord struct {
	ID             string    `json:"id"`
	KB             string    `json:"kb"`
	Question       string    `json:"question"`
	Query          string    `json:"query,omitempty"` // the rewritten standalone query
	ConversationID string    `json:"conversation_id,omitempty"`
	Route          Route     `json:"route"`
	Confidence     float64   `json:"confidence"`
	Citations      []string  `json:"citations,omitempty"` // chunk ids
	Fallback       string    `json:"fallback,omitempty"`  // see Answer.Fallback
	Cached         bool      `json:"cached,omitempty"`
	Timings        Timings   `json:"timings"`
	At             time.Time `json:"at"`
	Answer         string    `json:"answer,omitempty"` // the answer's text
	RequestID      string    `json:"request_id,omitempty"`
	// Review is what the team did about an unanswered question; nil while
	// it is open.
	Review *Review `json:"review,omitempty"`
}

// Review states of an unanswered question.
const (
	ReviewAdded     = "added"     // added to the FAQ, as an entry or a phrasing of one
	ReviewResolved  = "resolved"  // handled otherwise (the documents were fixed…)
	ReviewDismissed = "dismissed" // not worth an answer
)

// Review is what the team did about an unanswered question.
type Review struct {
	State   string    `json:"state"` // ReviewAdded, ReviewResolved or ReviewDismissed
	By      string    `json:"by,omitempty"`
	Note    string    `json:"note,omitempty"`     // the FAQ entry it became, or why
	ChunkID string    `json:"chunk_id,omitempty"` // the FAQ entry it was added to
	At      time.Time `json:"at"`
}

// Record returns the answer log's record of a, the answer to question in kb.
func (a *Answer) Record(kb, question, requestID string, at time.Time) AnswerRecord {
	ids := make([]string, len(a.Citations))
	for i, c := range a.Citations {
		ids[i] = c.ChunkID
	}
	return AnswerRecord{
		ID: a.ID, KB: kb, Question: question, Query: a.Query, ConversationID: a.ConversationID,
		Route: a.Route, Confidence: a.Confidence, Citations: ids, Fallback: a.Fallback, Cached: a.Cached,
		Timings: a.Timings, At: at, Answer: a.Text, RequestID: requestID,
	}
}

// Feedback is a user's verdict on an answer.
type Feedback struct {
	AnswerID string    `json:"answer_id"`
	Vote     int       `json:"vote"` // +1 up, -1 down
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
	// ConversationID is the answer's conversation, when it had one.
	ConversationID string `json:"conversation_id,omitempty"`
	RequestID      string `json:"request_id,omitempty"`
}

// FeedbackRecord is feedback with the answer it judges, as listed.
type FeedbackRecord struct {
	Feedback
	KB         string  `json:"kb"`
	Question   string  `json:"question"`
	Answer     string  `json:"answer"`
	Route      Route   `json:"route"`
	Confidence float64 `json:"confidence"`
}

// AnswerLog keeps answered questions and their feedback, so a team sees what
// kefu could not answer.
type AnswerLog interface {
	LogAnswer(ctx context.Context, rec AnswerRecord) error
	// Unanswered lists the newest questions answered below the threshold
	// (routes disclaimer and unknown), newest first, leaving out answers
	// that fell back only because the LLM failed: those are outages, not
	// gaps in the KB.
	Unanswered(ctx context.Context, kb string, limit int) ([]AnswerRecord, error)
	AddFeedback(ctx context.Context, kb string, fb Feedback) error
	// ReviewUnanswered records what the team did about logged answers.
	ReviewUnanswered(ctx context.Context, kb string, ids []string, r Review) error
	// AnswerRecord returns a logged answer, ENOTFOUND when it is not (or no
	// longer) in the log.
	AnswerRecord(ctx context.Context, kb, id string) (*AnswerRecord, error)
	// FeedbackList lists a KB's newest feedback with the answers it judges,
	// newest first; vote 1 or -1 keeps only those votes, 0 keeps all.
	FeedbackList(ctx context.Context, kb string, vote, limit int) ([]FeedbackRecord, error)
}
