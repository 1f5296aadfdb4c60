package api

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
)

// FuzzParseUploads: any body gives uploads within the limit or a domain
// error, never a panic; the files read back are what was sent.
func FuzzParseUploads(f *testing.F) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.SetBoundary("b0undary")
	w.WriteField("doc_id", "guides/a.md")
	fw, _ := w.CreateFormFile("file", "a.md")
	io.WriteString(fw, "# A\n\nText.\n")
	w.Close()
	f.Add("multipart/form-data; boundary=b0undary", buf.Bytes())
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--x--\r\n"))
	f.Add("application/json", []byte(`{"file":1}`))
	const limit = 4096
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		ups, err := parseUploads(ct, bytes.NewReader(body), limit)
		if err != nil {
			if code := kefu.ErrorCode(err); code == kefu.EINTERNAL {
				t.Fatalf("not a domain error: %v", err)
			}
			return
		}
		if len(ups) == 0 || len(ups) > MaxUploadFiles {
			t.Fatalf("%d uploads", len(ups))
		}
		total := 0
		for _, u := range ups {
			if u.Name == "" || strings.Contains(u.Name, "/") {
				t.Fatalf("file name %q", u.Name)
			}
			rc, _ := u.Open()
			b, _ := io.ReadAll(rc)
			if int64(len(b)) != u.Size {
				t.Fatalf("size %d, read %d", u.Size, len(b))
			}
			total += len(b)
		}
		if total > limit {
			t.Fatalf("%d bytes over the %d limit", total, limit)
		}
	})
}

// FuzzDecodeBody: any body in any supported Content-Encoding reads to its
// end or to a domain error (400 malformed, 413 over the limit) in the
// API's words, never a panic, never more than the limit; a plain body
// within the limit reads back as sent.
func FuzzDecodeBody(f *testing.F) {
	var gz, zl, raw bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte(`{"query":"refund"}`))
	gw.Close()
	zw := zlib.NewWriter(&zl)
	zw.Write(bytes.Repeat([]byte("a"), 10000))
	zw.Close()
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	fw.Write([]byte("raw deflate"))
	fw.Close()
	f.Add(uint8(1), gz.Bytes())
	f.Add(uint8(2), zl.Bytes())
	f.Add(uint8(2), raw.Bytes())
	f.Add(uint8(0), []byte(`{"query":"x"}`))
	f.Add(uint8(1), []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
	const limit = 4096
	lim := bodyLimit{max: limit, shown: limit, what: "request body", flag: "--body-limit"}
	f.Fuzz(func(t *testing.T, coding uint8, body []byte) {
		c := bodyEncodings[int(coding)%len(bodyEncodings)]
		r, _, err := decodeBody(bytes.NewReader(body), c, lim)
		var out []byte
		if err == nil {
			out, err = io.ReadAll(r)
		}
		if len(out) > limit {
			t.Fatalf("%s: %d bytes read, limit %d", c, len(out), limit)
		}
		if c == "identity" && len(body) <= limit && (err != nil || !bytes.Equal(out, body)) {
			t.Fatalf("plain body: %v, %d of %d bytes", err, len(out), len(body))
		}
		if err == nil {
			return
		}
		var ke *kefu.Error
		if !errors.As(err, &ke) || ke.Code != kefu.EINVALID && ke.Code != kefu.ETOOLARGE {
			t.Fatalf("%s: not a domain error: %v", c, err)
		}
		for _, lib := range []string{"flate:", "zlib:", "gzip:", "EOF", "checksum", "header"} {
			if strings.Contains(ke.Message, lib) {
				t.Fatalf("%s: library text in %q", c, ke.Message)
			}
		}
	})
}

// FuzzChatCompletionRequest: any body decodes to a question from the last
// user message or to a domain error.
func FuzzChatCompletionRequest(f *testing.F) {
	f.Add([]byte(`{"model":"shop","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"refund?"}]}`))
	f.Add([]byte(`{"model":"shop","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url"}]},{"role":"assistant","content":null},{"role":"user","content":"more"}]}`))
	f.Add([]byte(`{"model":"shop","messages":[{"role":"user","content":7}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req ChatCompletionRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		ask, prompt, err := askOf(&req, "k1")
		if err != nil {
			if kefu.ErrorCode(err) == kefu.EINTERNAL {
				t.Fatalf("not a domain error: %v", err)
			}
			return
		}
		if strings.TrimSpace(ask.Question) == "" || prompt < 0 || ask.KB != req.Model {
			t.Fatalf("ask %+v, prompt %d", ask, prompt)
		}
		last := ""
		for _, m := range req.Messages {
			if m.Role == "user" {
				last, _ = m.text()
			}
		}
		if ask.Question != last {
			t.Fatalf("question %q, last user message %q", ask.Question, last)
		}
	})
}

// FuzzMergeSettings: settings sent by a client either merge into valid
// JSON settings or are refused with EINVALID (EFORBIDDEN for a base_url at
// an internal host); the stored LLM key survives the redaction placeholder
// and never goes with another base_url.
func FuzzMergeSettings(f *testing.F) {
	f.Add([]byte(`{"threshold":0.9,"chunking":{"max_tokens":128}}`))
	f.Add([]byte(`{"llm":{"api_key":"********","model":"m"}}`))
	f.Add([]byte(`{"sensitive_words":["退款"],"fusion":{"method":"rrf"}}`))
	f.Add([]byte(`{"treshold":1}`))
	f.Add([]byte(`{"llm":{"base_url":"https://evil.example/v1"}}`))
	f.Add([]byte(`{"llm":{"base_url":"file:///etc/passwd","api_key":"********"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		set := kefu.DefaultSettings()
		set.LLM = &kefu.LLMSettings{BaseURL: "http://x/v1", APIKey: "sk-kept"}
		err := mergeSettings(&set, raw, nil)
		if err != nil {
			if code := kefu.ErrorCode(err); code != kefu.EINVALID && code != kefu.EFORBIDDEN {
				t.Fatalf("code %s: %v", code, err)
			}
			return
		}
		if set.LLM != nil && set.LLM.APIKey == RedactedKey {
			t.Fatal("the placeholder replaced the stored key")
		}
		if set.LLM != nil && set.LLM.APIKey == "sk-kept" && set.LLM.BaseURL != "http://x/v1" {
			t.Fatalf("the stored key goes to %q", set.LLM.BaseURL)
		}
		if _, err := json.Marshal(set); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzChannelMessage: any body gives a message within the bounds or a
// domain error (invalid or too large), never a panic.
func FuzzChannelMessage(f *testing.F) {
	f.Add([]byte(`{"end_user_id":"wx_1","message_id":"m1","text":"怎么退款","metadata":{"nick":"小王"}}`))
	f.Add([]byte(`{"channel":"mail","end_user_id":"a@b.c","message_id":"<x@y>","text":"hi"}`))
	f.Add([]byte(`{"end_user_id":"u","message_id":"m","text":"   "}`))
	f.Add([]byte(`{"end_user_id":"u","message_id":"m","text":"hi"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseChannelMessage(body, "wechat")
		if err != nil {
			if c := kefu.ErrorCode(err); c != kefu.EINVALID && c != kefu.ETOOLARGE {
				t.Fatalf("error code %s: %v", c, err)
			}
			return
		}
		if m.EndUser == "" || m.MessageID == "" || m.Text == "" || len(m.Text) > maxChannelText || (m.Channel != "" && m.Channel != "wechat") {
			t.Fatalf("accepted %+v", m)
		}
	})
}
