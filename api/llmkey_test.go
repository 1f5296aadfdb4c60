package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/api"
)

// llmRecorder is a stand-in LLM server that records the Authorization
// header of every request and fails it with a 401 whose message quotes the
// header back, as the worst LLM server might. It proves what reached it,
// not how a real LLM would answer.
type llmRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newLLMRecorder(t *testing.T) *llmRecorder {
	r := &llmRecorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error"}}`, req.Header.Get("Authorization"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *llmRecorder) url() string { return r.srv.URL + "/v1" }

func (r *llmRecorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// llmKeyServer serves the stack with an answerer that logs to logs, checks
// the LLMs KBs name against hosts, and caches nothing.
func llmKeyServer(t *testing.T, s *realStack, hosts *kefu.LLMHosts, logs *syncBuffer) string {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ans, err := answer.New(answer.Options{Retriever: s.ret, KBs: s.store, AnswerLog: s.store, Logger: log, KBHosts: hosts, CacheSize: -1, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.config()
	cfg.Answerer, cfg.Logger, cfg.LLMHosts = ans, log, hosts
	_, base := serve(t, cfg)
	return base
}

// TestLLMKeyGoesOnlyWhereGiven: an admin limited to one KB changes its
// LLM's base_url; the stored key is dropped unless given again, so no
// request carrying it reaches the new URL. base_url must be http(s) with a
// host, and may not be an internal address. The old server kept the key
// and sent it to the new URL.
func TestLLMKeyGoesOnlyWhereGiven(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	a, b := newLLMRecorder(t), newLLMRecorder(t)
	base := llmKeyServer(t, s, &kefu.LLMHosts{Allow: []string{"127.0.0.1"}}, &syncBuffer{})
	const kb, secret = "exfil", "sk-exfil-7f3a9c"
	admin := s.newKey(t, kefu.ScopeAdmin, kb)
	t.Cleanup(func() { s.store.DeleteKB(ctx, kb) })
	settings := func(llm map[string]any) map[string]any {
		return map[string]any{"settings": map[string]any{"threshold": 0.05, "floor": 0.01, "llm": llm}}
	}
	if r := call(t, "POST", base+"/v1/kbs", admin, map[string]any{"name": kb, "settings": map[string]any{
		"threshold": 0.05, "floor": 0.01, "llm": map[string]any{"base_url": a.url(), "model": "m", "api_key": secret}}}, nil); r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, bodyOf(r))
	}
	if job, err := s.ing.Ingest(ctx, kb, []kefu.Upload{{Name: "warranty.md", Size: int64(len(guideDoc)), Open: opener(guideDoc)}}, nil); err != nil || job.Done != 1 {
		t.Fatalf("ingest: %+v %v", job, err)
	}
	ask := func() {
		t.Helper()
		if r := call(t, "POST", base+"/v1/kbs/"+kb+"/ask", admin, map[string]string{"question": "How long is the kettle warranty?"}, nil); r.StatusCode != 200 {
			t.Fatalf("ask: %d %s", r.StatusCode, bodyOf(r))
		}
	}
	ask()
	if got := a.calls(); len(got) == 0 || got[0] != "Bearer "+secret {
		t.Fatalf("the LLM the key was given for got %q", got)
	}

	// base_url alone changes: the key is dropped, B never sees it.
	if r := call(t, "PATCH", base+"/v1/kbs/"+kb, admin, settings(map[string]any{"base_url": b.url()}), nil); r.StatusCode != 200 {
		t.Fatalf("patch base_url: %d %s", r.StatusCode, bodyOf(r))
	}
	ask()
	if got := b.calls(); len(got) == 0 || strings.Contains(strings.Join(got, " "), secret) {
		t.Fatalf("the new base_url got %q", got)
	}
	stored, _ := s.store.KB(ctx, kb)
	if stored.Settings.LLM.APIKey != "" || stored.Settings.LLM.BaseURL != b.url() {
		t.Fatalf("stored LLM settings %+v", stored.Settings.LLM)
	}

	// The placeholder is not the key given again; going back to A does not
	// bring the key back either.
	call(t, "PATCH", base+"/v1/kbs/"+kb, admin, settings(map[string]any{"base_url": a.url(), "api_key": api.RedactedKey}), nil)
	if stored, _ := s.store.KB(ctx, kb); stored.Settings.LLM.APIKey != "" {
		t.Fatalf("the placeholder brought the key back: %+v", stored.Settings.LLM)
	}
	// A key given with the new base_url goes there.
	call(t, "PATCH", base+"/v1/kbs/"+kb, admin, settings(map[string]any{"base_url": b.url(), "api_key": "sk-for-b"}), nil)
	ask()
	if got := b.calls(); got[len(got)-1] != "Bearer sk-for-b" {
		t.Fatalf("the key given with the base_url did not go with it: %q", got)
	}

	for _, c := range []struct {
		url    string
		status int
	}{
		{"file:///etc/passwd", 400},
		{"ftp://example.com/v1", 400},
		{"http://user:pass@" + strings.TrimPrefix(a.url(), "http://"), 400},
		{"http://169.254.169.254/latest/meta-data", 403}, // internal, and not listed
		{"https://llm.example.org/v1", 403},              // public, but not listed
	} {
		var e errorBody
		r := call(t, "PATCH", base+"/v1/kbs/"+kb, admin, settings(map[string]any{"base_url": c.url}), &e)
		if r.StatusCode != c.status || !strings.Contains(e.Error.Message, "settings.llm.base_url") {
			t.Errorf("base_url %s: %d %+v", c.url, r.StatusCode, e)
		}
	}
}

// TestKBLLMHostResolvedWhenDialled: a base_url whose name resolves to an
// internal address passes when written (names are not resolved then) but
// is refused when the answerer connects: the LLM is never reached and the
// answer falls back.
func TestKBLLMHostResolvedWhenDialled(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	host, _ := os.Hostname()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 || kefu.PublicAddr(addrs[0]) {
		t.Skipf("this machine's name %q does not resolve to an internal address (%v %v)", host, addrs, err)
	}
	rec := newLLMRecorder(t)
	base := llmKeyServer(t, s, &kefu.LLMHosts{}, &syncBuffer{})
	const kb = "rebind"
	admin := s.newKey(t, kefu.ScopeAdmin, kb)
	t.Cleanup(func() { s.store.DeleteKB(ctx, kb) })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rec.srv.URL, "http://"))
	if r := call(t, "POST", base+"/v1/kbs", admin, map[string]any{"name": kb, "settings": map[string]any{
		"threshold": 0.05, "floor": 0.01, "llm": map[string]any{"base_url": "http://" + net.JoinHostPort(host, port) + "/v1", "model": "m"}}}, nil); r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, bodyOf(r))
	}
	if job, err := s.ing.Ingest(ctx, kb, []kefu.Upload{{Name: "warranty.md", Size: int64(len(guideDoc)), Open: opener(guideDoc)}}, nil); err != nil || job.Done != 1 {
		t.Fatalf("ingest: %+v %v", job, err)
	}
	var ans kefu.Answer
	if r := call(t, "POST", base+"/v1/kbs/"+kb+"/ask", admin, map[string]string{"question": "How long is the kettle warranty?"}, &ans); r.StatusCode != 200 || ans.Fallback == "" {
		t.Fatalf("ask: %d %+v", r.StatusCode, ans)
	}
	if got := rec.calls(); len(got) != 0 {
		t.Fatalf("the LLM at an internal address was reached: %q", got)
	}
}

// TestLLMKeyNeverShown sets a distinctive key and walks create, get, list,
// patch, ask (JSON and streamed) and chat completions against an LLM that
// fails quoting the key back: the key is in no response body and no log
// line.
func TestLLMKeyNeverShown(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	rec := newLLMRecorder(t)
	logs := &syncBuffer{}
	base := llmKeyServer(t, s, &kefu.LLMHosts{Allow: []string{"127.0.0.1"}}, logs)
	const kb, secret = "secret-kb", "sk-distinctive-4b1d0c8e"
	admin := s.newKey(t, kefu.ScopeAdmin, kb)
	t.Cleanup(func() { s.store.DeleteKB(ctx, kb) })
	var bodies []string
	do := func(method, path string, body any, hdr ...string) {
		t.Helper()
		r := call(t, method, base+path, admin, body, nil)
		if len(hdr) > 0 { // streamed: send again with the Accept header
			req, _ := http.NewRequest(method, base+path, strings.NewReader(fmt.Sprint(body)))
			req.Header.Set("Authorization", "Bearer "+admin)
			req.Header.Set("Accept", hdr[0])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			bodies = append(bodies, b.String())
		}
		if r.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, r.StatusCode, bodyOf(r))
		}
		bodies = append(bodies, bodyOf(r))
	}
	do("POST", "/v1/kbs", map[string]any{"name": kb, "settings": map[string]any{"threshold": 0.05, "floor": 0.01,
		"llm": map[string]any{"base_url": rec.url(), "model": "m", "api_key": secret}}})
	if job, err := s.ing.Ingest(ctx, kb, []kefu.Upload{{Name: "warranty.md", Size: int64(len(guideDoc)), Open: opener(guideDoc)}}, nil); err != nil || job.Done != 1 {
		t.Fatalf("ingest: %+v %v", job, err)
	}
	do("GET", "/v1/kbs/"+kb, nil)
	do("GET", "/v1/kbs", nil)
	do("PATCH", "/v1/kbs/"+kb, map[string]any{"settings": map[string]any{"llm": map[string]any{"model": "m2", "api_key": api.RedactedKey}}})
	do("POST", "/v1/kbs/"+kb+"/ask", map[string]string{"question": "How long is the kettle warranty?"})
	do("POST", "/v1/kbs/"+kb+"/ask", `{"question":"What does the warranty cover?"}`, "text/event-stream")
	do("POST", "/v1/chat/completions", map[string]any{"model": kb, "messages": []map[string]string{{"role": "user", "content": "Is the lid hinge covered?"}}})
	if got := rec.calls(); len(got) < 3 || got[0] != "Bearer "+secret {
		t.Fatalf("the LLM was not called with the key: %q", got)
	}
	for i, b := range bodies {
		if strings.Contains(b, secret) {
			t.Errorf("response %d shows the key: %s", i, b)
		}
	}
	if l := logs.String(); !strings.Contains(l, "llm answer failed") || strings.Contains(l, secret) {
		t.Errorf("the key is in the logs (or the LLM's failure was not logged):\n%s", l)
	}
}
