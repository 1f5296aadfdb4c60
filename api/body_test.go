package api_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/klauspost/compress/gzip"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

// bombs are request bodies that inflate to 1 GiB of zeros, by encoding.
var (
	bombsOnce sync.Once
	bombs     map[string][]byte
)

func getBombs(t *testing.T) map[string][]byte {
	t.Helper()
	bombsOnce.Do(func() {
		bombs = map[string][]byte{}
		zeros := make([]byte, 1<<20)
		fill := func(w io.WriteCloser) {
			for range 1024 {
				w.Write(zeros)
			}
			w.Close()
		}
		var gz, zl bytes.Buffer
		gw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		fill(gw)
		zw, _ := zlib.NewWriterLevel(&zl, zlib.BestSpeed)
		fill(zw)
		bombs["gzip"], bombs["deflate"] = gz.Bytes(), zl.Bytes()
		// The second bomb: 255 KB of gzip, 256 MiB of zeros.
		var small bytes.Buffer
		gw, _ = gzip.NewWriterLevel(&small, gzip.BestSpeed)
		for range 256 {
			gw.Write(zeros)
		}
		gw.Close()
		bombs["gzip-256MiB"] = small.Bytes()
	})
	return bombs
}

// rawRequest sends one request on a new TCP connection (headers, then body
// from another goroutine, so a server that answers without reading it is
// seen doing so) and returns the response with its body read, and whether
// the server then closed the connection.
func rawRequest(t *testing.T, base, head string, body []byte) (*http.Response, string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) // a hang guard, not a measurement
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go conn.Write(body) // the server may close before reading it all
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, string(b), err != nil
}

// allocated is how many bytes the process allocated while f ran:
// TotalAlloc only grows, so it bounds the peak growth from above.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const maxBombAlloc = 8 << 20

// TestBodyBombs: a compressed body that inflates to 1 GiB costs the server
// at most a few MB, with or without a key. Without one, the answer is 401
// before the body is read; /healthz answers without reading it; with a
// key, the body is decoded through --body-limit and refused with a 413
// that names it. The old server inflated the whole body before checking
// the key (4.9 GB peak for this bomb).
func TestBodyBombs(t *testing.T) {
	s := getStack(t)
	key := s.newKey(t, kefu.ScopeQuery, "")
	_, base := serve(t, s.config())
	for name, bomb := range getBombs(t) {
		coding, _, _ := strings.Cut(name, "-")
		// A bomb over --body-limit as sent is refused by its length, one
		// under it by its length decoded.
		limit := "request body over 1048576 bytes after decompression (--body-limit)"
		if len(bomb) > api.DefaultBodyLimit {
			limit = "request body over 1048576 bytes (--body-limit)"
		}
		head := func(method, path, auth string) string {
			h := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: kefu\r\nContent-Type: application/json\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n", method, path, coding, len(bomb))
			if auth != "" {
				h += "Authorization: Bearer " + auth + "\r\n"
			}
			return h + "\r\n"
		}
		for _, c := range []struct {
			name, head string
			status     int
			message    string
		}{
			{"no key", head("POST", "/v1/kbs/a/search", ""), 401, "API key is required"},
			{"healthz", head("GET", "/healthz", ""), 200, ""},
			{"key", head("POST", "/v1/kbs/shop/search", key), 413, limit},
		} {
			var resp *http.Response
			var body string
			var closed bool
			n := allocated(func() { resp, body, closed = rawRequest(t, base, c.head, bomb) })
			t.Logf("%s bomb (%d bytes), %s: %d, %.2f MB allocated", name, len(bomb), c.name, resp.StatusCode, float64(n)/1e6)
			if resp.StatusCode != c.status || !strings.Contains(body, c.message) {
				t.Errorf("%s bomb, %s: %d %s", name, c.name, resp.StatusCode, body)
			}
			if n > maxBombAlloc {
				t.Errorf("%s bomb, %s: the server allocated %.1f MB", name, c.name, float64(n)/1e6)
			}
			if !closed || !resp.Close {
				t.Errorf("%s bomb, %s: the connection with the unread body was kept", name, c.name)
			}
		}
	}
}

// TestHeadersTooLarge: headers over the read buffer get a 431 in the
// API's error shape, which the client reads before the connection closes
// (it was a reset, or a 500 logged as a server failure); headers under it
// are served.
func TestHeadersTooLarge(t *testing.T) {
	s := getStack(t)
	var (
		logs  strings.Builder
		logMu sync.Mutex
	)
	cfg := s.config()
	cfg.Logger = slogTo(&logs, &logMu)
	_, base := serve(t, cfg)
	for _, c := range []struct {
		size   int
		status int
	}{{2000, 200}, {6000, 431}, {60000, 431}} {
		head := "GET /healthz HTTP/1.1\r\nHost: kefu\r\nX-Padding: " + strings.Repeat("a", c.size) + "\r\n"
		if c.status == 200 {
			head += "Connection: close\r\n" // rawRequest waits for the close
		}
		head += "\r\n"
		resp, body, closed := rawRequest(t, base, head, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%d bytes of headers: %d %s", c.size, resp.StatusCode, body)
			continue
		}
		if c.status == 431 {
			var e errorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != kefu.ETOOLARGE || !strings.Contains(e.Error.Message, "headers are over 4096 bytes") {
				t.Errorf("%d bytes of headers: %s", c.size, body)
			}
			if !closed {
				t.Errorf("%d bytes of headers: the connection was kept", c.size)
			}
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "request failed") {
		t.Errorf("headers too large were logged as a server failure:\n%s", logs.String())
	}
}

// TestUnauthenticatedBodyNotAwaited: headers announcing a 60 MB body and a
// few KB of it get their 401 at once, the server not waiting for the rest
// (the client never sends it), and the connection is closed.
func TestUnauthenticatedBodyNotAwaited(t *testing.T) {
	s := getStack(t)
	s.newKey(t, kefu.ScopeQuery, "")
	_, base := serve(t, s.config())
	for _, path := range []string{"/v1/kbs/shop/search", "/v1/kbs/shop/documents"} {
		head := "POST " + path + " HTTP/1.1\r\nHost: kefu\r\nContent-Type: application/json\r\nContent-Length: 62914560\r\n\r\n"
		resp, body, closed := rawRequest(t, base, head, bytes.Repeat([]byte("x"), 4<<10))
		if resp.StatusCode != 401 || !strings.Contains(body, "API key is required") || !closed {
			t.Errorf("%s: %d %s, closed %v", path, resp.StatusCode, body, closed)
		}
	}
}

// TestUnreadBodyKeepAlive: a small body a handler did not read is skipped,
// so the next request on the connection is read right; a large one closes
// the connection instead.
func TestUnreadBodyKeepAlive(t *testing.T) {
	s := getStack(t)
	s.newKey(t, kefu.ScopeQuery, "")
	_, base := serve(t, s.config())
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(conn)
	// The body reads like a request of its own: were it not skipped, it
	// would be answered as one.
	smuggled := "GET /v1/nothing HTTP/1.1\r\nHost: kefu\r\n\r\n"
	fmt.Fprintf(conn, "POST /v1/kbs/shop/search HTTP/1.1\r\nHost: kefu\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled)
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: kefu\r\n\r\n")
	for _, want := range []int{401, 200} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("want %d: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || resp.Close {
			t.Fatalf("%d %s (close %v), want %d on a kept connection", resp.StatusCode, b, resp.Close, want)
		}
	}
}

// TestCompressedBodies: bodies within the limits work in every supported
// encoding, for JSON (a search) and for an upload; an unknown encoding is
// a 415 naming it and the supported ones; malformed data is a 400 in the
// API's words; limits are named with their flags.
func TestCompressedBodies(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode = true
	cfg.BodyLimit, cfg.UploadLimit = 4<<10, 256<<10
	srv, base := serve(t, cfg)
	search := []byte(`{"query":"怎么申请退款","k":3}`)
	for _, coding := range []string{"", "identity", "gzip", "x-gzip", "deflate", "deflate-raw"} {
		r := post(t, base+"/v1/kbs/shop/search", "application/json", coding, encode(t, coding, search))
		var got struct {
			Hits []struct {
				DocID string `json:"doc_id"`
			} `json:"hits"`
		}
		json.Unmarshal([]byte(r.body), &got)
		if r.status != 200 || len(got.Hits) == 0 || got.Hits[0].DocID != "shop_faq.csv" {
			t.Errorf("search in %q: %d %s", coding, r.status, r.body)
		}
	}
	ct, upload := multipartBody(t, "zipped/faq.md", file{"faq.md", "# Gift cards\n\nGift cards never expire and can be used for any order."})
	for _, coding := range []string{"gzip", "deflate"} {
		kb := "compressed-" + coding
		if r := call(t, "POST", base+"/v1/kbs", "", map[string]string{"name": kb}, nil); r.StatusCode != 201 {
			t.Fatalf("create %s: %d %s", kb, r.StatusCode, bodyOf(r))
		}
		t.Cleanup(func() { s.store.DeleteKB(context.Background(), kb) })
		r := post(t, base+"/v1/kbs/"+kb+"/documents", ct, coding, encode(t, coding, upload))
		var job kefu.Job
		json.Unmarshal([]byte(r.body), &job)
		if r.status != 202 {
			t.Fatalf("upload in %s: %d %s", coding, r.status, r.body)
		}
		if j := waitJob(t, base, "", job.ID); j.Done != 1 || len(j.Failed) > 0 {
			t.Errorf("upload in %s: %+v", coding, j)
		}
	}

	big := []byte(`{"query":"` + strings.Repeat("退款", 1<<10) + `"}`)
	manyFiles := make([]file, 1001)
	for i := range manyFiles {
		manyFiles[i] = file{fmt.Sprintf("f%d.txt", i), "x"}
	}
	manyCT, many := multipartBody(t, "", manyFiles...)
	bigCT, bigUpload := multipartBody(t, "", file{"big.txt", strings.Repeat("word ", 60<<10)})
	for _, c := range []struct {
		name, path, ct, coding string
		body                   []byte
		status                 int
		message                string
	}{
		{"brotli", "/v1/kbs/shop/search", "application/json", "br", search, 415, `Content-Encoding "br" is not supported: send identity, gzip, deflate`},
		{"zstd", "/v1/kbs/shop/search", "application/json", "zstd", search, 415, `Content-Encoding "zstd" is not supported: send identity, gzip, deflate`},
		{"malformed gzip", "/v1/kbs/shop/search", "application/json", "gzip", []byte("\x1f\x8b\x08\x00garbage that is not deflate"), 400, "the request body is not valid gzip data (Content-Encoding: gzip)"},
		{"malformed deflate", "/v1/kbs/shop/search", "application/json", "deflate", []byte("x\x9cnot deflate at all"), 400, "the request body is not valid deflate data (Content-Encoding: deflate)"},
		{"truncated gzip", "/v1/kbs/shop/search", "application/json", "gzip", encode(t, "gzip", search)[:20], 400, "the request body is not valid gzip data"},
		{"over the limit", "/v1/kbs/shop/search", "application/json", "", big, 413, "request body over 4096 bytes (--body-limit)"},
		{"over the limit inflated", "/v1/kbs/shop/search", "application/json", "gzip", encode(t, "gzip", big), 413, "request body over 4096 bytes after decompression (--body-limit)"},
		{"chunked over the limit", "/v1/kbs/shop/search", "application/json", "chunked", big, 413, "request body over 4096 bytes (--body-limit)"},
		{"upload over the limit", "/v1/kbs/shop/documents", bigCT, "", bigUpload, 413, "upload over 262144 bytes (--upload-limit)"},
		{"upload inflated over the limit", "/v1/kbs/shop/documents", bigCT, "gzip", encode(t, "gzip", bigUpload), 413, "upload over 262144 bytes"},
		{"1001 files", "/v1/kbs/shop/documents", manyCT, "gzip", encode(t, "gzip", many), 413, "more than 1000 files in one upload"},
	} {
		r := post(t, base+c.path, c.ct, c.coding, c.body)
		var e errorBody
		json.Unmarshal([]byte(r.body), &e)
		if r.status != c.status || !strings.Contains(e.Error.Message, c.message) {
			t.Errorf("%s: %d %s, want %d %q", c.name, r.status, r.body, c.status, c.message)
		}
		for _, lib := range []string{"flate:", "gzip:", "zstd:", "brotli", "multipart:", "unexpected EOF"} {
			if strings.Contains(r.body, lib) {
				t.Errorf("%s: library text %q in %s", c.name, lib, r.body)
			}
		}
	}

	// app.Test, which tests and embedders use, streams bodies the same way.
	req := httptest.NewRequest("POST", "/v1/kbs/shop/search", bytes.NewReader(encode(t, "gzip", search)))
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := srv.App().Test(req, fiber.TestConfig{Timeout: 30 * time.Second, FailOnTimeout: true})
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("app.Test: %v %v", resp, err)
	}
}

// encode compresses b as coding says; "chunked" sends it as is, without a
// Content-Length; "deflate-raw" is deflate without zlib's wrapper, as some
// clients send it.
func encode(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "", "identity", "chunked":
		return b
	case "gzip", "x-gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "deflate-raw":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	default:
		return b
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

type result struct {
	status int
	body   string
}

// post sends body with Content-Type ct and Content-Encoding coding.
func post(t *testing.T, url, ct, coding string, body []byte) result {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if coding == "chunked" {
		rd = io.MultiReader(rd) // no length known: sent chunked
	}
	req, err := http.NewRequest("POST", url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	switch coding {
	case "", "chunked":
	case "deflate-raw":
		req.Header.Set("Content-Encoding", "deflate")
	default:
		req.Header.Set("Content-Encoding", coding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, string(b)}
}
