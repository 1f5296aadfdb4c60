package answer

import (
	"time"

	"github.com/kefu-dev/kefu"
)

// Observer receives the answerer's metrics; the api package backs it with
// Prometheus. Its methods are called synchronously and must be quick and
// safe for concurrent use.
type Observer interface {
	// ObserveAnswer is called once per answer.
	ObserveAnswer(a AnswerEvent)
	// ObserveLLM is called once per LLM call (all retries of it included).
	ObserveLLM(c LLMCall)
	// ObserveBreaker is called when an endpoint's circuit breaker changes
	// state ("closed", "open", "half-open").
	ObserveBreaker(endpoint, from, to string)
}

// AnswerEvent describes one answer for metrics.
type AnswerEvent struct {
	KB         string
	Route      kefu.Route
	Cached     bool
	Fallback   string // why the LLM answer was replaced (an LLMCall.Outcome), "" when it was not
	Confidence float64
	Total      time.Duration
}

// LLMCall describes one call to an LLM.
type LLMCall struct {
	Kind             string // "answer" or "rewrite"
	Endpoint         string // base URL host and path, and model; never the key
	FirstToken       time.Duration
	Total            time.Duration
	PromptTokens     int // as reported by the server, else estimated
	CompletionTokens int
	Attempts         int
	// Outcome is "ok" or what went wrong: "breaker_open",
	// "first_token_timeout", "idle_timeout", "no_finish_reason", "status_429",
	// "status_500", "canceled", "empty", "too_long", "finish_reason", "error".
	Outcome string
}

func (s *Service) observeLLM(c LLMCall) {
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveLLM(c)
	}
}
