package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// apiCall calls the server's API with key and decodes a JSON answer.
func apiCall(t *testing.T, method, url, key string, body, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// switchKey enters key in the API key dialog, opening it first.
func (d *driver) switchKey(key string) {
	d.t.Helper()
	d.do(chromedp.Click(chromedp.ID("key-button")))
	d.waitJS(`document.getElementById('key-dialog').open`)
	d.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("key-input").value = ""`),
		chromedp.SendKeys(chromedp.ID("key-input"), key),
		chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)))
	d.waitJS(`!document.getElementById('key-dialog').open`)
}

// latinWords are the words of Latin letters in s that are not names the
// console keeps as they are in every language.
func latinWords(s string) []string {
	keep := map[string]bool{"BM25": true, "ECE": true, "HTML": true, "JSONL": true, "JSON": true, "API": true, "kefu": true, "LLM": true,
		"admin": true, "ingest": true, "query": true, "doc_ids": true, "faq_questions": true, "none": true, "true": true, "question": true, "eval": true, "questions": true}
	var out []string
	for _, w := range regexp.MustCompile(`[A-Za-z][A-Za-z_@0-9-]*`).FindAllString(s, -1) {
		if !keep[w] && len(w) > 1 {
			out = append(out, w)
		}
	}
	return out
}

// TestConsoleKeysEvalAndAccess drives the console with keys of each scope
// against a real `kefu serve`: the admin's Keys page creates a key (shown
// once, copied) that the server accepts, and revokes it (the server then
// refuses it); the Evaluation page self-calibrates the KB and evaluates
// it on uploaded labelled questions in the server, and shows it in Chinese
// with no English left but names; an upload where one file fails is shown
// as partly failed with that file's reason, not "Done"; error notices go
// when the page or the key changes; pages a key's scope may not see say so.
func TestConsoleKeysEvalAndAccess(t *testing.T) {
	data, _ := shopData(t)
	tmp := t.TempDir()
	admin := cliKey(t, data, "--scope", "admin")
	base := serveConsole(t, data)
	var ingestKey, queryKey struct {
		Key string `json:"key"`
	}
	apiCall(t, "POST", base+"/v1/keys", admin, map[string]any{"scope": "ingest", "name": "uploader"}, &ingestKey)
	apiCall(t, "POST", base+"/v1/keys", admin, map[string]any{"scope": "query", "kb": "shop", "name": "widget"}, &queryKey)

	d := newDriver(t, base, 1280, 900)
	defer d.screenshotOnFailure()
	d.do(chromedp.Navigate(base + "/"))
	d.waitJS(`document.getElementById('key-dialog').open`)
	d.do(chromedp.SendKeys(chromedp.ID("key-input"), admin), chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)))
	d.waitJS(`!document.getElementById('key-dialog').open && document.querySelector('tr[data-kb="shop"]') !== null`)

	// An error notice goes when the page changes.
	d.do(chromedp.SendKeys(chromedp.ID("kb-name"), "shop"), chromedp.Click(chromedp.CSS(`#create-kb button[type=submit]`)))
	d.waitJS(`document.querySelector('.toast.error') !== null`)
	d.do(chromedp.Click(chromedp.CSS(`#tabs a[data-page="keys"]`)))
	d.waitJS(`location.hash === '#/keys' && document.querySelector('#keys-list table') !== null`)
	d.expectEval(`document.querySelectorAll('.toast.error').length + ''`, "0")

	// Keys: create one for the widget; the secret is shown once and works.
	d.do(chromedp.SetValue(chromedp.ID("key-scope"), "query"),
		chromedp.SetValue(chromedp.ID("key-kb"), "shop"),
		chromedp.SendKeys(chromedp.ID("key-name"), "chat widget"),
		chromedp.Click(chromedp.CSS(`#create-key button[type=submit]`)))
	d.waitJS(`!document.getElementById('key-secret').hidden && document.querySelector('#key-secret input').value.startsWith('kefu_')`)
	secret := d.eval(`document.querySelector('#key-secret input').value`)
	var who struct{ Scope, KB string }
	if code := apiCall(t, "GET", base+"/v1/auth", secret, nil, &who); code != 200 || who.Scope != "query" || who.KB != "shop" {
		t.Fatalf("the key the page created: %d %+v", code, who)
	}
	d.do(chromedp.Click(chromedp.CSS(`#key-secret button`)))
	d.waitJS(`document.querySelector('#key-secret [role=status]').textContent === ` + jsString(str("en", "keys.copied")))
	id := d.eval(`[...document.querySelectorAll('#keys-list tr[data-key]')].find(r => r.textContent.includes('chat widget')).dataset.key`)
	d.expectEval(`document.querySelectorAll('#keys-list tr[data-key]').length + ''`, "4")
	// Revoke it: the server refuses it from then on.
	d.do(chromedp.Click(chromedp.CSS(`#keys-list tr[data-key="` + id + `"] button`)))
	d.waitJS(`document.getElementById('confirm-dialog').open`)
	d.do(chromedp.Click(chromedp.ID("confirm-ok")))
	d.waitJS(`document.querySelector('#keys-list tr[data-key="` + id + `"]') === null`)
	if code := apiCall(t, "GET", base+"/v1/kbs", secret, nil, nil); code != 401 {
		t.Errorf("the revoked key: %d, want 401", code)
	}

	// Evaluation: self-calibrate in the server, then evaluate on uploaded
	// labelled questions with answers.
	d.do(chromedp.Navigate(base + "/#/kb/shop/eval"))
	d.waitJS(`document.getElementById('eval-run') !== null && document.getElementById('eval-self').checked`)
	d.eval(`(() => { window.__notes = []; new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) window.__notes.push(n.textContent); })
	  .observe(document.getElementById('toasts'), { childList: true }); return ''; })()`)
	evalDone := `window.__notes.filter(s => s.includes(` + jsString(str("en", "eval.run.done")) + `)).length === `
	d.do(chromedp.Click(chromedp.CSS(`#eval-run button[type=submit]`)))
	d.waitJSOr(evalDone+`1`, `window.__notes`)
	d.waitJS(`document.querySelector('.view-eval .facts') !== null && document.querySelector('.view-eval .facts').textContent.includes(` + jsString(str("en", "eval.conf.self")) + `)`)
	questions := testenv.ShopQuestions(t)
	d.do(chromedp.SetUploadFiles(chromedp.ID("eval-questions"), []string{questions}))
	d.waitJS(`!document.getElementById('eval-answers').disabled`)
	d.do(chromedp.Click(chromedp.ID("eval-self")), chromedp.Click(chromedp.ID("eval-answers")),
		chromedp.Click(chromedp.CSS(`#eval-run button[type=submit]`)))
	d.waitJSOr(evalDone+`2`, `window.__notes`)
	d.waitJS(`document.querySelector('.view-eval th[data-mode="hybrid"]') !== null`)
	var stored struct{ Queries int }
	if code := apiCall(t, "GET", base+"/v1/kbs/shop/eval", admin, nil, &stored); code != 200 || stored.Queries != 8 {
		t.Errorf("the report stored: %d, %d queries", code, stored.Queries)
	}
	// In Chinese, the page's text is Chinese but for names.
	d.do(chromedp.Click(chromedp.ID("lang-toggle")))
	d.waitJS(`document.documentElement.lang === 'zh-CN'`)
	text := d.eval(`(() => { const c = document.querySelector('.view-eval').cloneNode(true);
	  for (const e of c.querySelectorAll('.mono, code, pre, details:not([open]) > :not(summary), input')) e.remove();
	  document.body.append(c); const s = c.innerText; c.remove(); return s; })()`)
	if words := latinWords(text); len(words) > 0 {
		t.Errorf("English left on the Chinese evaluation page: %q", words)
	}
	d.screenshot("console-eval-zh.png")
	d.do(chromedp.Click(chromedp.ID("lang-toggle")))
	d.waitJS(`document.documentElement.lang === 'en'`)

	// An upload where one file fails is not "Done": the panel says so and
	// gives the file's reason.
	md, png := filepath.Join(tmp, "returns.md"), filepath.Join(tmp, "photo.png")
	if err := os.WriteFile(md, []byte("# Returns\n\nReturns are free within 30 days of delivery.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.do(chromedp.Navigate(base + "/#/kb/shop/documents"))
	d.waitJS(`document.getElementById('doc-files') !== null`)
	d.do(chromedp.SetUploadFiles(chromedp.ID("doc-files"), []string{md, png}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
	d.waitJS(`document.querySelector('.job[data-state="partial"]') !== null`)
	d.expectEval(`document.querySelector('.job[data-state="partial"] .job-label').textContent.startsWith(`+jsString(strings.Split(str("en", "docs.job.partial"), ":")[0])+`) + ''`, "true")
	failure := d.eval(`document.querySelector('.job[data-state="partial"] .job-failures li').textContent`)
	if !strings.HasPrefix(failure, "photo.png: ") || strings.Count(failure, "photo.png") != 1 {
		t.Errorf("the failed file's line: %q, want its name once and its reason", failure)
	}

	// An error notice of an action goes when the key changes (to an
	// ingest key, whose page, re-rendered, has no error of its own).
	d.do(chromedp.Navigate(base + "/#/"))
	d.waitJS(`document.getElementById('kb-name') !== null`)
	// Submitted, not clicked: the upload's notices may cover the button.
	d.do(chromedp.SendKeys(chromedp.ID("kb-name"), "shop"), chromedp.Evaluate[chromedp.Void](`document.getElementById('create-kb').requestSubmit()`))
	d.waitJS(`document.querySelector('.toast.error') !== null`)
	d.switchKey(ingestKey.Key)
	d.waitJS(`document.getElementById('auth-status').textContent.includes('ingest') && document.querySelector('tr[data-kb="shop"]') !== null`)
	d.expectEval(`document.querySelectorAll('.toast.error').length + ''`, "0")

	// The ingest key has no Keys tab (once the console has drawn its pages
	// again: it shows the key's scope first, while the previous key's
	// table is still on screen), and the Keys page says it cannot see it.
	d.waitJS(`document.querySelector('#tabs a[data-page="keys"]').hidden`)
	d.do(chromedp.Navigate(base + "/#/keys"))
	d.waitJS(`document.querySelector('.forbidden[data-page="keys"]') !== null`)
	d.expectText(`.forbidden h1`, strings.ReplaceAll(str("en", "auth.forbidden"), "{page}", str("en", "nav.keys")))

	// A query key of one KB: the documents page says it cannot see it,
	// rather than loading forever.
	d.switchKey(queryKey.Key)
	d.do(chromedp.Navigate(base + "/#/kb/shop/documents"))
	d.waitJS(`document.querySelector('.forbidden[data-page="documents"]') !== null`)
	d.expectEval(`(document.querySelector('.view-documents .loading') === null) + ''`, "true")
	d.do(chromedp.Click(chromedp.ID("lang-toggle"))) // the notice follows the language
	d.waitJS(`document.documentElement.lang === 'zh-CN'`)
	d.expectText(`.forbidden h1`, strings.ReplaceAll(str("zh", "auth.forbidden"), "{page}", str("zh", "nav.documents")))
	d.checkConsole("status of 401", "status of 403", "status of 404", "status of 409")
}
