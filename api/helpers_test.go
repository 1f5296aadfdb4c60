package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/archive"
	"github.com/kefu-dev/kefu/desk"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/models"
	"github.com/kefu-dev/kefu/retrieve"
)

// realStack is the whole kefu stack on a temporary data directory: the
// embedded store, the use-lite-en model, the retriever, the answerer and
// the ingest service, with the shop FAQ ingested into KB "shop".
type realStack struct {
	dir     string
	store   *index.Store
	emb     kefu.Embedder
	metrics *api.Metrics
	ret     *retrieve.Retriever
	ans     *answer.Service // the bot behind desk
	desk    *desk.Service
	ing     *ingest.Service
	faq     []faqEntry // the shop FAQ as read from the CSV
}

type faqEntry struct{ question, answer, lang string }

var (
	stackOnce sync.Once
	stack     *realStack
	stackErr  error
	stackDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stack != nil {
		stack.store.Close()
		stack.emb.Close()
	}
	if stackDir != "" {
		os.RemoveAll(stackDir)
	}
	os.Exit(code)
}

// getStack builds the shared stack on first use.
func getStack(t *testing.T) *realStack {
	t.Helper()
	modelDir := testenv.Model(t, "use-lite-en")
	lib := testenv.RequireORT(t)
	csvPath := testenv.Shared(t, "data/demo/shop_faq.csv")
	stackOnce.Do(func() { stack, stackErr = buildStack(modelDir, lib, csvPath) })
	if stackErr != nil {
		t.Fatal(stackErr)
	}
	return stack
}

func buildStack(modelDir, lib, csvPath string) (*realStack, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kefu-api-test-")
	if err != nil {
		return nil, err
	}
	stackDir = dir
	spec, err := models.Resolve(modelDir, models.ResolveOptions{Offline: true})
	if err != nil {
		return nil, err
	}
	if err := embed.InitRuntime(lib); err != nil {
		return nil, err
	}
	e, err := embed.New(spec, embed.Options{ORTLib: lib, Sessions: 1})
	if err != nil {
		return nil, err
	}
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		return nil, err
	}
	s := &realStack{dir: dir, store: st, metrics: api.NewMetrics()}
	s.emb = s.metrics.Embedder(e)
	s.ret = &retrieve.Retriever{Index: st, KBs: st, Embedder: s.emb}
	s.ing = &ingest.Service{Store: st, Embedder: s.emb, OnFinish: s.metrics.ObserveJob} // as cmd/kefu wires it
	obs := observer{s.metrics}
	// As cmd/kefu wires them: the desk logs the bot's answers.
	s.ans, err = answer.New(answer.Options{Retriever: s.ret, KBs: st, Observer: obs, Logger: discard()})
	if err != nil {
		return nil, err
	}
	s.desk, err = desk.New(desk.Options{Store: st, Log: st, Answerer: s.ans, KBs: st, Channels: st, Logger: discard()})
	if err != nil {
		return nil, err
	}
	if err := st.CreateKB(ctx, &kefu.KB{Name: "shop", Model: e.ModelID(), Dim: spec.Dim, Settings: kefu.DefaultSettings()}); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(csvPath)
	if err != nil {
		return nil, err
	}
	job, err := s.ing.Ingest(ctx, "shop", []kefu.Upload{{Name: "shop_faq.csv", Size: int64(len(data)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}, nil)
	if err != nil {
		return nil, err
	}
	if job.Done != 1 || len(job.Failed) > 0 {
		return nil, fmt.Errorf("ingesting the shop FAQ: %+v", job)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, err
	}
	for _, r := range recs[1:] {
		s.faq = append(s.faq, faqEntry{question: r[0], answer: r[1], lang: r[3]})
	}
	return s, nil
}

// faqAnswer returns the FAQ's answer to question, read from the CSV.
func (s *realStack) faqAnswer(t *testing.T, question string) string {
	t.Helper()
	for _, f := range s.faq {
		if f.question == question {
			return f.answer
		}
	}
	t.Fatalf("no FAQ entry %q in shop_faq.csv", question)
	return ""
}

// observer forwards the answerer's metrics as cmd/kefu does.
type observer struct{ m *api.Metrics }

func (o observer) ObserveAnswer(ev answer.AnswerEvent) {
	o.m.ObserveAnswer(ev.Route, ev.Cached, ev.Fallback, ev.Total)
}
func (o observer) ObserveLLM(c answer.LLMCall) {
	o.m.ObserveLLM(c.Kind, c.Outcome, c.FirstToken, c.Total, c.PromptTokens, c.CompletionTokens)
}
func (o observer) ObserveBreaker(endpoint, from, to string) { o.m.ObserveBreaker(endpoint, from, to) }

// config returns a server configuration over the stack.
func (s *realStack) config() api.Config {
	return api.Config{
		Store: s.store, Retriever: s.ret, Answerer: s.desk, Ingester: s.ing, Embedder: s.emb,
		Keys: s.store, AnswerLog: s.store, Reports: s.store, Metrics: s.metrics,
		Desk: s.desk, Webhooks: s.store, Channels: s.store, FAQ: s.ing,
		Archiver: archive.Archiver{Store: s.store, Embedder: s.emb}, Evaluator: &scriptedEvaluator{},
	}
}

// serve runs a server with cfg on a random loopback port until the test
// ends, and returns its base URL.
func serve(t *testing.T, cfg api.Config) (*api.Server, string) {
	t.Helper()
	srv, base := serveManual(t, cfg)
	t.Cleanup(func() { stopServer(t, srv) })
	return srv, base
}

var (
	servingMu sync.Mutex
	serving   = map[*api.Server]chan struct{}{}
)

// serveManual starts a server that the test stops with stopServer (or that
// is stopped when the test ends).
func serveManual(t *testing.T, cfg api.Config) (*api.Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	srv := api.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	servingMu.Lock()
	serving[srv] = done
	servingMu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() { stopServer(t, srv) })
	return srv, "http://" + ln.Addr().String()
}

// stopServer shuts a server down and waits until it has stopped serving.
func stopServer(t *testing.T, srv *api.Server) {
	servingMu.Lock()
	done, ok := serving[srv]
	delete(serving, srv)
	servingMu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	<-done
}

func opener(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

// newKey stores a key and returns its secret.
func (s *realStack) newKey(t *testing.T, scope kefu.Scope, kb string) string {
	t.Helper()
	secret, k, err := api.NewKey(scope, kb, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteKey(context.Background(), k.ID) })
	return secret
}

// newPublicKey stores a public key of kb for origins and returns its secret.
func (s *realStack) newPublicKey(t *testing.T, kb string, origins ...string) string {
	t.Helper()
	secret, k, err := api.NewKey(kefu.ScopePublic, kb, t.Name(), origins...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteKey(context.Background(), k.ID) })
	return secret
}

// streamStatus opens an event stream, returns its status (and the body of
// an error), and closes it.
func streamStatus(t *testing.T, url, key string, h http.Header) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := getWith(t, ctx, url, key, h)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, ""
}

// call makes one request and decodes a JSON answer into out (when not nil).
func call(t *testing.T, method, url, key string, body any, out any) *http.Response {
	t.Helper()
	return callHeaders(t, method, url, key, body, nil, out)
}

// callHeaders is call with more request headers.
func callHeaders(t *testing.T, method, url, key string, body any, h http.Header, out any) *http.Response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
		ct = "application/json"
	case string:
		rd = strings.NewReader(b)
		ct = "application/json"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, body %q: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// waitJob polls a job until it ends.
func waitJob(t *testing.T, base, key, id string) kefu.Job {
	t.Helper()
	for i := 0; i < 600; i++ {
		var j kefu.Job
		if r := call(t, "GET", base+"/v1/jobs/"+id, key, nil, &j); r.StatusCode != 200 {
			t.Fatalf("job %s: %d %s", id, r.StatusCode, bodyOf(r))
		}
		if j.State == kefu.JobDone || j.State == kefu.JobFailed || j.State == kefu.JobCancelled {
			return j
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish in a minute", id)
	return kefu.Job{}
}

// getWith sends a GET with key (when given) and the headers h.
func getWith(t *testing.T, ctx context.Context, url, key string, h http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
