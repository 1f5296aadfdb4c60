package api_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// metricValue reads one sample of /metrics: the value of name whose labels
// include all of labels.
func metricValue(t *testing.T, text, name string, labels map[string]string) float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	fam := fams[name]
	if fam == nil { // a vector with no sample yet is not exposed
		return 0
	}
	sum := 0.0
	for _, m := range fam.GetMetric() {
		ok := true
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func TestMetricsAndAccessLog(t *testing.T) {
	s := getStack(t)
	var logs testenv.SyncBuffer
	cfg := s.config()
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	_, base := serve(t, cfg)
	key := s.newKey(t, kefu.ScopeAdmin, "")
	scrape := func() string { return bodyOf(call(t, "GET", base+"/metrics", "", nil, nil)) }
	m0 := scrape()
	search := map[string]string{"method": "POST", "route": "/v1/kbs/:kb/search", "status": "200"}
	s0 := metricValue(t, m0, "kefu_http_request_duration_seconds", search)
	faq0 := metricValue(t, m0, "kefu_answers_total", map[string]string{"route": "faq"})
	q0 := metricValue(t, m0, "kefu_embed_batch_size", map[string]string{"kind": "query"})
	docs0 := metricValue(t, m0, "kefu_ingest_documents_total", map[string]string{"outcome": "indexed"})

	r := call(t, "POST", base+"/v1/kbs/shop/search", key, map[string]any{"query": "refund", "k": 3}, nil)
	reqID := r.Header.Get("X-Request-ID")
	call(t, "POST", base+"/v1/kbs/shop/ask", key, map[string]any{"question": "How long does a refund take?"}, nil)
	call(t, "POST", base+"/v1/kbs/shop/ask", key, map[string]any{"question": "How long does a refund take?"}, nil)
	if err := s.store.CreateKB(t.Context(), &kefu.KB{Name: "metrics", Model: s.emb.ModelID(), Dim: s.emb.Model().Dim}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteKB(t.Context(), "metrics") })
	j := uploadText(t, base, key, "metrics", "m.md", "# Metrics\n\nCounted once.\n")
	waitJob(t, base, key, j.ID)
	c := dialChat(t, base, "shop", key)
	defer c.Close()
	waitFor(t, "the job to be counted", func() bool {
		return metricValue(t, scrape(), "kefu_ingest_documents_total", map[string]string{"outcome": "indexed"}) == docs0+1
	})

	m1 := scrape()
	if got := metricValue(t, m1, "kefu_http_request_duration_seconds", search); got != s0+1 {
		t.Errorf("search requests %v, want %v", got, s0+1)
	}
	if got := metricValue(t, m1, "kefu_answers_total", map[string]string{"route": "faq"}); got != faq0+2 {
		t.Errorf("faq answers %v, want %v", got, faq0+2)
	}
	if got := metricValue(t, m1, "kefu_answers_total", map[string]string{"route": "faq", "cached": "true"}); got < 1 {
		t.Errorf("cached faq answers %v", got)
	}
	if got := metricValue(t, m1, "kefu_answer_cache_hit_ratio", nil); got <= 0 || got > 1 {
		t.Errorf("cache hit ratio %v", got)
	}
	// The search embeds its query; the asks may come from the answer cache.
	if got := metricValue(t, m1, "kefu_embed_batch_size", map[string]string{"kind": "query"}); got < q0+1 {
		t.Errorf("query embedding batches %v, want at least %v", got, q0+1)
	}
	if got := metricValue(t, m1, "kefu_embed_batch_size", map[string]string{"kind": "passage"}); got < 1 {
		t.Errorf("passage embedding batches %v", got)
	}
	if got := metricValue(t, m1, "kefu_websocket_connections", nil); got != 1 {
		t.Errorf("open websockets %v, want 1", got)
	}
	if got := metricValue(t, m1, "kefu_ingest_chunks_total", nil); got < 1 {
		t.Errorf("ingested chunks %v", got)
	}

	// One JSON access line per request, with its id, route and key.
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" {
			continue
		}
		if rec["request_id"] == reqID {
			found = rec["route"] == "/v1/kbs/:kb/search" && rec["status"] == 200.0 && strings.HasPrefix(rec["key_id"].(string), "key_") && rec["ms"].(float64) >= 0
		}
	}
	if !found {
		t.Fatalf("no access line for request %s in:\n%s", reqID, logs.String())
	}
}
