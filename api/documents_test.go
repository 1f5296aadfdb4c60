package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fasthttp/websocket"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

type file struct{ name, text string }

// multipartBody builds an upload of files, with a doc_id field when not "".
func multipartBody(t *testing.T, docID string, files ...file) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if docID != "" {
		w.WriteField("doc_id", docID)
	}
	for _, f := range files {
		fw, err := w.CreateFormFile("file", f.name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, f.text)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func postUpload(t *testing.T, base, key, kb, docID string, files ...file) (*http.Response, []byte) {
	t.Helper()
	ct, body := multipartBody(t, docID, files...)
	req, _ := http.NewRequest("POST", base+"/v1/kbs/"+kb+"/documents", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// uploadText uploads one text file under a document id and returns the job.
func uploadText(t *testing.T, base, key, kb, docID, text string) kefu.Job {
	t.Helper()
	resp, raw := postUpload(t, base, key, kb, docID, file{filepath.Base(docID), text})
	if resp.StatusCode != 202 {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	var j kefu.Job
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func uploadStatus(t *testing.T, base, key, kb, name, text string) (int, string) {
	resp, raw := postUpload(t, base, key, kb, "", file{name, text})
	return resp.StatusCode, string(raw)
}

func TestDocumentsLifecycle(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	cfg := s.config()
	cfg.UploadLimit = 64 << 10
	_, base := serve(t, cfg)
	key := s.newKey(t, kefu.ScopeAdmin, "")

	var kb api.KBView
	if r := call(t, "POST", base+"/v1/kbs", key, map[string]any{"name": "docs", "description": "docs test"}, &kb); r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, bodyOf(r))
	}
	t.Cleanup(func() { s.store.DeleteKB(ctx, "docs") })

	// Two files in one upload.
	resp, raw := postUpload(t, base, key, "docs", "",
		file{"returns.md", "# Returns\n\nItems can be returned within 30 days of delivery.\n"},
		file{"shipping.txt", "Orders ship within two business days. International delivery takes 7 to 15 days.\n"})
	if resp.StatusCode != 202 || resp.Header.Get("Location") == "" {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	var job kefu.Job
	json.Unmarshal(raw, &job)
	if job.ID == "" || job.KB != "docs" || job.Files != 2 {
		t.Fatalf("job: %+v", job)
	}
	job = waitJob(t, base, key, job.ID)
	if job.State != kefu.JobDone || job.Done != 2 || len(job.Failed) != 0 || job.Chunks < 2 {
		t.Fatalf("finished job: %+v", job)
	}

	// A document id with a slash, path-escaped in the URL.
	j := uploadText(t, base, key, "docs", "faq/contact us.md", "# Contact\n\nWrite to help@example.com for anything else.\n")
	waitJob(t, base, key, j.ID)
	var list struct {
		Documents []kefu.Document `json:"documents"`
	}
	call(t, "GET", base+"/v1/kbs/docs/documents", key, nil, &list)
	got := map[string]kefu.DocStatus{}
	for _, d := range list.Documents {
		got[d.ID] = d.Status
	}
	if len(got) != 3 || got["returns.md"] != kefu.DocIndexed || got["shipping.txt"] != kefu.DocIndexed || got["faq/contact us.md"] != kefu.DocIndexed {
		t.Fatalf("documents: %v", got)
	}
	esc := url.PathEscape("faq/contact us.md")
	var doc api.DocumentView
	if r := call(t, "GET", base+"/v1/kbs/docs/documents/"+esc, key, nil, &doc); r.StatusCode != 200 {
		t.Fatalf("get %s: %d %s", esc, r.StatusCode, bodyOf(r))
	}
	if doc.ID != "faq/contact us.md" || len(doc.Chunks) == 0 || !strings.Contains(doc.Chunks[0].Text, "help@example.com") {
		t.Fatalf("document: %+v", doc)
	}

	// Re-index from the stored source.
	src := "# Contact\n\nWrite to support@example.com for anything else.\n"
	if err := s.store.PutSource(ctx, "docs", "faq/contact us.md", []byte(src)); err != nil {
		t.Fatal(err)
	}
	var rj kefu.Job
	if r := call(t, "POST", base+"/v1/kbs/docs/documents/"+esc+"/reindex", key, nil, &rj); r.StatusCode != 202 {
		t.Fatalf("reindex: %d %s", r.StatusCode, bodyOf(r))
	}
	if rj = waitJob(t, base, key, rj.ID); rj.Done != 1 {
		t.Fatalf("reindex job: %+v", rj)
	}
	call(t, "GET", base+"/v1/kbs/docs/documents/"+esc, key, nil, &doc)
	if doc.Source != "contact us.md" || !strings.Contains(doc.Chunks[0].Text, "support@example.com") {
		t.Fatalf("re-indexed document: source %q, %+v", doc.Source, doc.Chunks)
	}
	// A document without a stored source.
	if err := s.store.PutDocument(ctx, &kefu.Document{ID: "nosource", KB: "docs", Source: "nosource.txt", Status: kefu.DocIndexed}, nil, nil); err != nil {
		t.Fatal(err)
	}
	var e errorBody
	if r := call(t, "POST", base+"/v1/kbs/docs/documents/nosource/reindex", key, nil, &e); r.StatusCode != 404 || !strings.Contains(e.Error.Message, "upload it again") {
		t.Fatalf("reindex without a source: %d %+v", r.StatusCode, e)
	}

	// Delete.
	if r := call(t, "DELETE", base+"/v1/kbs/docs/documents/"+esc, key, nil, nil); r.StatusCode != 204 {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := call(t, "GET", base+"/v1/kbs/docs/documents/"+esc, key, nil, &e); r.StatusCode != 404 || e.Error.Code != kefu.ENOTFOUND {
		t.Fatalf("get after delete: %d %+v", r.StatusCode, e)
	}

	// Bad uploads.
	big := strings.Repeat("x", 70<<10)
	if resp, raw := postUpload(t, base, key, "docs", "", file{"big.txt", big}); resp.StatusCode != 413 {
		t.Fatalf("upload over the limit: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := postUpload(t, base, key, "docs", "one", file{"a.txt", "a"}, file{"b.txt", "b"}); resp.StatusCode != 400 {
		t.Fatalf("doc_id with two files: %d %s", resp.StatusCode, raw)
	}
	if r := call(t, "POST", base+"/v1/kbs/docs/documents", key, `{"file":"x"}`, &e); r.StatusCode != 415 {
		t.Fatalf("JSON upload: %d %+v", r.StatusCode, e)
	}
	if resp, raw := postUpload(t, base, key, "nokb", "", file{"a.txt", "a"}); resp.StatusCode != 404 {
		t.Fatalf("upload to a missing KB: %d %s", resp.StatusCode, raw)
	}
	if r := call(t, "GET", base+"/v1/jobs/job_nope", key, nil, nil); r.StatusCode != 404 {
		t.Fatalf("missing job: %d", r.StatusCode)
	}

	// KB settings: merged field by field, the LLM key never shown.
	var upd api.KBView
	r := call(t, "PATCH", base+"/v1/kbs/docs", key, map[string]any{"settings": map[string]any{
		"threshold": 0.9, "chunking": map[string]any{"overlap_tokens": 16},
		"llm": map[string]any{"base_url": "https://llm.example.com/v1", "model": "m", "api_key": "sk-secret"},
	}}, &upd)
	if r.StatusCode != 200 || upd.Settings.Threshold != 0.9 || upd.Settings.Floor != kefu.DefaultFloor ||
		upd.Settings.Chunking.MaxTokens != kefu.DefaultChunkSize || upd.Settings.Chunking.OverlapTokens != 16 ||
		upd.Settings.LLM == nil || upd.Settings.LLM.APIKey != api.RedactedKey || upd.Description != "docs test" {
		t.Fatalf("patch: %d %s", r.StatusCode, bodyOf(r))
	}
	if strings.Contains(bodyOf(call(t, "GET", base+"/v1/kbs/docs", key, nil, nil)), "sk-secret") {
		t.Fatal("the LLM key is shown")
	}
	// Sending the placeholder back keeps the stored key.
	call(t, "PATCH", base+"/v1/kbs/docs", key, map[string]any{"settings": map[string]any{"llm": map[string]any{"api_key": api.RedactedKey, "model": "m2"}}}, nil)
	stored, _ := s.store.KB(ctx, "docs")
	if stored.Settings.LLM.APIKey != "sk-secret" || stored.Settings.LLM.Model != "m2" || stored.Settings.Threshold != 0.9 {
		t.Fatalf("stored settings: %+v", stored.Settings.LLM)
	}
	if r := call(t, "PATCH", base+"/v1/kbs/docs", key, map[string]any{"settings": map[string]any{"treshold": 0.5}}, &e); r.StatusCode != 400 {
		t.Fatalf("unknown setting: %d", r.StatusCode)
	}
	if r := call(t, "PATCH", base+"/v1/kbs/docs", key, map[string]any{"settings": map[string]any{"floor": 0.95}}, &e); r.StatusCode != 400 {
		t.Fatalf("floor above threshold: %d", r.StatusCode)
	}
	if r := call(t, "POST", base+"/v1/kbs", key, map[string]any{"name": "docs"}, &e); r.StatusCode != 409 {
		t.Fatalf("create twice: %d", r.StatusCode)
	}
	if r := call(t, "POST", base+"/v1/kbs", key, map[string]any{"name": "Bad Name"}, &e); r.StatusCode != 400 {
		t.Fatalf("bad name: %d", r.StatusCode)
	}
	if r := call(t, "DELETE", base+"/v1/kbs/docs", key, nil, nil); r.StatusCode != 204 {
		t.Fatalf("delete KB: %d", r.StatusCode)
	}
	if r := call(t, "GET", base+"/v1/kbs/docs", key, nil, nil); r.StatusCode != 404 {
		t.Fatalf("get a deleted KB: %d", r.StatusCode)
	}
}

func TestErrorsAndLimits(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.BodyLimit = 1 << 10
	cfg.DevMode = true
	_, base := serve(t, cfg)

	var e errorBody
	r := call(t, "GET", base+"/v1/nothing", "", nil, &e)
	if r.StatusCode != 404 || e.Error.Code != kefu.ENOTFOUND || e.Error.Message != "no route GET /v1/nothing (the API is under /v1)" ||
		e.RequestID == "" || r.Header.Get("X-Request-ID") != e.RequestID {
		t.Fatalf("unknown route: %d %+v %q", r.StatusCode, e, r.Header.Get("X-Request-ID"))
	}
	r = call(t, "POST", base+"/v1/kbs/shop/search", "", `{"query": `, &e)
	if r.StatusCode != 400 || e.Error.Code != kefu.EINVALID {
		t.Fatalf("malformed JSON: %d %+v", r.StatusCode, e)
	}
	r = call(t, "POST", base+"/v1/kbs/shop/search", "", map[string]string{"query": strings.Repeat("q", 2<<10)}, &e)
	if r.StatusCode != 413 || e.Error.Code != kefu.ETOOLARGE {
		t.Fatalf("body over the limit: %d %+v", r.StatusCode, e)
	}
	r = call(t, "POST", base+"/v1/kbs/nope/ask", "", map[string]string{"question": "hi"}, &e)
	if r.StatusCode != 404 || e.Error.Code != kefu.ENOTFOUND {
		t.Fatalf("missing KB: %d %+v", r.StatusCode, e)
	}
	// A client's plain request id is kept; a hostile one is replaced.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Request-ID", "trace-123")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") != "trace-123" {
		t.Fatalf("request id %q", resp.Header.Get("X-Request-ID"))
	}
	req.Header.Set("X-Request-ID", "bad id\"with{json}")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if id := resp.Header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \"{") {
		t.Fatalf("request id %q", id)
	}
}

func TestStarting(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.Starting, cfg.DevMode = true, true
	srv, base := serve(t, cfg)
	for _, path := range []string{"/readyz", "/v1/kbs"} {
		if r := call(t, "GET", base+path, "", nil, nil); r.StatusCode != 503 {
			t.Fatalf("%s while starting: %d", path, r.StatusCode)
		}
	}
	for _, path := range []string{"/healthz", "/v1/auth", "/metrics"} {
		if r := call(t, "GET", base+path, "", nil, nil); r.StatusCode != 200 {
			t.Fatalf("%s while starting: %d %s", path, r.StatusCode, bodyOf(r))
		}
	}
	srv.SetReady(true)
	for _, path := range []string{"/readyz", "/v1/kbs"} {
		if r := call(t, "GET", base+path, "", nil, nil); r.StatusCode != 200 {
			t.Fatalf("%s when ready: %d", path, r.StatusCode)
		}
	}
}

func TestEvalReport(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode = true
	_, base := serve(t, cfg)
	if r := call(t, "GET", base+"/v1/kbs/shop/eval", "", nil, nil); r.StatusCode != 404 {
		t.Fatalf("no report yet: %d", r.StatusCode)
	}
	ctx := context.Background()
	if err := s.store.PutReport(ctx, "shop", map[string][]byte{
		kefu.ReportSummary: []byte(`{"dataset":"shop questions","modes":{"hybrid":{"mrr@10":0.91}}}`),
		kefu.ReportHTML:    []byte("<!doctype html><title>shop eval</title>"),
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.PutReport(ctx, "shop", nil) })
	var sum map[string]any
	r := call(t, "GET", base+"/v1/kbs/shop/eval", "", nil, &sum)
	if r.StatusCode != 200 || sum["dataset"] != "shop questions" {
		t.Fatalf("summary: %d %v", r.StatusCode, sum)
	}
	r = call(t, "GET", base+"/v1/kbs/shop/eval/report.html", "", nil, nil)
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(bodyOf(r), "shop eval") {
		t.Fatalf("report: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
}

func TestCORS(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.CORSOrigins = []string{"https://shop.example"}
	var (
		logs  strings.Builder
		logMu sync.Mutex
	)
	cfg.Logger = slogTo(&logs, &logMu)
	_, base := serve(t, cfg)
	key := s.newKey(t, kefu.ScopeQuery, "shop")
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", base+"/v1/kbs/shop/ask", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	r := preflight("https://shop.example")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight from the widget's origin: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.example"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin allowed: %v", r.Header)
	}
	// The console is served by the server itself: its origin (host and
	// port) is no CORS request and no refusal, but the same host on
	// another port is another origin.
	self, _ := url.Parse(base)
	other := "http://" + self.Hostname() + ":1"
	preflight(base)
	preflight(other)
	logMu.Lock()
	l := logs.String()
	logMu.Unlock()
	if strings.Contains(l, "origin="+base+" ") {
		t.Errorf("the console's own origin %s was refused as a CORS origin:\n%s", base, l)
	}
	if !strings.Contains(l, "origin="+other+" ") {
		t.Errorf("another port of the same host (%s) was not refused:\n%s", other, l)
	}
	// The widget's origin may open a chat.
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/kbs/shop/chat?access_token=" + key
	c, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {"https://shop.example"}})
	if err != nil {
		t.Fatalf("chat from the widget's origin: %v", err)
	}
	c.Close()
}
