package answer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	openai "github.com/sashabaranov/go-openai"
	"go.uber.org/goleak"
)

// chatRequest is what the test server reads of a chat completion request.
type chatRequest struct {
	Model       string  `json:"model"`
	Stream      bool    `json:"stream"`
	MaxTokens   int     `json:"max_tokens"`
	Temperature float64 `json:"temperature"`
	Messages    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// llmServer is a local OpenAI-compatible server. handle serves the n-th
// request (1-based); gone is signalled when a client goes away while a
// handler waits for it.
type llmServer struct {
	*httptest.Server
	requests atomic.Int32
	gone     chan struct{}
	mu       sync.Mutex
	bodies   []chatRequest
	auth     []string
}

type handler func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest)

func newLLMServer(t *testing.T, h handler) *llmServer {
	t.Helper()
	s := &llmServer{gone: make(chan struct{}, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := int(s.requests.Add(1))
		s.mu.Lock()
		s.bodies = append(s.bodies, req)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		h(s, w, r, n, req)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *llmServer) settings() *kefu.LLMSettings {
	return &kefu.LLMSettings{BaseURL: s.URL + "/v1", Model: "test-model", APIKey: "sk-test", MaxTokens: 256, ContextTokens: 4096}
}

func (s *llmServer) body(i int) chatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[i]
}

// wait blocks until the client goes away (and reports it) or 10 s pass.
func (s *llmServer) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
		s.gone <- struct{}{}
	case <-time.After(10 * time.Second):
	}
}

// sawClientGo waits up to 10 s for a handler to see its client go away.
func (s *llmServer) sawClientGo(t *testing.T) {
	t.Helper()
	select {
	case <-s.gone:
	case <-time.After(10 * time.Second):
		t.Error("the server never saw the client go away")
	}
}

// SSE helpers: real "data: {...}\n\n" events, flushed one by one.
func sseStart(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
}

func sseData(w http.ResponseWriter, data string) {
	fmt.Fprintf(w, "data: %s\n\n", data)
	w.(http.Flusher).Flush()
}

func chunkJSON(content, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	c, _ := json.Marshal(content)
	return `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"test-model","choices":[{"index":0,"delta":{"content":` + string(c) + `},"finish_reason":` + fr + `}]}`
}

// streamTokens streams the tokens, a finish reason "stop", a usage chunk
// and [DONE].
func streamTokens(w http.ResponseWriter, tokens ...string) {
	sseStart(w)
	sseData(w, `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"test-model","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`)
	for _, tok := range tokens {
		sseData(w, chunkJSON(tok, ""))
	}
	sseData(w, chunkJSON("", "stop"))
	sseData(w, `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"test-model","choices":[],"usage":{"prompt_tokens":321,"completion_tokens":17,"total_tokens":338}}`)
	sseData(w, "[DONE]")
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"test_error"}}`, msg)
}

// Evidence for the LLM tests: three passages about shipping.
func shippingHits(t *testing.T) []kefu.Hit {
	return hits(passage(t, "Do you ship internationally?"), passage(t, "When will my order ship?"), passage(t, "Where is my package?"))
}

// llmService is a Service over the shipping evidence at confidence conf,
// with the server as its global LLM.
func llmService(t *testing.T, srv *llmServer, conf float64, mod func(*Options)) (*Service, *fakeRetriever, *recorder) {
	t.Helper()
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: shippingHits(t), Confidence: conf, Version: 1}}
	rec := &recorder{}
	s := newService(t, ret, newKBs(shopKB()), func(o *Options) {
		o.LLM = srv.settings()
		o.Observer = rec
		o.RetryBackoff = 5 * time.Millisecond
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		o.HTTPClient = &http.Client{Transport: tr}
		if mod != nil {
			mod(o)
		}
	})
	return s, ret, rec
}

const shipQ = "How long does international delivery take?"

// extractiveShip is the extractive answer to shipQ from shippingHits, which
// the fallbacks must serve.
const extractiveShip = "International delivery takes 7-15 business days and import duties are paid by the recipient. [1]"

func TestLLMStreams(t *testing.T) {
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		streamTokens(w, "International orders ", "arrive in 7-15 business days", " [", "1", "]. Duties are paid ", "by the recipient [1].")
	})
	s, _, rec := llmService(t, srv, 0.9, nil)
	var deltas []string
	a, err := s.Ask(t.Context(), kefu.AskRequest{KB: "shop", Question: shipQ}, func(d string) { deltas = append(deltas, d) })
	if err != nil {
		t.Fatal(err)
	}
	want := "International orders arrive in 7-15 business days [1]. Duties are paid by the recipient [1]."
	if a.Route != kefu.RouteGenerated || a.Text != want || a.Disclaimer != "" {
		t.Fatalf("%s\nwant generated %q", show(a), want)
	}
	if strings.Join(deltas, "") != want || len(deltas) < 4 {
		t.Errorf("deltas %q: want the text token by token", deltas)
	}
	// Only the cited evidence is listed.
	if len(a.Citations) != 1 || a.Citations[0].N != 1 || a.Citations[0].ChunkID != "help:Do you ship internationally?" {
		t.Errorf("citations %+v", a.Citations)
	}
	if a.Timings.LLMFirstMS <= 0 || a.Timings.LLMMS < a.Timings.LLMFirstMS || a.Timings.TotalMS < a.Timings.LLMMS {
		t.Errorf("timings %+v", a.Timings)
	}
	// The request: the configured model, key and limits; numbered evidence
	// and the question in the prompt.
	req := srv.body(0)
	if !req.Stream || req.Model != "test-model" || req.MaxTokens != 256 || srv.auth[0] != "Bearer sk-test" {
		t.Errorf("request %+v auth %q", req, srv.auth[0])
	}
	user := req.Messages[len(req.Messages)-1].Content
	for _, s := range []string{"[1] Shop help > shipping\nYes, we ship to 40 countries.", "[2] Shop help", "[3] Shop help", "Question: " + shipQ} {
		if !strings.Contains(user, s) {
			t.Errorf("prompt lacks %q:\n%s", s, user)
		}
	}
	calls := rec.llmCalls()
	if len(calls) != 1 || calls[0].Outcome != "ok" || calls[0].PromptTokens != 321 || calls[0].CompletionTokens != 17 || calls[0].Attempts != 1 {
		t.Errorf("observed %+v", calls)
	}
}

// TestLLMCitations: citations to missing evidence are removed and downgrade
// the answer; so does an answer citing nothing.
func TestLLMCitations(t *testing.T) {
	cases := []struct {
		name   string
		tokens []string
		text   string
		cites  []int
		route  kefu.Route
	}{
		{"valid", []string{"Orders ship in 24 hours [2]; tracking is in My orders [3]."}, "Orders ship in 24 hours [2]; tracking is in My orders [3].", []int{2, 3}, kefu.RouteGenerated},
		{"list", []string{"Both apply 【1，2】."}, "Both apply [1][2].", []int{1, 2}, kefu.RouteGenerated},
		{"dangling", []string{"It takes 7-15 days [1]", " and costs nothing [", "7]."}, "It takes 7-15 days [1] and costs nothing.", []int{1}, kefu.RouteDisclaimer},
		{"none", []string{"It takes about two weeks."}, "It takes about two weeks.", nil, kefu.RouteDisclaimer},
		{"only invalid", []string{"See [4] and [0]."}, "See and.", nil, kefu.RouteDisclaimer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				streamTokens(w, c.tokens...)
			})
			s, _, _ := llmService(t, srv, 0.95, nil)
			a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
			want := c.text
			if c.route == kefu.RouteDisclaimer {
				want += "\n\n" + defaultMessages["en"].Disclaimer
			}
			if a.Route != c.route || a.Text != want {
				t.Fatalf("%s\nwant %s %q", show(a), c.route, want)
			}
			var got []int
			for _, ci := range a.Citations {
				got = append(got, ci.N)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.cites) && !(len(got) == 0 && len(c.cites) == 0) {
				t.Errorf("citations %v, want %v", got, c.cites)
			}
		})
	}
}

// TestLLMBelowThreshold: a generated answer between floor and threshold
// carries the disclaimer in the question's language.
func TestLLMBelowThreshold(t *testing.T) {
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		streamTokens(w, "国际订单一般7-15个工作日送达[1]。")
	})
	s, ret, _ := llmService(t, srv, 0.6, nil)
	ret.set(kefu.Retrieval{Hits: shippingHits(t), Confidence: 0.6})
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "国际快递要多久"})
	want := "国际订单一般7-15个工作日送达[1]。\n\n" + defaultMessages["zh"].Disclaimer
	if a.Route != kefu.RouteDisclaimer || a.Text != want {
		t.Fatalf("%s\nwant %q", show(a), want)
	}
}

// TestLLMNotAskedWithoutEvidence: no hits, low confidence or a confident FAQ
// hit never reach the LLM.
func TestLLMNotAskedWithoutEvidence(t *testing.T) {
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		streamTokens(w, "invented [1]")
	})
	s, ret, _ := llmService(t, srv, 0.9, nil)
	for _, r := range []kefu.Retrieval{
		{Confidence: 0.99},
		{Hits: shippingHits(t), Confidence: 0.2},
		{Hits: hits(faqChunk(t, "Do you ship internationally?")), Confidence: 0.95},
	} {
		ret.set(r)
		a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "anything at all " + fmt.Sprint(r.Confidence)})
		if a.Route != kefu.RouteUnknown && a.Route != kefu.RouteFAQ {
			t.Errorf("%s", show(a))
		}
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("the LLM was called %d times", n)
	}
}

// fallbackCase is an LLM failure and what the server must have seen.
type fallbackCase struct {
	name     string
	h        handler
	requests int32  // requests the server got
	partial  string // text streamed before the failure, "" if none
	outcome  string
	waits    bool // the handler waits for the client to go away
}

func TestLLMFailuresFallBack(t *testing.T) {
	cases := []fallbackCase{
		{name: "stall before first token", requests: 1, outcome: "first_token_timeout", waits: true,
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				sseStart(w)
				w.(http.Flusher).Flush()
				s.wait(r)
			}},
		{name: "stall mid-stream", requests: 1, partial: "International delivery", outcome: "idle_timeout", waits: true,
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				sseStart(w)
				sseData(w, chunkJSON("International ", ""))
				sseData(w, chunkJSON("delivery", ""))
				s.wait(r)
			}},
		{name: "error mid-stream", requests: 1, partial: "International delivery takes", outcome: "error",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				sseStart(w)
				sseData(w, chunkJSON("International delivery takes", ""))
				sseData(w, `{"error":{"message":"model overloaded","type":"server_error"}}`)
			}},
		{name: "400 is not retried", requests: 1, outcome: "status_400",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				apiError(w, http.StatusBadRequest, "context too long")
			}},
		{name: "401 is not retried", requests: 1, outcome: "status_401",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				apiError(w, http.StatusUnauthorized, "bad key")
			}},
		{name: "500 every time", requests: 3, outcome: "status_500",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				apiError(w, http.StatusInternalServerError, "boom")
			}},
		{name: "malformed chunk", requests: 1, partial: "International", outcome: "error",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				sseStart(w)
				sseData(w, chunkJSON("International", ""))
				sseData(w, `{"choices":[{"delta":{"content":"oops"`)
				sseData(w, chunkJSON(" more", "stop"))
				sseData(w, "[DONE]")
			}},
		{name: "cut without finish reason", requests: 1, partial: "International delivery takes 7-15 days [1] and", outcome: "no_finish_reason",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				sseStart(w)
				sseData(w, chunkJSON("International delivery takes 7-15 days [1]", ""))
				sseData(w, chunkJSON(" and", ""))
				sseData(w, chunkJSON(" [", ""))
				// The handler returns: the body ends with no finish reason and no [DONE].
			}},
		{name: "content filter", requests: 1, partial: "International delivery and", outcome: "finish_reason",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				sseStart(w)
				sseData(w, chunkJSON("International delivery and", "content_filter"))
				sseData(w, "[DONE]")
			}},
		{name: "empty answer", requests: 1, outcome: "empty",
			h: func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				streamTokens(w)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newLLMServer(t, c.h)
			s, _, rec := llmService(t, srv, 0.95, func(o *Options) {
				// Short deadlines only where the server stalls; elsewhere a
				// busy machine must not turn the failure under test into a
				// timeout.
				if c.waits {
					o.FirstTokenTimeout, o.IdleTimeout = 500*time.Millisecond, 500*time.Millisecond
				}
			})
			a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
			msgs := defaultMessages["en"]
			want := extractiveShip + "\n\n" + msgs.Fallback
			if c.partial != "" {
				want = c.partial + "\n\n" + msgs.Interrupted + "\n\n" + want
			}
			if a.Route != kefu.RouteDisclaimer || a.Text != want || a.Disclaimer != msgs.Fallback {
				t.Fatalf("%s\nwant %q", show(a), want)
			}
			if len(a.Citations) != 1 || a.Citations[0].N != 1 {
				t.Errorf("citations %+v", a.Citations)
			}
			if n := srv.requests.Load(); n != c.requests {
				t.Errorf("server got %d requests, want %d", n, c.requests)
			}
			if c.waits {
				srv.sawClientGo(t)
			}
			calls := rec.llmCalls()
			if len(calls) != 1 || calls[0].Outcome != c.outcome || calls[0].Attempts != int(c.requests) {
				t.Errorf("observed %+v, want outcome %s", calls, c.outcome)
			}
			if rec.answers[0].Fallback != c.outcome || a.Fallback != c.outcome {
				t.Errorf("answer event %+v, answer fallback %q", rec.answers[0], a.Fallback)
			}
			// A fallback is not cached: the next ask tries the LLM again.
			ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
			if n := srv.requests.Load(); n != 2*c.requests {
				t.Errorf("after a second ask the server got %d requests, want %d", n, 2*c.requests)
			}
		})
	}
}

// TestLLMRetries: 429 and 500 before the first token are retried, and the
// answer is the LLM's.
func TestLLMRetries(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
				if n == 1 {
					apiError(w, status, "try again")
					return
				}
				streamTokens(w, "7-15 business days [1].")
			})
			s, _, rec := llmService(t, srv, 0.95, nil)
			a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
			if a.Route != kefu.RouteGenerated || a.Text != "7-15 business days [1]." {
				t.Fatalf("%s", show(a))
			}
			if n := srv.requests.Load(); n != 2 {
				t.Errorf("server got %d requests, want 2", n)
			}
			if c := rec.llmCalls(); c[0].Attempts != 2 || c[0].Outcome != "ok" {
				t.Errorf("observed %+v", c)
			}
		})
	}
	// A failure after the first token is never retried, whatever it is.
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		sseStart(w)
		sseData(w, chunkJSON("Intern", ""))
		sseData(w, `{"error":{"message":"overloaded","type":"server_error","code":503}}`)
	})
	s, _, _ := llmService(t, srv, 0.95, nil)
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
	if n := srv.requests.Load(); n != 1 || a.Route != kefu.RouteDisclaimer {
		t.Errorf("server got %d requests, route %s", n, a.Route)
	}
}

// TestBreaker: after BreakerFailures failed calls the breaker opens and the
// fallback is served without calling the LLM, so without waiting for any
// deadline; after the cooldown one trial call goes through and closes it.
func TestBreaker(t *testing.T) {
	var healthy atomic.Bool
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		if healthy.Load() {
			streamTokens(w, "7-15 business days [1].")
			return
		}
		apiError(w, http.StatusServiceUnavailable, "down")
	})
	s, _, rec := llmService(t, srv, 0.95, func(o *Options) {
		o.BreakerFailures = 3
		o.BreakerCooldown = time.Second
		o.Retries = -1
		o.CacheSize = -1
	})
	for i := range 3 {
		a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
		if a.Route != kefu.RouteDisclaimer || a.Disclaimer != defaultMessages["en"].Fallback {
			t.Fatalf("ask %d: %s", i, show(a))
		}
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("server got %d requests, want 3", n)
	}
	// Open: the fallback without a request.
	for range 5 {
		a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
		if a.Route != kefu.RouteDisclaimer || a.Text != extractiveShip+"\n\n"+defaultMessages["en"].Fallback {
			t.Fatalf("open breaker: %s", show(a))
		}
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("the open breaker let %d requests through", n-3)
	}
	calls := rec.llmCalls()
	if last := calls[len(calls)-1]; last.Outcome != "breaker_open" || last.Attempts != 0 {
		t.Errorf("last call %+v", last)
	}
	// After the cooldown the LLM is healthy again: a trial call closes it.
	healthy.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
		if a.Route == kefu.RouteGenerated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker never closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.mu.Lock()
	got := strings.Join(rec.breakers, " ")
	rec.mu.Unlock()
	if got != "closed>open open>half-open half-open>closed" {
		t.Errorf("breaker transitions %q", got)
	}
}

// TestCancelCleansUp: a caller that goes away mid-stream gets its context
// error, the LLM request is cancelled (the server sees the client go) and
// no goroutine is left behind.
func TestCancelCleansUp(t *testing.T) {
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		sseStart(w)
		sseData(w, chunkJSON("International ", ""))
		s.wait(r)
	})
	transport := &http.Transport{}
	s, _, _ := llmService(t, srv, 0.95, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: transport}
	})
	// Everything running now (the server, the service's LRU janitors) stays.
	leaks := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.Ask(ctx, kefu.AskRequest{KB: "shop", Question: shipQ}, func(d string) { cancel() })
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Ask after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ask did not return after its caller cancelled")
	}
	srv.sawClientGo(t)
	transport.CloseIdleConnections()
	goleak.VerifyNone(t, leaks)
}

// TestLLMSettingsPerKB: a KB's LLM overrides the global one field by field,
// and the global key is not sent to another base URL.
func TestLLMSettingsPerKB(t *testing.T) {
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		streamTokens(w, "7-15 business days [1].")
	})
	kb := shopKB()
	kb.Settings.LLM = &kefu.LLMSettings{BaseURL: srv.URL + "/v1", Model: "kb-model", Temperature: 0.3}
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: shippingHits(t), Confidence: 0.9}}
	s := newService(t, ret, newKBs(kb), func(o *Options) {
		o.LLM = &kefu.LLMSettings{BaseURL: "http://127.0.0.1:1/v1", Model: "global", APIKey: "sk-global", MaxTokens: 100}
	})
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
	if a.Route != kefu.RouteGenerated {
		t.Fatalf("%s", show(a))
	}
	req := srv.body(0)
	if req.Model != "kb-model" || req.MaxTokens != 100 || req.Temperature < 0.29 || req.Temperature > 0.31 {
		t.Errorf("request %+v", req)
	}
	if srv.auth[0] == "Bearer sk-global" {
		t.Error("the global API key was sent to the KB's own base URL")
	}
}

// TestFollowUpLLMRewrite: with an LLM, a follow-up is rewritten by it, and
// retrieval runs the rewritten query; a rewrite that stalls falls back to the
// heuristic.
func TestFollowUpLLMRewrite(t *testing.T) {
	var stall atomic.Bool
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		if !req.Stream {
			if stall.Load() {
				s.wait(r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"r1","object":"chat.completion","created":1,"model":"test-model","choices":[{"index":0,"message":{"role":"assistant","content":"How long does international shipping take?"},"finish_reason":"stop"}]}`)
			return
		}
		streamTokens(w, "7-15 business days [1].")
	})
	s, ret, _ := llmService(t, srv, 0.9, func(o *Options) { o.RewriteTimeout = 2 * time.Second })
	ask(t, s, kefu.AskRequest{KB: "shop", Question: "Do you ship internationally?", ConversationID: "u1"})
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "and how long does it take?", ConversationID: "u1"})
	if a.Query != "How long does international shipping take?" || ret.queries[len(ret.queries)-1] != a.Query {
		t.Fatalf("query %q, retrieved %q", a.Query, ret.queries)
	}
	if a.Timings.RewriteMS <= 0 {
		t.Errorf("timings %+v", a.Timings)
	}
	// The rewrite prompt carried the conversation.
	rw := srv.body(int(srv.requests.Load()) - 2)
	if rw.Stream || !strings.Contains(rw.Messages[1].Content, "Customer: Do you ship internationally?") {
		t.Errorf("rewrite request %+v", rw)
	}
	// The same follow-up in another conversation hits the cache under the
	// rewrite, and the answer still says which query it answered.
	ask(t, s, kefu.AskRequest{KB: "shop", Question: "Do you ship internationally?", ConversationID: "u9"})
	if b := ask(t, s, kefu.AskRequest{KB: "shop", Question: "and how long does it take?", ConversationID: "u9"}); !b.Cached || b.Query != a.Query {
		t.Errorf("cached follow-up: cached %v, query %q", b.Cached, b.Query)
	}
	stall.Store(true)
	// The question alone retrieves weakly, so the heuristic's rewrite is used.
	ret.mu.Lock()
	ret.byQuery = map[string]kefu.Retrieval{"what about returns?": {Hits: shippingHits(t), Confidence: 0.1}}
	ret.mu.Unlock()
	a = ask(t, s, kefu.AskRequest{KB: "shop", Question: "what about returns?", ConversationID: "u1"})
	if a.Query != "long international shipping take returns" {
		t.Errorf("heuristic fallback query %q", a.Query)
	}
	srv.sawClientGo(t)
}

// TestKBHTTPClient: the client for LLMs a KB names connects to listed
// hosts, and elsewhere only to public addresses — checked on the address a
// name resolves to, as the connection is made — and follows no redirect.
func TestKBHTTPClient(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://example.com/", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	get := func(c *http.Client, url string) error {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	forbidden := func(err error) bool {
		var ke *kefu.Error
		return errors.As(err, &ke) && ke.Code == kefu.EFORBIDDEN
	}
	open := kbHTTPClient(&kefu.LLMHosts{})
	if err := get(open, srv.URL); !forbidden(err) {
		t.Errorf("a loopback address: %v", err)
	}
	if host, _ := os.Hostname(); host != "" {
		addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
		if err == nil && len(addrs) > 0 && !kefu.PublicAddr(addrs[0]) {
			if err := get(open, "http://"+net.JoinHostPort(host, port)); !forbidden(err) || !strings.Contains(err.Error(), "resolved to") {
				t.Errorf("a name of an internal address (%s → %v): %v", host, addrs, err)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("an internal address was reached %d times", n)
	}
	listed := kbHTTPClient(&kefu.LLMHosts{Allow: []string{"127.0.0.1:" + port}})
	if err := get(listed, srv.URL); err != nil || hits.Load() != 1 {
		t.Errorf("a listed host: %v", err)
	}
	if err := get(listed, srv.URL+"/redirect"); !errors.Is(err, errRedirect) {
		t.Errorf("a redirect: %v", err)
	}
}

// TestRedactKey: an LLM error quoting the key is logged without it, and
// keeps its cause.
func TestRedactKey(t *testing.T) {
	cause := &openai.APIError{HTTPStatusCode: 401, Message: "Incorrect API key provided: sk-abc123"}
	err := redactKey(cause, "sk-abc123")
	var ae *openai.APIError
	if strings.Contains(err.Error(), "sk-abc123") || !strings.Contains(err.Error(), kefu.RedactedKey) || !errors.As(err, &ae) {
		t.Errorf("%v", err)
	}
	if redactKey(cause, "") != error(cause) || redactKey(nil, "k") != nil {
		t.Error("nothing to redact")
	}
}
