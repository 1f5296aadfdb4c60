package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// fakeLLM is a local OpenAI-compatible chat API that streams a fixed
// answer token by token, as the answerer's LLM. It stands in for a third
// party service; everything else in these tests is the real stack.
type fakeLLM struct {
	srv    *httptest.Server
	tokens []string
	delay  time.Duration
	// hold makes each stream stop after its first token until the request
	// is cancelled (or 30 s pass).
	hold bool

	mu         sync.Mutex
	requests   int
	cancelled  int
	requestIDs []string      // the X-Request-ID of each request
	started    chan struct{} // one value per request that sent its first token
}

func newFakeLLM(t *testing.T, tokens []string, delay time.Duration, hold bool) *fakeLLM {
	f := &fakeLLM{tokens: tokens, delay: delay, hold: hold, started: make(chan struct{}, 64)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) settings() *kefu.LLMSettings {
	return &kefu.LLMSettings{BaseURL: f.srv.URL + "/v1", Model: "fake", MaxTokens: 256, ContextTokens: 4096}
}

func (f *fakeLLM) counts() (requests, cancelled int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.cancelled
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream bool `json:"stream"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	f.requests++
	f.requestIDs = append(f.requestIDs, r.Header.Get("X-Request-ID"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(content string, finish string) {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		c, _ := json.Marshal(content)
		fmt.Fprintf(w, "data: {\"id\":\"f1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":%s}]}\n\n", c, fr)
		w.(http.Flusher).Flush()
	}
	cancelled := func() {
		f.mu.Lock()
		f.cancelled++
		f.mu.Unlock()
	}
	for i, tok := range f.tokens {
		chunk(tok, "")
		if i == 0 {
			f.started <- struct{}{}
			if f.hold {
				select {
				case <-r.Context().Done():
					cancelled()
					return
				case <-time.After(30 * time.Second):
				}
			}
		}
		select {
		case <-r.Context().Done():
			cancelled()
			return
		case <-time.After(f.delay):
		}
	}
	chunk("", "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
}

var kbSeq int

// started waits for the LLM to have sent a first token.
func (f *fakeLLM) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-f.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the LLM was not called")
	}
}

// guideDoc is the passage the LLM KB answers from.
const guideDoc = `# Warranty

Every kefu kettle has a warranty of two years from the day of delivery.
The warranty covers defects of the heating element and the lid hinge.
`

// llmKB creates a KB of passages answered by llm (thresholds low enough
// that the warranty question is answered by the LLM) and returns its name:
// name with a fresh suffix, as answers cached for a deleted KB of the same
// name would be served (the answer cache keys on name and version).
func (s *realStack) llmKB(t *testing.T, name string, llm *fakeLLM) string {
	t.Helper()
	ctx := context.Background()
	kbSeq++
	name = fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano()%1e6, kbSeq)
	set := kefu.DefaultSettings()
	set.Threshold, set.Floor, set.LLM = 0.05, 0.01, llm.settings()
	if err := s.store.CreateKB(ctx, &kefu.KB{Name: name, Model: s.emb.ModelID(), Dim: s.emb.Model().Dim, Settings: set}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteKB(ctx, name) })
	job, err := s.ing.Ingest(ctx, name, []kefu.Upload{{Name: "warranty.md", Size: int64(len(guideDoc)), Open: opener(guideDoc)}}, nil)
	if err != nil || job.Done != 1 {
		t.Fatalf("ingest: %+v %v", job, err)
	}
	return name
}

// warrantyTokens is the fake LLM's answer to the warranty question.
var warrantyTokens = []string{"Every ", "kettle ", "has ", "a ", "two-year ", "warranty ", "from ", "delivery ", "[1]", "."}

const warrantyText = "Every kettle has a two-year warranty from delivery [1]."
