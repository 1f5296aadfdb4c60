package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// leaks are texts that belong to Go, its libraries or the machine, never
// to an answer: Go type names, encoding/json's, mime/multipart's,
// archive/zip's and the compressors' words (their messages begin "zip: ",
// "gzip: "…, unlike a file name such as "a.zip: "), the stores' names, file
// paths.
var leaks = regexp.MustCompile(`struct|Go value|unmarshal|invalid character|reflect\.|runtime error|goroutine|` +
	`(^|[\s"(])(json|multipart|zip|gzip|flate|zstd|tar|xml|excelize|bbolt|bleve): |bbolt|bleve|/tmp/|/work/|\.go:\d`)

func checkNoLeak(t *testing.T, what, body string) {
	t.Helper()
	if m := leaks.FindString(body); m != "" {
		t.Errorf("%s: the answer holds %q: %s", what, m, body)
	}
}

// Every route of the route table, sent malformed input of every kind it
// reads — JSON of the wrong types, cut short, not an object, not JSON, a
// compressed body that is not, a broken multipart stream, a file that is
// not the ZIP it says, an archive that is not one, query parameters that
// are not numbers or out of range — answers 4xx in the API's words: no
// answer holds Go type names, library error text or file paths. Routes
// that read no input are still called, and must not fail with a 5xx.
func TestMalformedInputOnEveryRoute(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode = true
	srv, base := serve(t, cfg)

	requests := 0
	do := func(method, path, ct, encoding string, body []byte) (int, string) {
		t.Helper()
		requests++
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return resp.StatusCode, "" // a live stream, open until the client leaves
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	multipartOf := func(name, content string) (string, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fw, _ := w.CreateFormFile("file", name)
		io.WriteString(fw, content)
		w.Close()
		return w.FormDataContentType(), buf.Bytes()
	}

	jsonCases := []struct{ name, body string }{
		{"wrong types", `{"query":1,"k":"ten","question":7,"name":5,"description":[],"settings":{"threshold":"high"},"vote":"up","comment":1,` +
			`"messages":"hi","model":3,"input":{"a":1},"scope":9,"kb":1,"conversation_id":2,"stream":"yes","mode":3,"filter":"x","label":4}`},
		{"cut short", `{"query": "how do I ret`},
		{"an array", `[1, 2, 3]`},
		{"a number", `42`},
		{"not JSON", `hello, kefu`},
		{"empty", ``},
	}
	// Bodies well formed but out of range, for the routes that read them.
	rangeCases := map[string][]string{
		"/v1/kbs/:kb/search":               {`{"query":"refund","k":-1}`, `{"query":"refund","k":0}`, `{"query":"refund","k":100000}`, `{"query":"refund","k":1.5}`},
		"/v1/kbs/:kb/answers/:id/feedback": {`{"vote":2}`},
		"/v1/kbs/:kb/ask":                  {`{"question":" "}`},
		"/v1/keys":                         {`{"scope":"root"}`},
		"/v1/kbs":                          {`{"name":"Not A Name!"}`},
	}
	badQuery := "?k=-1&limit=abc&offset=-5&reembed=maybe&as=..%2Fetc"
	mustRefuseQuery := map[string]bool{
		"GET /v1/kbs/:kb/unanswered": true,
		"GET /v1/kbs/:kb/documents":  true,
		"POST /v1/kbs/import":        true,
	}

	routes := srv.Routes()
	if len(routes) < 25 {
		t.Fatalf("the route table lists %d routes", len(routes))
	}
	for _, r := range routes {
		method, pattern, _ := strings.Cut(r, " ")
		kb := "shop"
		if method == "DELETE" {
			kb = "no-such-kb" // malformed input, not the stack's KB, is under test
		}
		path := strings.NewReplacer(":kb", kb, ":id", "no-such-id").Replace(pattern)
		what := r

		// Query parameters that are not numbers or out of range.
		code, body := do(method, path+badQuery, "", "", nil)
		if code >= 500 || (mustRefuseQuery[r] && code/100 != 4) {
			t.Errorf("%s with %s: %d %s", what, badQuery, code, body)
		}
		if code >= 400 {
			checkNoLeak(t, what+badQuery, body)
		}
		if method != "POST" && method != "PATCH" {
			continue
		}
		switch pattern {
		case "/v1/kbs/:kb/documents":
			ct, mp := multipartOf("a.txt", "hello")
			cases := []struct {
				name, ct, enc string
				body          []byte
			}{
				{"JSON instead of multipart", "application/json", "", []byte(`{"file":"a.txt"}`)},
				{"multipart without boundary", "multipart/form-data", "", mp},
				{"multipart cut short", ct, "", mp[:len(mp)/2]},
				{"multipart with garbage", ct, "", []byte("this is not multipart at all")},
				{"gzip that is not", ct, "gzip", []byte("not gzip data")},
				{"no file part", "multipart/form-data; boundary=XYZ", "", []byte("--XYZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XYZ--\r\n")},
			}
			for _, c := range cases {
				code, body := do(method, path, c.ct, c.enc, c.body)
				if code/100 != 4 {
					t.Errorf("%s, %s: %d %s", what, c.name, code, body)
				}
				checkNoLeak(t, what+", "+c.name, body)
			}
			// Files that say they are a ZIP and are not (by name, or by
			// their first bytes): accepted, and the job says why in its
			// own words.
			for name, content := range map[string]string{
				"fake.zip":   "this is not a zip archive, whatever its name says",
				"broken.zip": "PK\x03\x04 a local header and then nothing of a ZIP",
			} {
				ct, mp = multipartOf(name, content)
				code, body := do(method, path, ct, "", mp)
				if code != 202 {
					t.Fatalf("%s, %s: %d %s", what, name, code, body)
				}
				var j kefu.Job
				json.Unmarshal([]byte(body), &j)
				j = waitJob(t, base, "", j.ID)
				if len(j.Failed) != 1 || j.Failed[0].Source != name || !strings.Contains(j.Failed[0].Reason, "ZIP") {
					t.Errorf("job of %s: %+v", name, j)
				}
				raw, _ := json.Marshal(j)
				checkNoLeak(t, what+", "+name+" (the job)", string(raw))
			}
			continue
		case "/v1/kbs/import":
			for _, c := range []struct {
				name, enc string
				body      []byte
			}{
				{"not an archive", "", []byte("this is not a knowledge-base archive")},
				{"gzip that is not", "gzip", []byte("not gzip data")},
				{"a ZIP instead", "", []byte("PK\x03\x04 not really")},
				{"empty", "", nil},
			} {
				code, body := do(method, path+"?as=walk-import", "application/octet-stream", c.enc, c.body)
				if code/100 != 4 {
					t.Errorf("%s, %s: %d %s", what, c.name, code, body)
				}
				checkNoLeak(t, what+", "+c.name, body)
			}
			continue
		}
		for _, c := range jsonCases {
			code, body := do(method, path, "application/json", "", []byte(c.body))
			if code/100 != 4 {
				t.Errorf("%s, %s: %d %s", what, c.name, code, body)
			}
			checkNoLeak(t, what+", "+c.name, body)
		}
		if method == "POST" {
			for _, b := range rangeCases[pattern] {
				code, body := do(method, path, "application/json", "", []byte(b))
				if code/100 != 4 {
					t.Errorf("%s, %s: %d %s", what, b, code, body)
				}
				checkNoLeak(t, what+", "+b, body)
			}
		}
		code, body = do(method, path, "application/json", "gzip", []byte("not gzip data"))
		if code/100 != 4 {
			t.Errorf("%s, gzip that is not: %d %s", what, code, body)
		}
		checkNoLeak(t, what+", gzip that is not", body)
	}
	t.Logf("%d routes, %d malformed requests", len(routes), requests)
	// Nothing malformed changed the stack's KB.
	var kb api.KBView
	if r := call(t, "GET", base+"/v1/kbs/shop", "", nil, &kb); r.StatusCode != 200 || kb.KB == nil || kb.Settings.Threshold != kefu.DefaultThreshold {
		t.Errorf("the shop KB after the walk: %d %s", r.StatusCode, bodyOf(r))
	}
}

// The messages name what was wrong as the JSON and the flags name it.
func TestErrorMessagesNameFieldsAndLimits(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode, cfg.BodyLimit = true, 4096
	_, base := serve(t, cfg)
	for _, c := range []struct {
		method, path, body string
		status             int
		want               []string
	}{
		{"POST", "/v1/kbs/shop/search", `{"query":1}`, 400, []string{"query must be a string, not a number"}},
		{"POST", "/v1/kbs/shop/search", `{"query":"refund","k":0}`, 400, []string{"k must be an integer from 1 to 100", "not 0"}},
		{"POST", "/v1/kbs/shop/search", `{"query":"refund","k":"ten"}`, 400, []string{"k must be an integer, not a string"}},
		{"POST", "/v1/kbs/shop/search", `{"query":"refund"`, 400, []string{"not valid JSON", `"query"`}},
		{"PATCH", "/v1/kbs/shop", `{"settings":{"threshold":"high"}}`, 400, []string{"settings.threshold must be a number, not a string"}},
		{"PATCH", "/v1/kbs/shop", `{"settings":{"treshold":0.5}}`, 400, []string{`unknown field "treshold"`}},
		{"POST", "/v1/kbs/shop/ask", `{"question":"` + strings.Repeat("x", 5000) + `"}`, 413, []string{"over 4096 bytes", "--body-limit"}},
		{"GET", "/v1/kbs/shop/unanswered?limit=abc", ``, 400, []string{`limit must be an integer from 1 to 1000, not "abc"`}},
		{"GET", "/v1/kbs/shop/documents?offset=-1", ``, 400, []string{"offset must be an integer from 0"}},
	} {
		var e errorBody
		r := call(t, c.method, base+c.path, "", []byte(c.body), &e)
		if c.body == "" {
			r = call(t, c.method, base+c.path, "", nil, &e)
		}
		if r.StatusCode != c.status {
			t.Errorf("%s %s %s: %d %+v, want %d", c.method, c.path, c.body, r.StatusCode, e, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(e.Error.Message, w) {
				t.Errorf("%s %s %.60s: message %q lacks %q", c.method, c.path, c.body, e.Error.Message, w)
			}
		}
	}
	// GET …/documents honours limit and offset, and says the total.
	var page struct {
		Documents  []kefu.Document `json:"documents"`
		Total      int             `json:"total"`
		NextOffset *int            `json:"next_offset"`
	}
	if r := call(t, "GET", base+"/v1/kbs/shop/documents?limit=1&offset=0", "", nil, &page); r.StatusCode != 200 || len(page.Documents) != 1 || page.Total < 1 {
		t.Errorf("documents?limit=1: %d, %d documents of %d", r.StatusCode, len(page.Documents), page.Total)
	}
	if r := call(t, "GET", base+"/v1/kbs/shop/documents?limit=5&offset=1000", "", nil, &page); r.StatusCode != 200 || len(page.Documents) != 0 || page.NextOffset != nil {
		t.Errorf("documents past the end: %d, %d documents, next %v", r.StatusCode, len(page.Documents), page.NextOffset)
	}
	// Following next_offset one document at a time visits every document once.
	if r := call(t, "POST", base+"/v1/kbs", "", map[string]string{"name": "paging"}, nil); r.StatusCode != 201 {
		t.Fatalf("create paging: %d", r.StatusCode)
	}
	t.Cleanup(func() { s.store.DeleteKB(context.Background(), "paging") })
	for i := range 3 {
		waitJob(t, base, "", uploadText(t, base, "", "paging", fmt.Sprintf("p/%d.md", i), fmt.Sprintf("# Page %d\n\nDocument number %d.\n", i, i)).ID)
	}
	seen := map[string]bool{}
	for off, pages := 0, 0; ; pages++ {
		page.NextOffset = nil
		if r := call(t, "GET", fmt.Sprintf("%s/v1/kbs/paging/documents?limit=1&offset=%d", base, off), "", nil, &page); r.StatusCode != 200 || pages > page.Total {
			t.Fatalf("documents?offset=%d: %d after %d pages of %d", off, r.StatusCode, pages, page.Total)
		}
		for _, d := range page.Documents {
			if seen[d.ID] {
				t.Errorf("document %s listed twice", d.ID)
			}
			seen[d.ID] = true
		}
		if page.NextOffset == nil {
			break
		}
		off = *page.NextOffset
	}
	if len(seen) != page.Total || page.Total != 3 {
		t.Errorf("paging visited %d of %d documents, want 3 of 3", len(seen), page.Total)
	}
}

// failingStore is the stack's store whose document listing fails as a
// broken database would. Test equipment: it proves what the API does with
// an internal error, nothing about the store.
type failingStore struct{ kefu.Store }

func (failingStore) Documents(ctx context.Context, kb string) ([]*kefu.Document, error) {
	return nil, kefu.Errorf(kefu.EINTERNAL, "list documents of %s in /var/lib/kefu/kefu.db: %w", kb, errors.New("bbolt: page 3 already freed"))
}

// An internal error reaches the client as "internal error" with the
// request id, never its cause; the server's log has the cause under that
// id.
func TestInternalErrorHidesItsCause(t *testing.T) {
	s := getStack(t)
	var logs testenv.SyncBuffer
	cfg := s.config()
	cfg.DevMode, cfg.Store, cfg.Logger = true, failingStore{s.store}, slog.New(slog.NewJSONHandler(&logs, nil))
	_, base := serve(t, cfg)
	var e errorBody
	r := call(t, "GET", base+"/v1/kbs/shop/documents", "", nil, &e)
	if r.StatusCode != 500 || e.Error.Code != kefu.EINTERNAL || e.RequestID == "" ||
		!strings.HasPrefix(e.Error.Message, kefu.InternalMessage) || !strings.Contains(e.Error.Message, e.RequestID) {
		t.Fatalf("internal error: %d %+v", r.StatusCode, e)
	}
	checkNoLeak(t, "an internal error", bodyOf(r))
	if strings.Contains(bodyOf(r), "kefu.db") || strings.Contains(bodyOf(r), "page 3") {
		t.Errorf("the cause reached the client: %s", bodyOf(r))
	}
	if l := logs.String(); !strings.Contains(l, "bbolt: page 3 already freed") || !strings.Contains(l, e.RequestID) {
		t.Errorf("the log lacks the cause under request %s:\n%s", e.RequestID, l)
	}
}
