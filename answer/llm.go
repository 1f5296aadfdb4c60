package answer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kefu-dev/kefu"
	openai "github.com/sashabaranov/go-openai"
	"github.com/sony/gobreaker/v2"
)

// Failures of an LLM call. Each also names the call's outcome in logs and
// metrics (LLMCall.Outcome).
var (
	errFirstToken   = errors.New("no first token before the deadline")
	errIdle         = errors.New("no token before the idle deadline")
	errNoFinish     = errors.New("stream ended without a finish reason")
	errEmpty        = errors.New("empty answer")
	errTooLong      = errors.New("answer longer than the limit")
	errBreakerOpen  = errors.New("circuit breaker open")
	errFinishReason = errors.New("stream finished for a reason other than stop or length")
	// errCallerGone tells the breaker a call ended because its caller went
	// away, which says nothing about the LLM.
	errCallerGone = errors.New("caller went away")
)

// maxAnswerBytes bounds the text kept from one LLM answer.
const maxAnswerBytes = 64 << 10

// llmError is a failed LLM call with what is known of it.
type llmError struct {
	err     error
	status  int  // HTTP status, 0 when none
	started bool // the first token had arrived
}

func (e *llmError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("llm: status %d: %v", e.status, e.err)
	}
	return "llm: " + e.err.Error()
}

func (e *llmError) Unwrap() error { return e.err }

// outcome is a short name for a call's result, for logs and metrics.
func outcome(err error) string {
	var le *llmError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errBreakerOpen), errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return "breaker_open"
	case errors.Is(err, errFirstToken):
		return "first_token_timeout"
	case errors.Is(err, errIdle):
		return "idle_timeout"
	case errors.Is(err, errNoFinish):
		return "no_finish_reason"
	case errors.Is(err, errEmpty):
		return "empty"
	case errors.Is(err, errTooLong):
		return "too_long"
	case errors.Is(err, errFinishReason):
		return "finish_reason"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.As(err, &le) && le.status != 0:
		return fmt.Sprintf("status_%d", le.status)
	}
	return "error"
}

// retryable reports whether a call may be tried again: only before its first
// token, and only for 429 and 5xx answers.
func retryable(err error) bool {
	var le *llmError
	if !errors.As(err, &le) || le.started {
		return false
	}
	return le.status == http.StatusTooManyRequests || le.status >= 500 && le.status <= 599
}

// streamResult is what one successful stream produced.
type streamResult struct {
	firstToken       time.Duration // since the call began, all attempts included
	promptTokens     int
	completionTokens int
	attempts         int
	text             strings.Builder // as it reached the citation filter
}

// llmClient calls one OpenAI-compatible endpoint through the service's
// breaker for it.
type llmClient struct {
	s        *Service
	settings *kefu.LLMSettings
	client   *openai.Client
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	endpoint string // base URL and model, without the key, for logs and metrics
}

func (s *Service) llmClient(st *kefu.LLMSettings) *llmClient {
	cfg := openai.DefaultConfig(st.APIKey)
	if st.BaseURL != "" {
		cfg.BaseURL = strings.TrimRight(st.BaseURL, "/")
	}
	cfg.HTTPClient = s.httpClient
	if st.BaseURL != "" && (s.opts.LLM == nil || st.BaseURL != s.opts.LLM.BaseURL) {
		cfg.HTTPClient = s.kbClient // the URL is a KB's (mergeLLM)
	}
	endpoint := endpointName(cfg.BaseURL, st.Model)
	return &llmClient{s: s, settings: st, client: openai.NewClientWithConfig(cfg), breaker: s.breaker(endpoint), endpoint: endpoint}
}

// endpointName is host+path of the base URL and the model; never the key or
// URL credentials.
func endpointName(base, model string) string {
	if u, err := url.Parse(base); err == nil {
		return u.Host + u.Path + "#" + model
	}
	return "?" + "#" + model
}

// breaker returns the circuit breaker of an endpoint, one per base URL and
// model, kept in a bounded LRU.
func (s *Service) breaker(endpoint string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	s.breakerMu.Lock()
	defer s.breakerMu.Unlock()
	if b, ok := s.breakers.Get(endpoint); ok {
		return b
	}
	failures := uint32(s.opts.BreakerFailures)
	b := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        endpoint,
		MaxRequests: 1,
		Interval:    time.Minute,
		Timeout:     s.opts.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			s.log.Warn("llm circuit breaker", "endpoint", name, "from", from.String(), "to", to.String())
			if s.opts.Observer != nil {
				s.opts.Observer.ObserveBreaker(name, from.String(), to.String())
			}
		},
	})
	s.breakers.Add(endpoint, b)
	return b
}

// temperature is the value sent for t: go-openai omits a zero temperature
// from the request (the server would use its own default), so zero is sent
// as the smallest positive float, which every server treats as zero.
func temperature(t float64) float32 {
	if t <= 0 {
		return math.SmallestNonzeroFloat32
	}
	return float32(t)
}

// stream asks the LLM for an answer and feeds its text to filter as it
// arrives. It retries 429 and 5xx answers with backoff before the first
// token, never after; the whole call counts once for the breaker. The error
// is the caller's context error when the caller went away.
func (c *llmClient) stream(ctx context.Context, msgs []openai.ChatCompletionMessage, filter *citeFilter) (*streamResult, error) {
	done, err := c.breaker.Allow()
	if err != nil {
		return &streamResult{}, fmt.Errorf("%w: %w", errBreakerOpen, err)
	}
	req := openai.ChatCompletionRequest{
		Model:         c.settings.Model,
		Messages:      msgs,
		Temperature:   temperature(c.settings.Temperature),
		MaxTokens:     c.settings.MaxTokens,
		Stream:        true,
		StreamOptions: &openai.StreamOptions{IncludeUsage: true},
	}
	start := time.Now()
	res := &streamResult{}
	retries := c.s.opts.Retries
	for attempt := 0; ; attempt++ {
		res.attempts = attempt + 1
		err = c.once(ctx, req, filter, res, start)
		if err == nil || ctx.Err() != nil || attempt >= retries || !retryable(err) {
			break
		}
		c.s.log.Debug("llm retry", "endpoint", c.endpoint, "attempt", attempt+1, "err", err)
		if !sleep(ctx, backoff(c.s.opts.RetryBackoff, attempt)) {
			break
		}
	}
	if ctx.Err() != nil {
		done(errCallerGone)
		return res, ctx.Err()
	}
	done(err)
	return res, err
}

// backoff is the wait before retry attempt+1: base doubled each attempt,
// capped at 16×base, with jitter in [d/2, d).
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 4)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// once runs one streaming request. Its deadlines are timers that cancel the
// request's context: the first-token timer from the start of the request to
// the first piece of content, then the idle timer, reset by every chunk.
// (http.Client.Timeout would bound the whole stream instead.)
func (c *llmClient) once(parent context.Context, req openai.ChatCompletionRequest, filter *citeFilter, res *streamResult, callStart time.Time) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	var streaming atomic.Bool // the first token arrived: the timer is the idle one
	timer := time.AfterFunc(c.s.opts.FirstTokenTimeout, func() {
		if streaming.Load() {
			cancel(errIdle)
		} else {
			cancel(errFirstToken)
		}
	})
	defer timer.Stop()

	fail := func(err error, started bool) error {
		if cause := context.Cause(ctx); cause != nil && parent.Err() == nil {
			err = cause // our own deadline cut the request
		}
		le := &llmError{err: redactKey(err, c.settings.APIKey), started: started}
		var ae *openai.APIError
		var re *openai.RequestError
		switch {
		case errors.As(err, &ae):
			le.status = ae.HTTPStatusCode
		case errors.As(err, &re):
			le.status = re.HTTPStatusCode
		}
		return le
	}

	stream, err := c.client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return fail(err, false)
	}
	defer stream.Close()

	started := false
	finish := openai.FinishReason("")
	// A stream has at most about one chunk per token; the cap also stops a
	// server that sends empty chunks forever.
	maxChunks := 4*req.MaxTokens + 256
	for range maxChunks {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			switch {
			case finish == "":
				return fail(errNoFinish, started)
			case finish != openai.FinishReasonStop && finish != openai.FinishReasonLength:
				return fail(fmt.Errorf("%w: %s", errFinishReason, finish), started)
			case res.text.Len() == 0 || strings.TrimSpace(res.text.String()) == "":
				return fail(errEmpty, started)
			}
			return nil
		}
		if err != nil {
			return fail(err, started)
		}
		if resp.Usage != nil {
			res.promptTokens, res.completionTokens = resp.Usage.PromptTokens, resp.Usage.CompletionTokens
		}
		for _, ch := range resp.Choices {
			if ch.Index != 0 {
				continue
			}
			if d := ch.Delta.Content; d != "" {
				if !started {
					started = true
					streaming.Store(true)
					res.firstToken = time.Since(callStart)
				}
				if res.text.Len()+len(d) > maxAnswerBytes {
					return fail(errTooLong, started)
				}
				res.text.WriteString(d)
				filter.Write(d)
			}
			if ch.FinishReason != "" && ch.FinishReason != openai.FinishReasonNull {
				finish = ch.FinishReason
			}
		}
		if started {
			timer.Reset(c.s.opts.IdleTimeout)
		}
	}
	return fail(errTooLong, started)
}

// complete asks for a short non-streamed completion (query rewriting) with
// its own deadline, through the breaker.
func (c *llmClient) complete(ctx context.Context, msgs []openai.ChatCompletionMessage, maxTokens int, timeout time.Duration) (string, error) {
	done, err := c.breaker.Allow()
	if err != nil {
		return "", fmt.Errorf("%w: %w", errBreakerOpen, err)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.client.CreateChatCompletion(cctx, openai.ChatCompletionRequest{
		Model:       c.settings.Model,
		Messages:    msgs,
		Temperature: temperature(0),
		MaxTokens:   maxTokens,
	})
	if err == nil && len(resp.Choices) == 0 {
		err = errEmpty
	}
	if ctx.Err() != nil {
		done(errCallerGone)
		return "", ctx.Err()
	}
	done(err)
	if err != nil {
		return "", redactKey(err, c.settings.APIKey)
	}
	return resp.Choices[0].Message.Content, nil
}

// withRequestID returns a copy of c whose requests carry the X-Request-ID
// of their context (kefu.RequestID), so an LLM provider's logs can be
// matched with kefu's.
func withRequestID(c *http.Client) *http.Client {
	cp := *c
	base := cp.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = requestIDTransport{base}
	return &cp
}

type requestIDTransport struct{ base http.RoundTripper }

func (t requestIDTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if id := kefu.RequestID(req.Context()); id != "" && req.Header.Get("X-Request-ID") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("X-Request-ID", id)
	}
	return t.base.RoundTrip(req)
}
