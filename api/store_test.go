package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/qdrant"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
	"github.com/kefu-dev/kefu/index/storetest"
)

// With the KBs in Qdrant, /readyz and kefu_store_up follow Qdrant's
// health, and reading a KB while Qdrant is down answers 503 naming it.
func TestQdrantHealthInReadyzAndMetrics(t *testing.T) {
	s := getStack(t)
	srv, err := qdranttest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	o, _ := qdrant.ParseURL(srv.URL())
	o.Retries = 1
	qs, err := qdrant.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	storetest.NewKB(t, qs, "kb")
	cfg := s.config()
	cfg.Store, cfg.DevMode = qs, true
	_, base := serve(t, cfg)
	metric := func() string {
		r := call(t, "GET", base+"/metrics", "", nil, nil)
		for _, l := range strings.Split(bodyOf(r), "\n") {
			if strings.HasPrefix(l, "kefu_store_up ") {
				return l
			}
		}
		return ""
	}
	if r := call(t, "GET", base+"/readyz", "", nil, nil); r.StatusCode != 200 {
		t.Fatalf("/readyz with Qdrant up: %d %s", r.StatusCode, bodyOf(r))
	}
	if m := metric(); m != "kefu_store_up 1" {
		t.Errorf("metric with Qdrant up: %q", m)
	}
	srv.SetDown(true)
	r := call(t, "GET", base+"/readyz", "", nil, nil)
	if body := bodyOf(r); r.StatusCode != 503 || !strings.Contains(body, "qdrant") || !strings.Contains(body, kefu.EUNAVAILABLE) {
		t.Errorf("/readyz with Qdrant down: %d %s", r.StatusCode, body)
	}
	if m := metric(); m != "kefu_store_up 0" {
		t.Errorf("metric with Qdrant down: %q", m)
	}
	r = call(t, "GET", base+"/v1/kbs/kb", "", nil, nil)
	if body := bodyOf(r); r.StatusCode != 503 || !strings.Contains(body, "qdrant") {
		t.Errorf("a KB with Qdrant down: %d %s", r.StatusCode, body)
	}
}
