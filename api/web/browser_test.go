package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kefu-dev/kefu/api/web"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// chromiumPath is Debian's Chromium, which scripts/test-deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// faqQuestion is asked in the chat playground; its stored answer is read
// from the shop FAQ itself.
const faqQuestion = "How long does a refund take?"

// TestConsoleInBrowser drives the console in headless Chromium against a real
// `kefu serve`: create a KB, upload the shop FAQ, see it indexed, test a
// query's hits, ask a question and watch the answer stream in over the
// WebSocket with its citation, vote on it, switch the language, screenshot.
func TestConsoleInBrowser(t *testing.T) {
	ort := testenv.RequireORT(t)
	faq := testenv.Shared(t, "data/demo/shop_faq.csv")
	testenv.Model(t, "use-lite-en") // kefu serve's default model
	requireChromium(t)
	want := faqAnswer(t, faq, faqQuestion)

	base := startKefu(t, ort)
	consoleFlow(t, base, faq, want)
}

// consoleFlow is the browser session of TestConsoleInBrowser against base.
func consoleFlow(t *testing.T, base, faq, want string) {
	ctx := newBrowser(t, 1280, 800)
	d := &driver{t: t, ctx: ctx, base: base}
	defer d.screenshotOnFailure()

	// The console opens in English (the browser's language) with no KB.
	d.do(chromedp.Navigate(base + "/"))
	d.waitJS(`document.querySelector('#main .empty') !== null`)
	d.expectText(`#tabs a[data-page="kbs"]`, str("en", "nav.kbs"))

	// Create a KB through the form; the console moves to its documents.
	kb := "browser-test"
	d.do(chromedp.SendKeys(chromedp.ID("kb-name"), kb),
		chromedp.Click(chromedp.CSS(`#create-kb button[type=submit]`)))
	d.waitJS(`location.hash === '#/kb/` + kb + `/documents' && document.getElementById('upload-form') !== null`)
	d.expectEval(`document.getElementById('kb-select').value`, kb)

	// Upload the FAQ with the file input; the job finishes and the document
	// is listed as indexed.
	d.do(chromedp.SetUploadFiles(chromedp.ID("doc-files"), []string{faq}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
	d.waitJS(`document.querySelector('.job[data-state="done"]') !== null`)
	d.waitJS(`document.querySelector('#documents tr[data-doc][data-status="indexed"]') !== null`)
	docID := d.eval(`document.querySelector('#documents tr[data-doc]').dataset.doc`)
	if !strings.Contains(docID, "shop_faq") {
		t.Errorf("indexed document id %q, want the uploaded shop_faq.csv", docID)
	}
	if got := d.eval(`document.querySelector('.job[data-state="done"] .job-failures').children.length + ''`); got != "0" {
		t.Errorf("the job lists %s failures", got)
	}

	// Hit testing: the FAQ entry comes first, with both scores shown.
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="search"]`)))
	d.waitJS(`document.getElementById('search-query') !== null`)
	d.do(chromedp.SendKeys(chromedp.ID("search-query"), faqQuestion+"\n"))
	d.waitJS(`document.querySelector('.hits-table tbody tr') !== null`)
	if top := d.eval(`document.querySelector('.hits-table tbody tr .hit-text').textContent`); top != want {
		t.Errorf("top hit %q, want the FAQ answer %q", top, want)
	}
	for _, side := range []string{"fused", "keyword", "vector"} {
		v := d.eval(`document.querySelector('.hits-table tbody tr td.score.` + side + ` .score-num').textContent`)
		if v == "" || v == "—" {
			t.Errorf("top hit shows no %s score (%q)", side, v)
		}
	}

	// Chat: record the answer's DOM as it changes, ask with the Enter key.
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="chat"]`)))
	d.waitJS(`document.getElementById('chat-input') !== null`)
	d.eval(recorderJS)
	d.do(chromedp.SendKeys(chromedp.ID("chat-input"), faqQuestion+"\n"))
	d.waitJS(`(() => { const m = document.querySelector('#chat-log article.msg.bot'); return m && !m.classList.contains('streaming') })()`)
	if e := d.eval(`(document.querySelector('#chat-log .msg.bot .form-error') || {}).textContent || ''`); e != "" {
		t.Fatalf("the chat answered with an error: %s", e)
	}
	final := d.eval(`document.querySelector('#chat-log .msg.bot .answer-text').textContent`)
	if !strings.Contains(final, want) {
		t.Errorf("answer %q does not contain the FAQ answer %q", final, want)
	}
	d.checkStreamed(want)
	if n := d.eval(`document.querySelectorAll('#chat-log .msg.bot .citations li[data-doc]').length + ''`); n == "0" {
		t.Error("the answer shows no citation")
	}
	if doc := d.eval(`document.querySelector('#chat-log .msg.bot .citations li[data-doc]').dataset.doc`); doc != docID {
		t.Errorf("first citation is document %q, want %q", doc, docID)
	}
	if r := d.eval(`document.querySelector('#chat-log .msg.bot').dataset.route`); r != "faq" {
		t.Errorf("route %q, want faq", r)
	}
	d.expectText(`#chat-log .msg.bot .meta .badge`, str("en", "chat.route.faq"))

	// Thumbs up reaches the feedback route (204) and says thanks.
	d.do(chromedp.Click(chromedp.CSS(`#chat-log .msg.bot .vote.up`)))
	d.waitJS(`document.querySelector('#chat-log .msg.bot .thanks') !== null`)
	d.expectEval(`document.querySelector('#chat-log .msg.bot .vote.up').getAttribute('aria-pressed')`, "true")

	// 中文: the page re-translates in place, the answer included.
	d.do(chromedp.Click(chromedp.ID("lang-toggle")))
	d.expectEval(`document.documentElement.lang`, "zh-CN")
	d.expectText(`#tabs a[data-page="chat"]`, str("zh", "nav.chat"))
	d.expectText(`#chat-log .msg.bot .meta .badge`, str("zh", "chat.route.faq"))
	d.expectText(`#chat-send`, str("zh", "chat.send"))
	if c := d.eval(`document.querySelector('#chat-log .msg.bot .meta .pill').textContent`); !strings.HasPrefix(c, strings.Split(str("zh", "chat.confidence"), "{")[0]) {
		t.Errorf("confidence label %q is not in Chinese", c)
	}
	d.screenshot("console.png")

	// The choice survives a reload.
	d.do(chromedp.Reload())
	d.waitJS(`document.getElementById('chat-input') !== null`)
	d.expectText(`#tabs a[data-page="documents"]`, str("zh", "nav.documents"))

	// A phone-width look at the documents page.
	d.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Click(chromedp.CSS(`#tabs a[data-page="documents"]`)))
	d.waitJS(`document.querySelector('#documents tr[data-doc]') !== null`)
	d.screenshot("console-phone.png")
	d.checkConsole()
}

// recorderJS records the last bot message's state at every DOM change, so the
// test sees what the page showed while the answer streamed.
const recorderJS = `(() => {
  window.__snaps = [];
  const log = document.getElementById('chat-log');
  new MutationObserver(() => {
    const m = [...log.querySelectorAll('article.msg.bot')].pop();
    if (!m) return;
    window.__snaps.push({
      streaming: m.classList.contains('streaming'),
      text: m.querySelector('.answer-text').textContent,
      meta: !m.querySelector('.meta').hidden,
    });
  }).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
  return 'ok';
})()`

type snap struct {
	Streaming bool   `json:"streaming"`
	Text      string `json:"text"`
	Meta      bool   `json:"meta"`
}

// checkStreamed asserts the answer was on screen before it was done: some
// state showed text while the message was still streaming, without the
// route and confidence that come with the end, and the text only grew.
func (d *driver) checkStreamed(want string) {
	d.t.Helper()
	var snaps []snap
	if err := json.Unmarshal([]byte(d.eval(`JSON.stringify(window.__snaps)`)), &snaps); err != nil {
		d.t.Fatal(err)
	}
	var streamed []string
	for _, s := range snaps {
		if !s.Streaming {
			continue
		}
		if s.Meta {
			d.t.Errorf("route and confidence shown while streaming: %+v", s)
		}
		if s.Text != "" {
			streamed = append(streamed, s.Text)
		}
	}
	if len(streamed) == 0 {
		d.t.Fatalf("no DOM state showed the answer text while it streamed (%d states recorded)", len(snaps))
	}
	for i := 1; i < len(streamed); i++ {
		if !strings.HasPrefix(streamed[i], streamed[i-1]) {
			d.t.Errorf("streamed text did not grow: %q then %q", streamed[i-1], streamed[i])
		}
	}
	last := streamed[len(streamed)-1]
	if !strings.HasPrefix(want, streamed[0]) && !strings.HasPrefix(streamed[0], want) {
		d.t.Errorf("first streamed text %q is not the start of the FAQ answer %q", streamed[0], want)
	}
	if !strings.Contains(last, want) {
		d.t.Errorf("the streamed text %q never held the whole FAQ answer", last)
	}
	d.t.Logf("answer streamed in %d visible states before done", len(streamed))
}

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

// startKefu builds cmd/kefu and serves an empty data dir in dev mode on a
// free loopback port until the test ends; it returns the base URL.
func startKefu(t *testing.T, ortLib string) string {
	t.Helper()
	root := testenv.ModuleRoot()
	if root == "" {
		t.Fatal("module root not found")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kefu")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kefu")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kefu: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	var logs syncBuffer
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "KEFU_SHARED="+testenv.SharedDir(), "KEFU_ORT_LIB="+ortLib)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("kefu serve output:\n%s", logs.String())
		}
	})

	base := "http://" + addr
	deadline := time.Now().Add(5 * time.Minute) // a busy machine loads the model slowly
	for {
		select {
		case err := <-exited:
			t.Fatalf("kefu serve exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kefu serve not ready after 5 minutes\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.toast.error, .form-error:not([hidden])')].map(e => e.textContent).join(' | ')`))
	if err != nil || v == "" {
		return ""
	}
	return "\nerrors on the page: " + v
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

// checkConsole fails on uncaught exceptions and console errors in the page.
func (d *driver) checkConsole() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.console {
		switch m.Type {
		case chromedp.ConsoleException, chromedp.ConsoleError:
			d.t.Errorf("page console %s (%s:%d)", m, m.URL, m.Line)
		default:
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
