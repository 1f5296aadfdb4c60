package web_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleDeskPagesInBrowser drives the console pages of issue 11 with
// an admin key against a real `kefu serve`: the review of unanswered
// questions (similar ones grouped with their count; one added as an FAQ
// entry, which the API then answers from) and of answers voted down (with
// the comment and the conversation, whose transcript opens); the
// Conversations page's filters; webhook settings against a local receiver
// (the secret shown once verifies the ping's signature with Go's own HMAC;
// a failed delivery is logged with the receiver's status and redelivered);
// and the widget snippet, whose tag, pasted into a page on another origin,
// runs a widget that answers.
func TestConsoleDeskPagesInBrowser(t *testing.T) {
	data, faq := shopData(t)
	want := faqAnswer(t, faq, faqQuestion)
	admin := cliKey(t, data, "--scope", "admin", "--name", "ops")
	// The webhook receiver below listens on 127.0.0.1: the operator's
	// opt-in lets deliveries go there.
	base := serveConsole(t, data, "--webhook-allow-hosts", "127.0.0.1")
	ask := func(q, user string) map[string]any {
		var a map[string]any
		apiDo(t, "POST", base+"/v1/kbs/shop/ask", admin, map[string]string{"question": q, "user": user}, &a)
		return a
	}

	// Customers' questions through the API: one the FAQ cannot answer,
	// asked twice alike; an answer voted down; a hand-off.
	const parrot = "Can my parrot sing in your store?"
	// (Each from its own customer: one customer's asks share a conversation.)
	for i, q := range []string{parrot, "can my parrot sing in your store"} {
		if r := ask(q, fmt.Sprintf("visitor-%d", 1+4*i))["route"]; r != "unknown" && r != "disclaimer" {
			t.Fatalf("%q took route %v, want an unanswered one", q, r)
		}
	}
	voted := ask(faqQuestion, "visitor-2")
	apiDo(t, "POST", base+"/v1/kbs/shop/answers/"+voted["id"].(string)+"/feedback", admin, map[string]any{"vote": -1, "comment": "too vague"}, nil)
	handed := ask("I want to talk to a person", "visitor-3")
	if handed["route"] != "handoff" {
		t.Fatalf("hand-off request took route %v", handed["route"])
	}

	d := newDriver(t, base, 1280, 900)
	defer d.screenshotOnFailure()
	d.useKey(admin)

	// Review: the two alike questions are one group of 2.
	d.do(chromedp.Navigate(base + "/#/kb/shop/unanswered"))
	group := `[...document.querySelectorAll('.view-unanswered tbody tr[data-ids]')].find(r => r.querySelector('th').firstChild.textContent.toLowerCase().startsWith('can my parrot'))`
	d.waitJS(group + ` !== undefined`)
	d.expectEval(group+`.querySelector('td.count').textContent`, "2")
	if n := d.eval(group + `.dataset.ids.split(',').length + ''`); n != "2" {
		t.Errorf("the group acts on %s answers, want 2", n)
	}
	// Thumbs-down: the question, the comment, a link to the conversation.
	down := `document.querySelector('#un-down-title').parentElement`
	d.waitJS(down + `.querySelector('tbody tr[data-ids="` + voted["id"].(string) + `"]') !== null`)
	row := down + `.querySelector('tbody tr[data-ids="` + voted["id"].(string) + `"]')`
	d.expectEval(row+`.querySelector('th').textContent`, faqQuestion)
	if c := d.eval(row + `.textContent`); !strings.Contains(c, "too vague") {
		t.Errorf("the voted-down row reads %q, without the comment", c)
	}

	// Add the parrot question as an FAQ entry: the row goes, and the API
	// answers the question from the new entry at once.
	const parrotAnswer = "Parrots are welcome, and may sing quietly."
	d.do(chromedp.Evaluate[chromedp.Void](group + `.querySelector('[data-action="add_faq"]').click()`))
	d.waitJS(`document.querySelector('.action-row:not([hidden]) textarea') !== null`)
	d.do(chromedp.SendKeys(chromedp.CSS(`.action-row:not([hidden]) textarea`), parrotAnswer),
		chromedp.Click(chromedp.CSS(`.action-row:not([hidden]) button[type=submit]`)))
	d.waitJS(group + ` === undefined`)
	if a := ask(parrot, "visitor-4"); (a["route"] != "faq" && a["route"] != "disclaimer") || !strings.Contains(a["text"].(string), parrotAnswer) {
		t.Errorf("after adding the FAQ entry the parrot question is answered %v: %q", a["route"], a["text"])
	}

	// The voted-down answer's conversation opens on the Conversations page.
	d.do(chromedp.Evaluate[chromedp.Void](row + `.querySelector('a[href*="conversations"]').click()`))
	d.waitJS(`document.querySelector('.view-conversations .transcript .tm-bot') !== null`)
	d.expectEval(`document.querySelector('.view-conversations .transcript .tm-customer .tm-text').textContent`, faqQuestion)
	if b := d.eval(`document.querySelector('.view-conversations .transcript .tm-bot').textContent`); !strings.Contains(b, want) || !strings.Contains(b, str("en", "conv.vote.down")) {
		t.Errorf("the transcript's answer reads %q, want the FAQ answer and the vote", b)
	}

	// Conversations: filtered by state, then by customer.
	d.do(chromedp.Navigate(base + "/#/kb/shop/conversations?state=waiting"))
	d.waitJS(`document.querySelector('.convs-table tbody tr') !== null`)
	var ids []string
	d.evalJSON(`[...document.querySelectorAll('.convs-table tbody tr')].map(r => r.dataset.conv)`, &ids)
	if len(ids) != 1 || ids[0] != handed["conversation_id"] {
		t.Errorf("waiting conversations %q, want only %v", ids, handed["conversation_id"])
	}
	d.do(chromedp.Navigate(base + "/#/kb/shop/conversations?end_user=visitor-5"))
	d.waitJS(`document.querySelectorAll('.convs-table tbody tr').length === 1 && document.querySelector('.convs-table tbody tr th a').textContent === 'visitor-5'`)
	d.do(chromedp.Click(chromedp.CSS(`.convs-table tbody tr th a`)))
	d.waitJS(`document.querySelector('.view-conversations .transcript .tm-customer') !== null`)
	d.expectEval(`document.querySelector('.view-conversations .transcript .tm-customer .tm-text').textContent`, "can my parrot sing in your store")

	// Webhooks: a receiver that fails when told to.
	rec := newReceiver(t)
	d.do(chromedp.Navigate(base + "/#/kb/shop/webhooks"))
	d.waitJS(`document.getElementById('webhook-url') !== null`)
	d.do(chromedp.SendKeys(chromedp.ID("webhook-url"), rec.url), chromedp.Click(chromedp.CSS(`#webhook-form button[type=submit]`)))
	d.waitJS(`document.getElementById('webhook-secret-value') !== null && document.querySelector('.webhooks-table tbody tr[data-webhook]') !== null`)
	secret := d.eval(`document.getElementById('webhook-secret-value').value`)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret shown is %q", secret)
	}
	hook := `document.querySelector('.webhooks-table tbody tr[data-webhook]')`
	d.do(chromedp.Evaluate[chromedp.Void](hook + `.querySelector('[data-action="ping"]').click()`))
	ping := rec.wait(t, "ping")
	if err := verify(secret, ping); err != nil {
		t.Errorf("the ping's signature does not verify with the secret the console showed: %v", err)
	}
	d.do(chromedp.Evaluate[chromedp.Void](hook + `.querySelector('[data-action="log"]').click()`))
	d.waitJS(`document.querySelector('.deliveries tr[data-state="delivered"]') !== null`)

	// The receiver fails: the log (which refreshes itself while a delivery
	// is pending) shows its status; redelivered, it arrives.
	rec.fail.Store(true)
	d.do(chromedp.Evaluate[chromedp.Void](hook + `.querySelector('[data-action="ping"]').click()`))
	rec.wait(t, "ping")
	d.waitJSOr(`(() => { const r = document.querySelector('.deliveries tbody tr'); return r && r.dataset.state === 'pending' && r.textContent.includes('503'); })()`,
		`document.querySelector('.deliveries') && document.querySelector('.deliveries').textContent`)
	rec.fail.Store(false)
	d.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.deliveries tbody tr [data-action="redeliver"]').click()`))
	again := rec.wait(t, "ping")
	if err := verify(secret, again); err != nil {
		t.Errorf("the redelivery's signature: %v", err)
	}
	d.waitJS(`(() => { const r = document.querySelector('.deliveries tbody tr'); return r && r.dataset.state === 'delivered'; })()`)

	// The widget snippet: a public key for another origin; the tag it
	// shows, pasted into that origin's page, runs a widget that answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	shop := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	d.do(chromedp.Navigate(base + "/#/kb/shop/widget"))
	d.waitJS(`document.getElementById('widget-origins') !== null`)
	d.do(chromedp.SendKeys(chromedp.ID("widget-origins"), shop),
		chromedp.SetValue(chromedp.ID("widget-lang"), "en"),
		chromedp.Click(chromedp.CSS(`#widget-form button[type=submit]`)))
	d.waitJS(`document.getElementById('widget-snippet') !== null && document.querySelector('.view-widget tr[data-key]') !== null`)
	tag := d.eval(`document.getElementById('widget-snippet').value`)
	if !strings.HasPrefix(tag, `<script src="`+base+`/widget.js" data-kb="shop" data-key="kefu_`) || !strings.Contains(tag, `data-lang="en"`) {
		t.Fatalf("snippet %q", tag)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>shop</title></head><body><p>A page.</p>%s</body></html>", tag)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	d.screenshot("console-widget.png")
	d.do(chromedp.Navigate(shop + "/"))
	d.waitJS(`!!document.querySelector('kefu-widget') && !!` + widgetJS + `.querySelector('.launcher')`)
	d.eval(widgetJS + `.querySelector('.launcher').click(), 'ok'`)
	d.widgetAsk(faqQuestion)
	d.waitJS(`(() => { const m = [...` + widgetJS + `.querySelectorAll('.msg.bot')].pop(); return m && !m.classList.contains('streaming'); })()`)
	if got := d.eval(`[...` + widgetJS + `.querySelectorAll('.msg.bot')].pop().textContent`); !strings.Contains(got, want) {
		t.Errorf("the pasted widget answered %q, want the FAQ answer", got)
	}
	d.checkConsole("status of 503")
}

// apiDo calls the API with a key, failing the test unless it answers 2xx.
func apiDo(t *testing.T, method, url, key string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

// receiver is a webhook receiver: it records each delivery and answers 503
// while fail is set.
type receiver struct {
	url  string
	fail atomic.Bool
	got  chan delivery
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: make(chan delivery, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		rc.got <- delivery{header: r.Header.Clone(), body: b}
		if rc.fail.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.url = "http://" + ln.Addr().String() + "/hooks"
	return rc
}

// wait returns the next delivery of an event type, skipping others.
func (rc *receiver) wait(t *testing.T, typ string) delivery {
	t.Helper()
	for {
		select {
		case d := <-rc.got:
			if d.header.Get("Kefu-Event-Type") == typ {
				return d
			}
		case <-time.After(stepTimeout):
			t.Fatalf("no %s delivery arrived", typ)
		}
	}
}

// verify checks a delivery's Kefu-Signature (t=…,v1=…) as a receiver
// would, with Go's HMAC: HMAC-SHA256(secret, t + "." + body).
func verify(secret string, d delivery) error {
	var ts, sig string
	for _, p := range strings.Split(d.header.Get("Kefu-Signature"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(d.body)
	want := hex.EncodeToString(mac.Sum(nil))
	if ts == "" || !hmac.Equal([]byte(sig), []byte(want)) {
		return fmt.Errorf("header %q, want v1=%s", d.header.Get("Kefu-Signature"), want)
	}
	return nil
}
