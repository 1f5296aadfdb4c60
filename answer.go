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
}

// AskRequest is a customer's question.
type AskRequest struct {
	KB             string `json:"kb"`
	Question       string `json:"question"`
	ConversationID string `json:"conversation_id,omitempty"`
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
}

// Feedback is a user's verdict on an answer.
type Feedback struct {
	AnswerID string    `json:"answer_id"`
	Vote     int       `json:"vote"` // +1 up, -1 down
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
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
}
