package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// widgetJS evaluates to the widget's shadow root on the visitor's page.
const widgetJS = `document.querySelector('kefu-widget').shadowRoot`

// hostilePage is a shop's page that embeds the widget with one script tag,
// under a style sheet that would break any widget living in the page's own
// DOM: the shadow root must keep it out.
const hostilePage = `<!doctype html>
<html><head><meta charset="utf-8"><title>A shop</title>
<style>
div, section, button, textarea, form, p, ol { display: none !important; }
* { color: red !important; font-size: 40px !important; }
</style></head>
<body><h1>A shop on another origin</h1>
<script src="%s/widget.js" data-kb="shop" data-key="%s" data-lang="en"></script>
</body></html>`

// TestWidgetHandoffInBrowser is issue 11's end-to-end test, with real
// clients only: a visitor on another origin (a second local server serving
// a plain page with the script tag and a hostile style sheet) chats
// through the widget with a public key bound to that origin; the FAQ answer
// streams in with its citation; the visitor asks for a person; an agent
// (an agent key named alice) sees the conversation arrive in the console's
// Inbox, claims it and replies; the visitor sees the reply and the change
// of hands live, and a further message gets no bot answer while the inbox
// shows it live. A reload of the visitor's page continues the conversation
// with its transcript; the agent resolves it and the widget hears so.
func TestWidgetHandoffInBrowser(t *testing.T) {
	base, shop, agent, want := widgetShop(t, hostilePage)

	// The visitor opens the shop's page: the launcher shows through the
	// page's style sheet, and the panel opens on a click.
	v := newDriver(t, base, 1280, 800)
	defer v.screenshotOnFailure()
	v.do(chromedp.Navigate(shop + "/"))
	v.waitJS(`!!document.querySelector('kefu-widget') && !!` + widgetJS + `.querySelector('.launcher')`)
	v.expectEval(`getComputedStyle(`+widgetJS+`.querySelector('.launcher')).display`, "grid")
	v.expectEval(`getComputedStyle(`+widgetJS+`.querySelector('.launcher')).color`, "rgb(255, 255, 255)")
	v.eval(widgetJS + `.querySelector('.launcher').click(), 'ok'`)
	v.waitJS(`!` + widgetJS + `.querySelector('.panel').hidden`)
	v.expectEval(`getComputedStyle(`+widgetJS+`.querySelector('textarea')).display`, "block")
	v.expectEval(`getComputedStyle(`+widgetJS+`.querySelector('.send')).fontSize`, "14px")

	// An FAQ question: the answer streams in, then its citation.
	conv := v.widgetAskFAQ(want)
	lastBotW := lastWidgetBot

	// The visitor asks for a person: the hand-off reply, and the widget
	// says a person will reply.
	v.widgetAsk("I want to talk to a person")
	// (The state event may come before the answer that caused it.)
	v.waitJS(widgetJS + `.host.dataset.state === 'waiting' && !` + widgetJS + `.querySelector('.status').hidden && ` + lastBotW + `.dataset.route === 'handoff'`)
	var view struct {
		Conversation struct{ ID, State, Assignee string }
		Messages     []struct{ Role, Text, Author string }
	}
	apiGet(t, base+"/v1/kbs/shop/conversations/"+conv, agent, &view)
	if view.Conversation.State != "waiting" {
		t.Fatalf("the server has the conversation %s, want waiting", view.Conversation.State)
	}

	// The agent's console, in another browser: the Inbox lists the waiting
	// conversation; alice claims it and replies.
	a := newDriver(t, base, 1280, 800)
	defer a.screenshotOnFailure()
	a.useKey(agent)
	a.do(chromedp.Navigate(base + "/#/kb/shop/inbox"))
	row := `#queue-waiting li[data-conv="` + conv + `"] button`
	a.waitJS(`document.querySelector(` + jsString(row) + `) !== null`)
	a.do(chromedp.Click(chromedp.CSS(row)))
	a.waitJS(`document.querySelector('#inbox-conv .pane[data-conv="` + conv + `"] [data-action="claim"]') !== null`)
	a.expectEval(`document.getElementById('inbox-agent').value`, "alice")
	a.do(chromedp.Click(chromedp.CSS(`#inbox-conv [data-action="claim"]`)))
	a.waitJS(`document.querySelector('#inbox-conv .pane').dataset.state === 'agent'`)
	a.waitJS(`document.querySelector('#queue-agent li[data-conv="` + conv + `"]') !== null`)
	v.waitJS(widgetJS + `.host.dataset.state === 'agent' && ` + widgetJS + `.querySelector('.status').textContent.includes('alice')`)

	const reply = "Hi, I'm Alice. Let me check your order."
	a.do(chromedp.SendKeys(chromedp.ID("inbox-text"), reply), chromedp.Click(chromedp.ID("inbox-reply")))
	v.waitJSOr(`[...`+widgetJS+`.querySelectorAll('.msg.agent .text')].some(e => e.textContent === `+jsString(reply)+`)`,
		widgetJS+`.querySelector('.log').textContent`)
	a.waitJS(`[...document.querySelectorAll('#inbox-conv .tm-agent .tm-text')].some(e => e.textContent === ` + jsString(reply) + `)`)

	// A further customer message reaches the agent live and gets no bot
	// answer: the widget shows none, and the server stored none.
	bots := v.eval(widgetJS + `.querySelectorAll('.msg.bot').length + ''`)
	v.widgetAsk("Are you still there?")
	a.waitJS(`[...document.querySelectorAll('#inbox-conv .tm-customer .tm-text')].some(e => e.textContent === 'Are you still there?')`)
	v.waitJS(widgetJS + `.querySelector('.msg.bot.streaming') === null`)
	v.expectEval(widgetJS+`.querySelectorAll('.msg.bot').length + ''`, bots)
	apiGet(t, base+"/v1/kbs/shop/conversations/"+conv, agent, &view)
	var after []string
	for i := len(view.Messages) - 1; i >= 0 && view.Messages[i].Role != "agent"; i-- {
		after = append(after, view.Messages[i].Role+":"+view.Messages[i].Text)
	}
	if len(after) != 1 || after[0] != "customer:Are you still there?" {
		t.Errorf("after alice's reply the server stored %q, want only the customer's message (the bot stays quiet)", after)
	}

	// A reload continues the conversation: the transcript with alice's
	// reply, and who has it.
	v.do(chromedp.Reload())
	v.waitJS(`!!document.querySelector('kefu-widget') && ` + widgetJS + `.host.dataset.state === 'agent'`)
	v.waitJS(`!` + widgetJS + `.querySelector('.panel').hidden`) // it was open
	v.expectEval(`[...`+widgetJS+`.querySelectorAll('.msg.agent .text')].map(e => e.textContent).join('|')`, reply)
	v.expectEval(`[...`+widgetJS+`.querySelectorAll('.msg.customer .text')].map(e => e.textContent).join('|')`,
		faqQuestion+"|I want to talk to a person|Are you still there?")
	v.screenshot("widget.png")

	// A second reply arrives live on the reloaded page; then alice
	// resolves the conversation and the widget drops the notice.
	a.do(chromedp.SendKeys(chromedp.ID("inbox-text"), "Your parcel left today."), chromedp.Click(chromedp.ID("inbox-reply")))
	v.waitJS(`[...` + widgetJS + `.querySelectorAll('.msg.agent .text')].some(e => e.textContent === 'Your parcel left today.')`)
	a.do(chromedp.Click(chromedp.CSS(`#inbox-conv [data-action="resolve"]`)))
	a.waitJS(`document.querySelector('#queue-agent li[data-conv="` + conv + `"]') === null && document.querySelector('#inbox-conv .pane').dataset.state === 'resolved'`)
	v.waitJS(widgetJS + `.host.dataset.state === 'resolved' && ` + widgetJS + `.querySelector('.status').hidden`)
	a.screenshot("inbox.png")
	v.checkConsole()
	a.checkConsole()
}

// widgetShop is the set-up of the widget's browser tests: the shop KB
// (shopData) served with a public key bound to the shop's own origin
// (another host name and port) and an agent key named alice. The shop's
// page, pageFmt filled with the server's URL and the public key, is served
// at shop until the test ends; want is the FAQ's answer to faqQuestion.
func widgetShop(t *testing.T, pageFmt string) (base, shop, agent, want string) {
	t.Helper()
	data, faq := shopData(t)
	want = faqAnswer(t, faq, faqQuestion)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	shop = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	public := cliKey(t, data, "--scope", "public", "--kb", "shop", "--origins", shop)
	agent = cliKey(t, data, "--scope", "agent", "--kb", "shop", "--name", "alice")
	base = serveConsole(t, data)
	page := fmt.Sprintf(pageFmt, base, public)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return base, shop, agent, want
}

// apiGet reads a JSON answer of the API with a key.
func apiGet(t *testing.T, url, key string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// useKey has the console find key in localStorage, as if entered before,
// from the next page loaded on.
func (d *driver) useKey(key string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	src := `localStorage.setItem('kefu.key', ` + jsString(key) + `)`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		d.t.Fatal(err)
	}
}

// widgetAsk types a question in the widget and sends it with Enter.
func (d *driver) widgetAsk(q string) {
	d.t.Helper()
	d.eval(`(() => { const r = ` + widgetJS + `; r.querySelector('textarea').focus(); return 'ok'; })()`)
	d.do(chromedp.KeyEvent(q), chromedp.KeyEvent("\r"))
	d.waitJS(`[...` + widgetJS + `.querySelectorAll('.msg.customer .text')].some(e => e.textContent === ` + jsString(q) + `)`)
}

// lastWidgetBot evaluates to the widget's newest bot message.
const lastWidgetBot = `[...` + widgetJS + `.querySelectorAll('.msg.bot')].pop()`

// widgetAskFAQ asks faqQuestion in the open widget and checks that the
// answer, want, was on screen while it streamed and shows its citation; it
// returns the conversation id the widget kept.
func (d *driver) widgetAskFAQ(want string) string {
	t := d.t
	t.Helper()
	d.eval(widgetRecorderJS)
	d.widgetAsk(faqQuestion)
	d.waitJSOr(`(() => { const m = `+lastWidgetBot+`; return m && !m.classList.contains('streaming'); })()`, widgetJS+`.querySelector('.log').textContent`)
	if got := d.eval(lastWidgetBot + `.querySelector('.text').textContent`); !strings.Contains(got, want) {
		t.Errorf("the widget shows %q, want the FAQ answer %q", got, want)
	}
	var streamed []string
	d.evalJSON(`window.__widgetSnaps`, &streamed)
	t.Logf("the answer was shown in %d pieces while it streamed", len(streamed))
	if len(streamed) == 0 || !strings.HasPrefix(want, streamed[0]) {
		t.Errorf("the answer was not on screen while it streamed: %q", streamed)
	}
	if n := d.eval(lastWidgetBot + `.querySelectorAll('.cites li').length + ''`); n == "0" {
		t.Error("the answer shows no citation")
	}
	conv := d.eval(`Object.keys(localStorage).filter(k => k.endsWith(':conversation')).map(k => localStorage.getItem(k)).join(',')`)
	if !strings.HasPrefix(conv, "c_") {
		t.Fatalf("the widget kept conversation %q, want one id the server named", conv)
	}
	return conv
}

// widgetRecorderJS records a bot answer's text each time a piece is added
// while the answer streams (its message has the class "streaming"). It
// reads the mutation records in their order, not the page when the
// observer runs: pieces that reach the page in one network read (a loaded
// machine's SSE stream) are added in one task, which also ends the stream,
// so by then the page shows only the finished answer.
const widgetRecorderJS = `(() => {
  window.__widgetSnaps = [];
  const log = ` + widgetJS + `.querySelector('.log');
  const streaming = new Map(); // message → streams now
  const shown = new Map(); // message → text added while it streamed
  new MutationObserver((records) => {
    // Each class change's new value: the next change's old value, or the class now.
    const next = new Map();
    const classAfter = new Map();
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i];
      if (r.type !== 'attributes') continue;
      classAfter.set(r, next.has(r.target) ? next.get(r.target) : r.target.className);
      next.set(r.target, r.oldValue || '');
    }
    for (const r of records) {
      if (r.type === 'attributes') {
        if (r.target.matches('.msg.bot')) streaming.set(r.target, classAfter.get(r).split(' ').includes('streaming'));
        continue;
      }
      const msg = r.target.closest && r.target.closest('.msg.bot');
      if (r.type !== 'childList' || !msg || !r.target.matches('.text') || !streaming.get(msg)) continue;
      const added = [...r.addedNodes].map((n) => n.textContent).join('');
      if (!added) continue;
      shown.set(msg, (shown.get(msg) || '') + added);
      window.__widgetSnaps.push(shown.get(msg));
    }
  }).observe(log, { subtree: true, childList: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true });
  return 'ok';
})()`
