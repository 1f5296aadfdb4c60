package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kefu-dev/kefu/api/web"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// chromiumPath is Debian's Chromium, which scripts/test-deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// faqAnswer reads the stored answer of question from the FAQ CSV.
func faqAnswer(t *testing.T, path, question string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if len(r) >= 2 && r[0] == question {
			return r[1]
		}
	}
	t.Fatalf("%s has no question %q", path, question)
	return ""
}

var (
	stringsOnce sync.Once
	stringsTab  map[string]map[string]string
)

// str is the console's string for key in lang, from its strings.json.
func str(lang, key string) string {
	stringsOnce.Do(func() {
		b, err := fs.ReadFile(web.FS(), "strings.json")
		if err == nil {
			err = json.Unmarshal(b, &stringsTab)
		}
		if err != nil {
			panic(err)
		}
	})
	s, ok := stringsTab[lang][key]
	if !ok {
		panic(fmt.Sprintf("strings.json: no %s %q", lang, key))
	}
	return s
}

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("KEFU_REQUIRE_SHARED") == "1" {
			t.Fatalf("%s is missing: run scripts/test-deps.sh", chromiumPath)
		}
		t.Skipf("%s is missing: run scripts/test-deps.sh", chromiumPath)
	}
}

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// cliKey runs `kefu keys create` on dataDir with args and returns the
// secret it prints.
func cliKey(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	out := testenv.RunKefu(t, append([]string{"keys", "create", "--data-dir", dataDir}, args...)...)
	var secret string
	for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "kefu_") {
			secret = l
		}
	}
	if secret == "" {
		t.Fatalf("kefu keys create %v printed no key:\n%s", args, out)
	}
	return secret
}

// shopData checks what a browser test of the shop KB needs (ONNX Runtime,
// the model, Chromium), then ingests the demo shop FAQ (document id
// shop_faq.csv) into a new data directory with `kefu ingest`; it returns
// the directory and the FAQ's path.
func shopData(t *testing.T) (data, faq string) {
	t.Helper()
	testenv.RequireORT(t)
	testenv.Model(t, "use-lite-en")
	requireChromium(t)
	faq = testenv.Shared(t, "data/demo/shop_faq.csv")
	data = filepath.Join(t.TempDir(), "data")
	testenv.RunKefu(t, "ingest", "--kb", "shop", "--id", "shop_faq.csv", "--data-dir", data, faq)
	return data, faq
}

// serveConsole serves dataDir with `kefu serve` (testenv.StartServe) until the
// test ends, with extra flags; it returns the base URL once /readyz says
// ready and "/" serves the console.
func serveConsole(t *testing.T, dataDir string, extra ...string) string {
	t.Helper()
	base := testenv.StartServe(t, testenv.ServeOptions{DataDir: dataDir, Args: extra}).URL
	requireConsole(t, base)
	return base
}

// requireConsole fails fast when the server does not serve this package's
// index.html at "/".
func requireConsole(t *testing.T, base string) {
	t.Helper()
	want, err := fs.ReadFile(web.FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("GET / answered %d with %d bytes, not the console's index.html: is web.FS wired into kefu serve?", res.StatusCode, len(got))
	}
}

// newBrowser starts headless Chromium with a fresh profile and the flags this
// closed network needs (no background connections), in English.
func newBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// newDriver opens a browser on a blank page for base.
func newDriver(t *testing.T, base string, width, height int) *driver {
	return &driver{t: t, ctx: newBrowser(t, width, height), base: base}
}

// driver runs browser steps, failing the test with context on error.
type driver struct {
	t       *testing.T
	ctx     context.Context
	base    string
	console []chromedp.ConsoleMessage
	mu      sync.Mutex
	once    sync.Once
}

// stepTimeout bounds one step (a wait included); the machine may be busy.
const stepTimeout = 2 * time.Minute

func (d *driver) do(actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	d.watchConsole()
	d.logToasts()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		d.t.Fatalf("browser: %v", err)
	}
}

func (d *driver) eval(js string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		d.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true.
func (d *driver) waitJS(js string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		d.t.Fatalf("waiting for %s: %v%s", js, err, d.visibleErrors())
	}
}

// waitJSOr waits until the expression is true; on a timeout it reports the
// value of diag.
func (d *driver) waitJSOr(js, diag string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		d.t.Fatalf("waiting for %s: %v; %s is %q%s", js, err, diag, d.eval(`String(`+diag+`)`), d.visibleErrors())
	}
}

func (d *driver) expectEval(js, want string) {
	d.t.Helper()
	if got := d.eval(js); got != want {
		d.t.Errorf("%s = %q, want %q", js, got, want)
	}
}

func (d *driver) expectText(sel, want string) {
	d.t.Helper()
	d.expectEval(`(document.querySelector(`+jsString(sel)+`) || {}).textContent`, want)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// visibleErrors returns the error toasts on screen, to explain a timeout.
func (d *driver) visibleErrors() string {
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...(window.__toastLog || []), ...[...document.querySelectorAll('.toast.error, .form-error:not([hidden])')].map(e => e.textContent)].join(' | ')`))
	if err != nil || v == "" {
		return ""
	}
	return "\nerrors on the page: " + v
}

// logToasts keeps the text of every error notice the page shows in
// window.__toastLog, so a timeout can report notices already gone.
func (d *driver) logToasts() {
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
	  const box = document.getElementById('toasts');
	  if (!box || window.__toastLog) return true;
	  window.__toastLog = [];
	  new MutationObserver((ms) => {
	    for (const m of ms) for (const n of m.addedNodes) if (n.classList && n.classList.contains('error')) window.__toastLog.push(n.textContent);
	  }).observe(box, { childList: true });
	  return true;
	})()`))
}

// watchConsole collects the page's console messages from the first step on.
func (d *driver) watchConsole() {
	d.once.Do(func() {
		msgs := chromedp.Console(d.ctx)
		go func() {
			for m, err := range msgs {
				if err != nil {
					return
				}
				d.mu.Lock()
				d.console = append(d.console, m)
				d.mu.Unlock()
			}
		}()
	})
}

// checkConsole fails on uncaught exceptions and console errors in the page,
// and on failed loads except those whose message names an expected status.
func (d *driver) checkConsole(expected ...string) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.console {
		bad := m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError
		if bad && m.Source == "network" && slices.ContainsFunc(expected, func(s string) bool { return strings.Contains(m.Text, s) }) {
			bad = false
		}
		if bad {
			d.t.Errorf("page console %s (%s:%d)", m, m.URL, m.Line)
		} else {
			d.t.Logf("page console %s", m)
		}
	}
}

// screenshot saves the page to the test's temp dir and, when
// KEFU_SCREENSHOT_DIR is set, there too.
func (d *driver) screenshot(name string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		d.t.Errorf("screenshot: %v", err)
		return
	}
	dirs := []string{d.t.TempDir()}
	if s := os.Getenv("KEFU_SCREENSHOT_DIR"); s != "" {
		dirs = append(dirs, s)
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			d.t.Errorf("screenshot: %v", err)
			continue
		}
		d.t.Logf("screenshot: %s", p)
	}
}

func (d *driver) screenshotOnFailure() {
	if d.t.Failed() {
		d.screenshot("failure.png")
	}
}

// scriptedLLM stands in for the third-party LLM: an OpenAI-compatible
// /v1/chat/completions that streams each request's script in turn. A script
// can hold its stream half-way until the test releases it, so the test sees
// the console mid-answer, and it tells whether the caller went away.
type scriptedLLM struct {
	URL     string
	mu      sync.Mutex
	scripts []*llmScript
	calls   []string // the last user message of each request, for diagnosis
}

// llmScript is one streamed answer: before, then (when hold is not nil) a
// pause until hold is closed, then after.
type llmScript struct {
	before, after []string
	hold          chan struct{}
	started       chan struct{} // closed once before is sent
	gone          chan struct{} // closed when the caller left during the pause
}

func newScript(before []string, hold bool, after []string) *llmScript {
	s := &llmScript{before: before, after: after, started: make(chan struct{}), gone: make(chan struct{})}
	if hold {
		s.hold = make(chan struct{})
	}
	return s
}

func newScriptedLLM(t *testing.T, scripts ...*llmScript) *scriptedLLM {
	l := &scriptedLLM{scripts: scripts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", l.serve)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() {
		for _, s := range scripts {
			if s.hold != nil {
				select {
				case <-s.hold:
				default:
					close(s.hold)
				}
			}
		}
		srv.Close()
	})
	l.URL = "http://" + ln.Addr().String() + "/v1"
	return l
}

func (l *scriptedLLM) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []struct{ Role, Content string }
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	last := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			last = m.Content
		}
	}
	l.mu.Lock()
	l.calls = append(l.calls, last)
	var s *llmScript
	if len(l.scripts) > 0 {
		s, l.scripts = l.scripts[0], l.scripts[1:]
	}
	l.mu.Unlock()
	if s == nil {
		s = newScript([]string{"No script left for this request."}, false, nil)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	send := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "scripted",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		fmt.Fprintf(w, "data: %s\n\n", b)
		flusher.Flush()
	}
	send(map[string]any{"role": "assistant", "content": ""}, nil)
	for _, p := range s.before {
		send(map[string]any{"content": p}, nil)
	}
	close(s.started)
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-r.Context().Done():
			close(s.gone)
			return
		}
	}
	for _, p := range s.after {
		send(map[string]any{"content": p}, nil)
	}
	send(map[string]any{}, "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

// Calls returns the last user message of each request so far.
func (l *scriptedLLM) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}
