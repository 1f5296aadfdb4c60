package web_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// faqQuestion is asked in the chat playground; its stored answer is read
// from the shop FAQ itself.
const faqQuestion = "How long does a refund take?"

// giftDoc is a Markdown page the FAQ knows nothing about: questions on it
// are answered by the (scripted) LLM from its passage.
const giftDoc = `# Gift wrapping

Every order can be gift wrapped. Choose "Gift wrap" at checkout and add a card
message of up to 200 characters. Gift wrapping costs 5 euros per parcel.
`

// The scripted LLM's answer to the gift-wrap question, in the pieces it
// streams; the stream pauses after genBefore until the test has seen it.
var (
	genBefore = []string{"Yes. ", "Choose “Gift wrap” ", "at checkout;"}
	genAfter  = []string{" it costs 5 euros ", "[1]."}
)

// TestConsoleInBrowser drives the console in headless Chromium against a real
// `kefu serve` in development mode, with a scripted OpenAI-compatible LLM:
// create a KB, upload two files at once and see them indexed, test a query's
// hits, add a sensitive word, then in the chat playground get a hand-off, an
// FAQ answer (streamed, cited, voted on), an LLM answer seen mid-stream and
// a stopped one whose LLM request the server cancels; switch to Chinese,
// reload, take screenshots; end development mode with a first key made on
// the API keys page.
func TestConsoleInBrowser(t *testing.T) {
	testenv.RequireORT(t)
	faq := testenv.Shared(t, "data/demo/shop_faq.csv")
	testenv.Model(t, "use-lite-en") // kefu serve's default model
	requireChromium(t)
	want := faqAnswer(t, faq, faqQuestion)
	tmp := t.TempDir()
	md, note := filepath.Join(tmp, "gift_wrap.md"), filepath.Join(tmp, "notes.txt")
	if err := os.WriteFile(md, []byte(giftDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(note, []byte("Gift notes are printed on recycled card and tied with a ribbon.\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	gen := newScript(genBefore, true, genAfter)
	stopped := newScript([]string{"Gift wrapping "}, true, []string{"is 5 euros [1]."})
	llm := newScriptedLLM(t, gen, stopped)
	base := serveConsole(t, filepath.Join(t.TempDir(), "data"), "--llm-base-url", llm.URL, "--llm-model", "scripted")
	d := newDriver(t, base, 1280, 800)
	defer d.screenshotOnFailure()

	// The console opens in English (the browser's language) with no KB.
	d.do(chromedp.Navigate(base + "/"))
	d.waitJS(`document.querySelector('#main .empty') !== null`)
	d.expectText(`#tabs a[data-page="kbs"]`, str("en", "nav.kbs"))
	d.expectText(`#main .empty`, str("en", "kbs.empty"))

	// Create a KB through the form; the console moves to its documents.
	kb := "browser-test"
	d.do(chromedp.SendKeys(chromedp.ID("kb-name"), kb),
		chromedp.Click(chromedp.CSS(`#create-kb button[type=submit]`)))
	d.waitJS(`location.hash === '#/kb/` + kb + `/documents' && document.getElementById('upload-form') !== null`)
	d.expectEval(`document.getElementById('kb-select').value`, kb)

	// Upload the FAQ and the Markdown page in one job through the file
	// input: the panel shows the upload, then the job, until done, and both
	// documents are listed as indexed.
	d.eval(jobRecorderJS)
	d.do(chromedp.SetUploadFiles(chromedp.ID("doc-files"), []string{faq, md}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
	d.waitJS(`document.querySelector('.job[data-state="done"]') !== null`)
	d.waitJS(`document.querySelectorAll('#documents tr[data-doc][data-status="indexed"]').length === 2`)
	if n := d.eval(`document.querySelector('.job[data-state="done"] .job-failures').children.length + ''`); n != "0" {
		t.Errorf("the job lists %s failures", n)
	}
	d.checkJobProgress()
	var docs []string
	d.evalJSON(`[...document.querySelectorAll('#documents tr[data-doc]')].map(r => r.dataset.doc)`, &docs)
	faqDoc, mdDoc := findDoc(docs, "shop_faq"), findDoc(docs, "gift_wrap")
	if faqDoc == "" || mdDoc == "" {
		t.Fatalf("documents %q, want shop_faq.csv and gift_wrap.md", docs)
	}

	// One more file under a document id with a slash and a space (escaped
	// in the API's paths): its chunks, a re-index, then delete it.
	const noteID = "help/gift notes.txt"
	row := `document.querySelector(` + jsString(`#documents tr[data-doc="`+noteID+`"]`) + `)`
	d.do(chromedp.SetUploadFiles(chromedp.ID("doc-files"), []string{note}),
		chromedp.SendKeys(chromedp.ID("doc-id"), noteID),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
	d.waitJS(`document.querySelectorAll('.job[data-state="done"]').length === 2`)
	d.waitJS(row + ` !== null && ` + row + `.dataset.status === 'indexed'`)
	d.do(chromedp.Evaluate[chromedp.Void](row + `.querySelector('.actions button:nth-child(1)').click()`))
	d.waitJS(`document.querySelector('.chunk-list') !== null`)
	if c := d.eval(`document.querySelector('.chunk-list').textContent`); !strings.Contains(c, "ribbon") {
		t.Errorf("the note's chunks read %q", c)
	}
	d.do(chromedp.Evaluate[chromedp.Void](row + `.querySelector('.actions button:nth-child(2)').click()`))
	d.waitJS(`document.querySelectorAll('.job[data-state="done"]').length === 3`)
	d.waitJS(row + ` !== null && ` + row + `.dataset.status === 'indexed'`)
	d.do(chromedp.Evaluate[chromedp.Void](row + `.querySelector('.actions button:nth-child(3)').click()`))
	d.waitJS(`document.getElementById('confirm-dialog').open`)
	d.do(chromedp.Click(chromedp.ID("confirm-ok")))
	d.waitJS(row + ` === null && document.querySelectorAll('#documents tr[data-doc]').length === 2`)

	// Hit testing: the FAQ entry comes first, with its scores on each side.
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

	// Settings: a sensitive word of this KB, saved and read back.
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="settings"]`)))
	d.waitJS(`document.getElementById('set-words') !== null`)
	d.do(chromedp.SendKeys(chromedp.ID("set-words"), "gift card"),
		chromedp.Click(chromedp.CSS(`.settings-form button[type=submit]`)))
	d.waitJS(`[...document.querySelectorAll('.toast')].some(e => e.textContent.includes(` + jsString(str("en", "common.saved")) + `))`)
	d.do(chromedp.Reload())
	d.waitJS(`document.getElementById('set-words') !== null`)
	d.expectEval(`document.getElementById('set-words').value`, "gift card")

	// Chat. The sensitive word hands off to a person.
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="chat"]`)))
	d.waitJS(`document.getElementById('chat-input') !== null`)
	d.ask("Do you sell a gift card?")
	d.waitAnswered()
	d.expectEval(lastBot+`.dataset.route`, "handoff")
	d.expectText(`#chat-log article.msg.bot:last-of-type .meta .badge`, str("en", "chat.route.handoff"))

	// The FAQ question, in a new conversation (the bot stays quiet in one
	// handed off to a person): its stored answer streams in, then the
	// citation.
	d.do(chromedp.Click(chromedp.ID("chat-new")))
	d.eval(recorderJS)
	d.ask(faqQuestion)
	d.waitAnswered()
	final := d.eval(lastBot + `.querySelector('.answer-text').textContent`)
	if !strings.Contains(final, want) {
		t.Errorf("answer %q does not contain the FAQ answer %q", final, want)
	}
	d.checkStreamed(want)
	if r := d.eval(lastBot + `.dataset.route`); r != "faq" && r != "disclaimer" {
		t.Errorf("route %q, want faq (or disclaimer below the threshold)", r)
	}
	var cited []string
	d.evalJSON(`[...`+lastBot+`.querySelectorAll('.citations li[data-doc]')].map(li => li.dataset.doc)`, &cited)
	if len(cited) == 0 || cited[0] != faqDoc {
		t.Errorf("citations %q, want %q first", cited, faqDoc)
	}

	// Thumbs up reaches the feedback route and says thanks.
	d.do(chromedp.Click(chromedp.CSS(`#chat-log article.msg.bot:last-of-type .vote.up`)))
	d.waitJS(lastBot + `.querySelector('.thanks') !== null`)
	d.expectEval(lastBot+`.querySelector('.vote.up').getAttribute('aria-pressed')`, "true")

	// A new conversation and a question on the Markdown page: the LLM's
	// answer is on screen while its stream is paused, then completes.
	d.do(chromedp.Click(chromedp.ID("chat-new")))
	d.ask("Can you gift wrap my order?")
	d.waitStarted(gen, llm)
	before := strings.Join(genBefore, "")
	d.waitJSOr(lastBot+`.classList.contains('streaming') && `+lastBot+`.querySelector('.answer-text').textContent === `+jsString(before),
		lastBot+`.querySelector('.answer-text').textContent`)
	d.expectEval(lastBot+`.querySelector('.meta').hidden + ''`, "true")
	d.expectEval(`document.getElementById('chat-send').disabled + ''`, "true")
	close(gen.hold)
	d.waitAnswered()
	text := d.eval(lastBot + `.querySelector('.answer-text').textContent`)
	if !strings.HasPrefix(text, before+" it costs 5 euros [1].") {
		t.Errorf("LLM answer shown as %q, want %q", text, before+strings.Join(genAfter, ""))
	}
	if r := d.eval(lastBot + `.dataset.route`); r != "generated" && r != "disclaimer" {
		t.Errorf("route %q, want generated (or disclaimer below the threshold)", r)
	}
	d.expectEval(lastBot+`.querySelector('.answer-text a.cite-ref').getAttribute('href').startsWith('#cite-') + ''`, "true")
	cited = nil
	d.evalJSON(`[...`+lastBot+`.querySelectorAll('.citations li[data-doc]')].map(li => li.dataset.doc)`, &cited)
	if len(cited) == 0 || cited[0] != mdDoc {
		t.Errorf("citations %q, want [1] to be %q", cited, mdDoc)
	}

	// Stop an answer mid-stream: the console says so, and the server
	// cancels the LLM request.
	d.do(chromedp.Click(chromedp.ID("chat-new")))
	d.ask("How much does gift wrapping cost?")
	d.waitStarted(stopped, llm)
	d.waitJS(lastBot + `.querySelector('.answer-text').textContent === 'Gift wrapping'`)
	d.do(chromedp.Click(chromedp.ID("chat-stop")))
	d.waitJS(lastBot + `.classList.contains('stopped')`)
	d.expectEval(`document.getElementById('chat-send').disabled + ''`, "false")
	select {
	case <-stopped.gone:
	case <-time.After(stepTimeout):
		t.Error("the LLM request went on after the answer was stopped")
	}

	// 中文: the page re-translates in place, the answers included.
	d.do(chromedp.Click(chromedp.ID("lang-toggle")))
	d.expectEval(`document.documentElement.lang`, "zh-CN")
	d.expectText(`#tabs a[data-page="chat"]`, str("zh", "nav.chat"))
	d.expectText(`#chat-send`, str("zh", "chat.send"))
	d.expectText(`#chat-log .msg.bot[data-route="handoff"] .meta .badge`, str("zh", "chat.route.handoff"))
	if c := d.eval(`document.querySelector('#chat-log .msg.bot[data-route] .meta .pill').textContent`); !strings.HasPrefix(c, strings.Split(str("zh", "chat.confidence"), "{")[0]) {
		t.Errorf("confidence label %q is not in Chinese", c)
	}
	d.do(chromedp.Evaluate[chromedp.Void](`(() => {
	  const log = document.getElementById('chat-log');
	  const m = document.querySelector('#chat-log .msg.bot[data-route="faq"], #chat-log .msg.bot[data-route="disclaimer"]');
	  log.scrollTop = m ? (m.previousElementSibling || m).offsetTop - 16 : log.scrollHeight;
	})()`))
	d.waitJS(`document.querySelector('.toast') === null`)
	d.screenshot("console.png")

	// The choice survives a reload.
	d.do(chromedp.Reload())
	d.waitJS(`document.getElementById('chat-input') !== null`)
	d.expectText(`#tabs a[data-page="documents"]`, str("zh", "nav.documents"))
	d.expectEval(`localStorage.getItem('kefu.lang')`, "zh")

	// A phone-width look at the documents page.
	d.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Click(chromedp.CSS(`#tabs a[data-page="documents"]`)))
	d.waitJS(`document.querySelectorAll('#documents tr[data-doc]').length === 2`)
	d.screenshot("console-phone.png")

	// Development mode ends with the first key, made on the API keys page:
	// an admin key, offered first, which this browser goes on with.
	d.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/#/keys"))
	d.waitJS(`document.getElementById('keys-dev') !== null && document.getElementById('key-scope').value === 'admin'`)
	d.do(chromedp.Click(chromedp.CSS(`#create-key button[type=submit]`)))
	d.waitJS(`!document.getElementById('key-secret').hidden && localStorage.getItem('kefu.key') === document.querySelector('#key-secret input').value`)
	d.waitJS(`document.querySelector('#keys-list tr[data-key]') !== null`)
	d.expectText(`#auth-status`, strings.ReplaceAll(str("zh", "auth.scope"), "{scope}", "admin"))
	var after struct {
		DevMode bool `json:"dev_mode"`
	}
	if code := apiCall(t, "GET", base+"/v1/auth", "", nil, &after); code != 200 || after.DevMode {
		t.Errorf("after the first key: %d, dev mode %v", code, after.DevMode)
	}
	d.checkConsole()
}

// TestConsoleAPIKey runs the console against a server with an API key: it
// asks for the key, refuses a wrong one with the server's message, then
// works with the right one, the WebSocket chat included
// (?access_token=), and shows API errors.
func TestConsoleAPIKey(t *testing.T) {
	// Before serving: a KB from the CLI with a `kefu eval` report (the KB
	// keeps its latest), and an admin key.
	data, _ := shopData(t)
	questions := testenv.ShopQuestions(t)
	testenv.RunKefu(t, "eval", "--kb", "shop", "--questions", questions, "--data-dir", data)
	key := cliKey(t, data, "--scope", "admin")
	base := serveConsole(t, data)
	d := newDriver(t, base, 1280, 800)
	defer d.screenshotOnFailure()

	d.do(chromedp.Navigate(base + "/"))
	d.waitJS(`document.getElementById('key-dialog').open`)
	d.expectEval(`document.getElementById('key-error').hidden + ''`, "true")
	d.do(chromedp.SendKeys(chromedp.ID("key-input"), "kefu_not_a_key"),
		chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)))
	d.waitJS(`!document.getElementById('key-error').hidden && document.getElementById('key-error').textContent !== '' && !document.querySelector('#key-form button[type=submit]').disabled`)
	d.expectEval(`document.getElementById('key-dialog').open + ''`, "true")
	d.expectEval(`(localStorage.getItem('kefu.key') === null) + ''`, "true") // only an accepted key is kept

	d.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("key-input").value = ""`), // chromedp.Clear resets only the attribute
		chromedp.SendKeys(chromedp.ID("key-input"), key),
		chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)))
	d.waitJS(`!document.getElementById('key-dialog').open`)
	d.expectText(`#auth-status`, strings.ReplaceAll(str("en", "auth.scope"), "{scope}", "admin"))
	d.expectEval(`localStorage.getItem('kefu.key')`, key)

	// Create a KB with the key, then again: the server's conflict message
	// is shown.
	d.waitJS(`document.getElementById('kb-name') !== null`)
	d.do(chromedp.SendKeys(chromedp.ID("kb-name"), "keyed"),
		chromedp.Click(chromedp.CSS(`#create-kb button[type=submit]`)))
	d.waitJS(`location.hash === '#/kb/keyed/documents' && document.getElementById('upload-form') !== null`)
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="kbs"]`)))
	d.waitJS(`document.querySelector('tr[data-kb="keyed"]') !== null`)
	d.do(chromedp.SendKeys(chromedp.ID("kb-name"), "keyed"),
		chromedp.Click(chromedp.CSS(`#create-kb button[type=submit]`)))
	d.waitJS(`document.querySelector('.toast.error code') !== null`)
	d.expectText(`.toast.error code`, "conflict")

	// The chat socket authenticates with ?access_token=: an empty KB has no
	// answer, but it answers.
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="chat"]`)))
	d.waitJS(`document.getElementById('chat-input') !== null`)
	d.ask("Where is my package?")
	d.waitAnswered()
	d.expectEval(lastBot+`.dataset.route`, "unknown")

	// The question it could not answer is listed as unanswered; the KB has
	// no evaluation yet.
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="unanswered"]`)))
	d.waitJS(`document.querySelector('.view-unanswered table tbody tr th') !== null`)
	d.expectEval(`document.querySelector('.view-unanswered table tbody tr th').textContent`, "Where is my package?")
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="eval"]`)))
	d.waitJS(`document.querySelector('.view-eval .empty') !== null`)
	d.expectText(`.view-eval .empty p`, str("en", "eval.none"))

	// The CLI's KB shows its evaluation; the report opens with the key.
	d.do(chromedp.Navigate(base + "/#/kb/shop/eval"))
	d.waitJS(`document.querySelector('.view-eval table.metrics tbody tr') !== null`)
	var modes []string
	d.evalJSON(`[...document.querySelectorAll('.view-eval table.metrics tbody tr th[data-mode]')].map(e => e.dataset.mode)`, &modes)
	if !slices.Contains(modes, "hybrid") {
		t.Errorf("evaluation modes %q, want hybrid among them", modes)
	}
	d.screenshot("console-eval.png")
	opened := chromedp.WaitNewTarget(d.ctx, func(info *target.Info) bool { return strings.HasPrefix(info.URL, "blob:") })
	d.do(chromedp.Click(chromedp.CSS(`.view-eval a.button.primary`)))
	select {
	case id := <-opened:
		rctx, cancel := chromedp.NewContext(d.ctx, chromedp.WithTargetID(id))
		defer cancel()
		title, err := chromedp.Run(rctx, chromedp.Poll[string](`document.title.startsWith('kefu eval') && document.title`, chromedp.WithPollingTimeout(stepTimeout)))
		if err != nil {
			t.Errorf("the report window: %v", err)
		} else {
			t.Logf("report opened: %q", title)
		}
	case <-time.After(stepTimeout):
		t.Error("the HTML report did not open")
	}

	// The key is remembered across reloads, and can be forgotten.
	d.do(chromedp.Reload())
	d.waitJS(`document.querySelector('.view-eval table.metrics') !== null`)
	d.expectEval(`document.getElementById('key-dialog').open + ''`, "false")
	d.do(chromedp.Click(chromedp.ID("key-button")))
	d.waitJS(`document.getElementById('key-dialog').open`)
	d.do(chromedp.Click(chromedp.ID("key-forget")))
	d.expectEval(`(localStorage.getItem('kefu.key') === null) + ''`, "true")
	d.checkConsole("status of 401", "status of 404", "status of 409")
}

// lastBot is the newest answer in the chat log.
const lastBot = `[...document.querySelectorAll('#chat-log article.msg.bot')].pop()`

// ask types a question in the chat playground and sends it with Enter.
func (d *driver) ask(q string) {
	d.t.Helper()
	d.do(chromedp.SendKeys(chromedp.ID("chat-input"), q+"\n"))
	d.waitJS(`document.querySelectorAll('#chat-log .msg.user').length > 0 && [...document.querySelectorAll('#chat-log .msg.user')].pop().textContent.includes(` + jsString(q) + `)`)
}

// waitAnswered waits until the newest answer is complete and has no error.
func (d *driver) waitAnswered() {
	d.t.Helper()
	d.waitJS(`(() => { const m = ` + lastBot + `; return m && !m.classList.contains('streaming'); })()`)
	if e := d.eval(`(` + lastBot + `.querySelector('.form-error') || {}).textContent || ''`); e != "" {
		d.t.Fatalf("the chat answered with an error: %s", e)
	}
}

// waitStarted waits until the scripted LLM streams s, reporting what the
// console shows when it never does (the question took another route).
func (d *driver) waitStarted(s *llmScript, llm *scriptedLLM) {
	d.t.Helper()
	select {
	case <-s.started:
	case <-time.After(stepTimeout):
		d.t.Fatalf("the LLM was never asked (requests %q); the console shows %q", llm.Calls(),
			d.eval(`(`+lastBot+` || {}).textContent || ''`))
	}
}

func findDoc(ids []string, part string) string {
	i := slices.IndexFunc(ids, func(id string) bool { return strings.Contains(id, part) })
	if i < 0 {
		return ""
	}
	return ids[i]
}

// recorderJS records the newest answer's state at every DOM change, so the
// test sees what the page showed while the answer streamed.
const recorderJS = `(() => {
  window.__snaps = [];
  const log = document.getElementById('chat-log');
  new MutationObserver(() => {
    const m = ` + lastBot + `;
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
// state showed its text while the message was still streaming, without the
// route and confidence that come with the end, and the text only grew.
func (d *driver) checkStreamed(want string) {
	d.t.Helper()
	var snaps []snap
	d.evalJSON(`window.__snaps`, &snaps)
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
	if !strings.HasPrefix(want, streamed[0]) && !strings.HasPrefix(streamed[0], want) {
		d.t.Errorf("first streamed text %q is not the start of the FAQ answer %q", streamed[0], want)
	}
	if last := streamed[len(streamed)-1]; !strings.Contains(last, want) {
		d.t.Errorf("the streamed text %q never held the whole FAQ answer", last)
	}
}

// jobRecorderJS records every state the upload panel shows.
const jobRecorderJS = `(() => {
  window.__jobs = [];
  const panel = document.querySelector('#upload-form .jobs');
  new MutationObserver(() => {
    const j = panel.querySelector('.job');
    if (!j) return;
    window.__jobs.push({ state: j.dataset.state, label: j.querySelector('.job-label').textContent, value: j.querySelector('progress').value });
  }).observe(panel, { subtree: true, childList: true, characterData: true, attributes: true });
  return 'ok';
})()`

// checkJobProgress asserts the upload panel went from the upload's progress
// to the job's and ended done at 100%.
func (d *driver) checkJobProgress() {
	d.t.Helper()
	var states []struct {
		State, Label string
		Value        float64
	}
	d.evalJSON(`window.__jobs`, &states)
	if len(states) == 0 {
		d.t.Fatal("the upload panel never changed")
	}
	uploadLabel := strings.Split(str("en", "docs.uploading"), "{")[0]
	sawUpload := false
	for _, s := range states {
		if s.State == "uploading" && (strings.HasPrefix(s.Label, uploadLabel) || s.Label == str("en", "docs.uploaded")) {
			sawUpload = true
		}
	}
	if !sawUpload {
		d.t.Errorf("the panel never showed the upload's progress: %+v", states)
	}
	if last := states[len(states)-1]; last.State != "done" || last.Value != 100 {
		d.t.Errorf("the panel ended at %+v, want done at 100", last)
	}
	if states[0].State != "uploading" {
		d.t.Errorf("the panel began at %+v, want the upload", states[0])
	}
}

// evalJSON evaluates js and decodes its JSON value into v.
func (d *driver) evalJSON(js string, v any) {
	d.t.Helper()
	if err := json.Unmarshal([]byte(d.eval(`JSON.stringify(`+js+`)`)), v); err != nil {
		d.t.Fatalf("%s: %v", js, err)
	}
}
