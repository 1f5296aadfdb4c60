package web_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// blockedWebSocketPage is hostilePage on a network that refuses WebSocket
// upgrades, as some proxies and firewalls do: every WebSocket the page
// opens fails before it opens. The stub stands in for such a network; it
// proves the widget's fallback, not how a given proxy behaves.
const blockedWebSocketPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>A shop behind a proxy</title></head>
<body><h1>A shop whose visitors cannot open WebSockets</h1>
<script>
window.__wsTries = 0;
window.WebSocket = class {
  static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
  constructor() {
    window.__wsTries++;
    this.readyState = 0;
    this.l = {};
    setTimeout(() => {
      this.readyState = 3;
      for (const n of ['error', 'close']) for (const f of this.l[n] || []) f({});
    }, 20);
  }
  addEventListener(n, f) { (this.l[n] ||= []).push(f); }
  send() { throw new Error('not open'); }
  close() {}
};
</script>
<script src="%s/widget.js" data-kb="shop" data-key="%s" data-lang="en"></script>
</body></html>`

// TestWidgetOverHTTPWhenWebSocketIsBlocked: where WebSocket cannot open,
// the widget still answers, streamed over server-sent events, hands off,
// and shows an agent's reply and the change of hands live (EventSource).
func TestWidgetOverHTTPWhenWebSocketIsBlocked(t *testing.T) {
	base, shop, agent, want := widgetShop(t, blockedWebSocketPage)

	v := newDriver(t, base, 1280, 800)
	defer v.screenshotOnFailure()
	v.do(chromedp.Navigate(shop + "/"))
	v.waitJS(`!!document.querySelector('kefu-widget') && !!` + widgetJS + `.querySelector('.launcher')`)
	v.eval(widgetJS + `.querySelector('.launcher').click(), 'ok'`)
	v.waitJS(`!` + widgetJS + `.querySelector('.panel').hidden`)

	// The FAQ answer streams in over HTTP, with its citation.
	conv := v.widgetAskFAQ(want)
	lastBot := lastWidgetBot
	if tries := v.eval(`window.__wsTries + ''`); tries != "2" {
		t.Errorf("the widget tried WebSocket %s times, want 2 before it falls back", tries)
	}

	// A hand-off, then an agent's claim and reply reach the page live.
	v.widgetAsk("I want to talk to a person")
	v.waitJS(widgetJS + `.host.dataset.state === 'waiting' && ` + lastBot + `.dataset.route === 'handoff'`)
	act := func(action, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/kbs/shop/conversations/"+conv+"/"+action, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+agent)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", action, resp.StatusCode)
		}
	}
	act("claim", `{}`)
	v.waitJS(widgetJS + `.host.dataset.state === 'agent' && ` + widgetJS + `.querySelector('.status').textContent.includes('alice')`)
	const reply = "Hi, I'm Alice, over plain HTTP."
	act("reply", `{"text":"`+reply+`"}`)
	v.waitJSOr(`[...`+widgetJS+`.querySelectorAll('.msg.agent .text')].some(e => e.textContent === `+jsString(reply)+`)`,
		widgetJS+`.querySelector('.log').textContent`)
	if tries := v.eval(`window.__wsTries + ''`); tries != "2" {
		t.Errorf("the widget tried WebSocket %s times in all, want 2", tries)
	}
	v.checkConsole()
}
