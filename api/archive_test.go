package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/archive"
)

// A KB leaves through GET /v1/kbs/{kb}/export as an archive and comes back
// through POST /v1/kbs/import under another name, answering as before;
// only admin keys may do either, a damaged archive is refused with its
// entry named and leaves nothing, and --import-limit bounds the upload.
func TestExportImportAPI(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	_, base := serve(t, cfg)
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	t.Cleanup(func() { s.store.DeleteKB(context.Background(), "shop-copy") })

	get := func(path, key string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	post := func(path, key string, body []byte) (*http.Response, string) {
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", api.ArchiveContentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, key := range []string{s.newKey(t, kefu.ScopeIngest, ""), s.newKey(t, kefu.ScopeAdmin, "help")} {
		if r := get("/v1/kbs/shop/export", key); r.StatusCode != 403 {
			t.Fatalf("export with a non-admin or other-KB key: %d", r.StatusCode)
		}
	}
	if r := get("/v1/kbs/nosuch/export", admin); r.StatusCode != 404 {
		t.Fatalf("export of a missing KB: %d", r.StatusCode)
	}
	resp := get("/v1/kbs/shop/export", admin)
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != api.ArchiveContentType ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="shop.kefu"`) {
		t.Fatalf("export: %d %v %v", resp.StatusCode, resp.Header, err)
	}
	// What came over the wire is a whole archive of the shop KB.
	ar, err := archive.NewReader(bytes.NewReader(data), archive.ReadOptions{})
	if err != nil || ar.Manifest().KB.Name != "shop" {
		t.Fatalf("exported archive: %v", err)
	}
	for {
		if _, err := ar.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if ar.Counts().Documents != 1 || ar.Counts().Chunks != len(s.faq) {
		t.Fatalf("archive holds %+v, want the shop FAQ's %d entries", ar.Counts(), len(s.faq))
	}

	if r, body := post("/v1/kbs/import?as=shop-copy", s.newKey(t, kefu.ScopeAdmin, "shop"), data); r.StatusCode != 403 {
		t.Fatalf("import with a KB-restricted admin key: %d %s", r.StatusCode, body)
	}
	r, body := post("/v1/kbs/import?as=shop-copy", admin, data)
	if r.StatusCode != 201 || !strings.Contains(body, `"name":"shop-copy"`) {
		t.Fatalf("import: %d %s", r.StatusCode, body)
	}
	var a, b struct {
		Hits []struct {
			Chunk struct{ Text string } `json:"chunk"`
		} `json:"hits"`
	}
	q := map[string]any{"query": s.faq[0].question, "k": 3}
	call(t, "POST", base+"/v1/kbs/shop/search", admin, q, &a)
	call(t, "POST", base+"/v1/kbs/shop-copy/search", admin, q, &b)
	if len(a.Hits) == 0 || len(b.Hits) != len(a.Hits) || a.Hits[0].Chunk.Text != b.Hits[0].Chunk.Text {
		t.Fatalf("search on the import: %+v, on the original: %+v", b, a)
	}
	if r, body := post("/v1/kbs/import?as=shop-copy", admin, data); r.StatusCode != 409 {
		t.Fatalf("import over an existing KB: %d %s", r.StatusCode, body)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	r, body = post("/v1/kbs/import?as=shop-bad", admin, bad)
	if r.StatusCode != 400 || !strings.Contains(body, "archive") {
		t.Fatalf("damaged archive: %d %s", r.StatusCode, body)
	}
	if _, err := s.store.KB(context.Background(), "shop-bad"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatalf("a refused import left its KB: %v", err)
	}

	cfg.ImportLimit = len(data) - 1
	_, small := serve(t, cfg)
	base = small
	if r, body := post("/v1/kbs/import?as=shop-big", admin, data); r.StatusCode != 413 || !strings.Contains(body, "--import-limit") {
		t.Fatalf("archive over --import-limit: %d %s", r.StatusCode, body)
	}
}
