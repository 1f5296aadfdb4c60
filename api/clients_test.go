package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// The real-client tests drive a running server with clients that are not
// ours: the official openai npm package, the ws npm package and curl.

// tool finds a program the real-client tests need; `make test` installs
// them (scripts/test-deps.sh), elsewhere the test is skipped.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEFU_REQUIRE_SHARED") == "1" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// nodeScript returns node and the path of a script of tests/clients, whose
// packages scripts/test-deps.sh installs with npm ci.
func nodeScript(t *testing.T, name string) (string, string) {
	t.Helper()
	node := tool(t, "node")
	dir := filepath.Join(testenv.ModuleRoot(), "tests", "clients")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if os.Getenv("KEFU_REQUIRE_SHARED") == "1" {
			t.Fatalf("tests/clients/node_modules is missing: run scripts/test-deps.sh")
		}
		t.Skip("tests/clients/node_modules is missing: run scripts/test-deps.sh")
	}
	return node, filepath.Join(dir, name)
}

// runLines runs a command and returns its standard output's JSON lines.
func runLines(t *testing.T, name string, args ...string) []map[string]json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out, stderr.String())
	}
	var lines []map[string]json.RawMessage
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func field[T any](t *testing.T, m map[string]json.RawMessage, key string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m[key], &v); err != nil {
		t.Fatalf("field %s (%s): %v", key, m[key], err)
	}
	return v
}

const refundQ = "How do I request a refund?"

func TestOpenAINodeSDK(t *testing.T) {
	s := getStack(t)
	node, script := nodeScript(t, "openai.mjs")
	_, base := serve(t, s.config())
	key := s.newKey(t, kefu.ScopeQuery, "")
	want := s.faqAnswer(t, refundQ)

	steps := map[string]map[string]json.RawMessage{}
	for _, l := range runLines(t, node, script, base, key, "shop", refundQ) {
		steps[field[string](t, l, "step")] = l
	}
	ids := field[[]string](t, steps["models"], "ids")
	if len(ids) < 2 || ids[len(ids)-1] != s.emb.Model().Name || !contains(ids, "shop") {
		t.Fatalf("models: %v", ids)
	}

	chat := steps["chat"]
	var kf struct {
		Route      string  `json:"route"`
		Confidence float64 `json:"confidence"`
	}
	kf = field[struct {
		Route      string  `json:"route"`
		Confidence float64 `json:"confidence"`
	}](t, chat, "kefu")
	cites := field[[]kefu.Citation](t, chat, "citations")
	if c := field[string](t, chat, "content"); c != want {
		t.Fatalf("chat content %q, want the FAQ answer %q", c, want)
	}
	if field[string](t, chat, "object") != "chat.completion" || field[string](t, chat, "finish_reason") != "stop" ||
		kf.Route != string(kefu.RouteFAQ) || kf.Confidence < kefu.DefaultThreshold ||
		len(cites) != 1 || cites[0].DocID != "shop_faq.csv" || !strings.HasPrefix(want, strings.TrimSuffix(cites[0].Snippet, "…")) {
		t.Fatalf("chat: kefu %+v, citations %+v", kf, cites)
	}
	if u := field[map[string]int](t, chat, "usage"); u["completion_tokens"] == 0 || u["total_tokens"] != u["prompt_tokens"]+u["completion_tokens"] {
		t.Fatalf("usage %v", u)
	}

	st := steps["stream"]
	if c := field[string](t, st, "content"); c != want {
		t.Fatalf("streamed content %q, want %q", c, want)
	}
	if field[string](t, st, "finish_reason") != "stop" || field[int](t, st, "chunks") < 3 {
		t.Fatalf("stream: %s", st["chunks"])
	}
	if c := field[[]kefu.Citation](t, st, "citations"); len(c) != 1 || c[0].DocID != "shop_faq.csv" {
		t.Fatalf("stream citations %s", st["citations"])
	}
	if u := field[map[string]int](t, st, "usage"); u["completion_tokens"] == 0 {
		t.Fatalf("stream usage %s", st["usage"])
	}

	// Embeddings: the SDK's default base64 and explicit floats decode to
	// the vectors the model gives here.
	emb := steps["embeddings"]
	b64 := field[[][]float64](t, emb, "base64")
	flt := field[[][]float64](t, emb, "float")
	vecs, err := s.emb.EmbedPassages(context.Background(), []string{refundQ, "something else entirely"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b64) != 2 || len(flt) != 1 || len(b64[0]) != s.emb.Model().Dim {
		t.Fatalf("embeddings: %d base64 of %d dims, %d float", len(b64), len(b64[0]), len(flt))
	}
	for i, v := range vecs {
		for j, x := range v {
			if math.Abs(b64[i][j]-float64(x)) > 1e-6 {
				t.Fatalf("base64 vector %d[%d] = %v, want %v", i, j, b64[i][j], x)
			}
		}
	}
	for j, x := range vecs[0] {
		if math.Abs(flt[0][j]-float64(x)) > 1e-6 {
			t.Fatalf("float vector [%d] = %v, want %v", j, flt[0][j], x)
		}
	}
	if e := steps["error"]; field[int](t, e, "status") != 404 || field[string](t, e, "code") != kefu.ENOTFOUND {
		t.Fatalf("unknown model: %s %s", e["status"], e["code"])
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestWSNodeClient(t *testing.T) {
	s := getStack(t)
	node, script := nodeScript(t, "ws.mjs")
	_, base := serve(t, s.config())
	key := s.newKey(t, kefu.ScopeQuery, "shop")
	want := s.faqAnswer(t, refundQ)
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/v1/kbs/shop/chat"

	type result struct {
		Events    []string        `json:"events"`
		Text      string          `json:"text"`
		Citations []kefu.Citation `json:"citations"`
		End       chatMsg         `json:"end"`
	}
	got := map[string]result{}
	closed := -1
	for _, l := range runLines(t, node, script, wsURL, key, refundQ, "I want to file a complaint") {
		for k, v := range l {
			switch k {
			case "closed":
				json.Unmarshal(v, &closed)
			case "bogus":
				var m chatMsg
				json.Unmarshal(v, &m)
				if m.Type != "error" || m.Code != kefu.EINVALID {
					t.Fatalf("unknown message type answered with %+v", m)
				}
			default:
				var r result
				if err := json.Unmarshal(v, &r); err != nil {
					t.Fatal(err)
				}
				got[k] = r
			}
		}
	}
	q1 := got["q1"]
	if q1.Text != want || q1.End.Type != "done" || q1.End.Answer.Text != want || q1.End.Answer.Route != kefu.RouteFAQ {
		t.Fatalf("refund over ws: %+v", q1)
	}
	if len(q1.Citations) != 1 || q1.Citations[0].DocID != "shop_faq.csv" || q1.Events[len(q1.Events)-2] != "citations" {
		t.Fatalf("refund citations: %+v, events %v", q1.Citations, q1.Events)
	}
	if q2 := got["q2"]; q2.End.Type != "handoff" || q2.End.Answer.Route != kefu.RouteHandoff || q2.Text == "" {
		t.Fatalf("complaint over ws: %+v", q2)
	}
	if closed != 1000 {
		t.Fatalf("close code %d", closed)
	}
}

// sseEvents parses a text/event-stream.
func sseEvents(t *testing.T, raw []byte) (names []string, data []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(raw))
	name := ""
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "event: "):
			name = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			names = append(names, name)
			data = append(data, strings.TrimPrefix(l, "data: "))
			name = ""
		}
	}
	return names, data
}

func TestSSECurl(t *testing.T) {
	s := getStack(t)
	curl := tool(t, "curl")
	llm := newFakeLLM(t, warrantyTokens, 20*time.Millisecond, false)
	kb := s.llmKB(t, "sse-llm", llm)
	_, base := serve(t, s.config())
	key := s.newKey(t, kefu.ScopeQuery, "")

	ask := func(kb, question string) ([]string, []string) {
		body, _ := json.Marshal(map[string]string{"question": question})
		out, err := exec.Command(curl, "-sS", "-N", "--fail-with-body", "-H", "Accept: text/event-stream", "-H", "Authorization: Bearer "+key,
			"-H", "Content-Type: application/json", "--data-binary", string(body), base+"/v1/kbs/"+kb+"/ask").Output()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		return sseEvents(t, out)
	}
	check := func(names, data []string, route kefu.Route, text, doc string) {
		t.Helper()
		n := len(names)
		if n < 3 || names[n-2] != "citations" || names[n-1] != "done" {
			t.Fatalf("events %v", names)
		}
		var streamed strings.Builder
		for i, name := range names[:n-2] {
			if name != "delta" {
				t.Fatalf("event %d is %q", i, name)
			}
			var d struct{ Text string }
			json.Unmarshal([]byte(data[i]), &d)
			streamed.WriteString(d.Text)
		}
		var ans kefu.Answer
		json.Unmarshal([]byte(data[n-1]), &ans)
		var cites []kefu.Citation
		json.Unmarshal([]byte(data[n-2]), &cites)
		if streamed.String() != text || ans.Text != text || ans.Route != route || len(cites) != 1 || cites[0].DocID != doc {
			t.Fatalf("streamed %q, answer %q (%s), citations %+v; want %q from %s", streamed.String(), ans.Text, ans.Route, cites, text, doc)
		}
	}
	names, data := ask("shop", refundQ)
	check(names, data, kefu.RouteFAQ, s.faqAnswer(t, refundQ), "shop_faq.csv")
	names, data = ask(kb, "How long is the kettle warranty?")
	if names[1] != "delta" {
		t.Fatalf("the LLM answer came in one piece: %v", names)
	}
	check(names, data, kefu.RouteGenerated, warrantyText, "warranty.md")

	// A missing KB is an HTTP error before any event.
	out, _ := exec.Command(curl, "-sS", "-N", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Accept: text/event-stream",
		"-H", "Authorization: Bearer "+key, "--data-binary", `{"question":"hi"}`, base+"/v1/kbs/nope/ask").Output()
	if string(out) != "404" {
		t.Fatalf("missing KB over SSE: %s", out)
	}
}

// TestSSEClientGoesAway: a client that hangs up mid-stream cancels the
// answer and its LLM request.
func TestSSEClientGoesAway(t *testing.T) {
	s := getStack(t)
	llm := newFakeLLM(t, warrantyTokens, time.Millisecond, true)
	kb := s.llmKB(t, "sse-gone", llm)
	cfg := s.config()
	cfg.DevMode, cfg.StreamHeartbeat = true, 100*time.Millisecond
	defer noLeaks(t)()
	srv, base := serveManual(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := newSSERequest(ctx, base+"/v1/kbs/"+kb+"/ask", `{"question":"How long is the kettle warranty?"}`)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "event: delta\n" {
		t.Fatalf("first line %q %v", line, err)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, "the LLM request to be cancelled", func() bool { _, n := llm.counts(); return n == 1 })
	stopServer(t, srv)
}

var httpClient = &http.Client{}

func newSSERequest(ctx context.Context, url, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
