package retrieve

import (
	"context"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
)

// scriptedIndex answers each query with fixed candidates and records the
// requests; queries it has no script for fail.
type scriptedIndex struct {
	mu     sync.Mutex
	script map[string]*kefu.Candidates
	reqs   []kefu.SearchRequest
	chunks int // chunk records the requests selected
}

func (x *scriptedIndex) Search(ctx context.Context, kb string, req kefu.SearchRequest) (*kefu.Candidates, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.reqs = append(x.reqs, req)
	c, ok := x.script[req.Query]
	if !ok {
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "index down")
	}
	if req.Vector == nil { // as an index does: no vector, no vector side
		cc := *c
		cc.Vector = nil
		c = &cc
	}
	if req.Select != nil {
		x.chunks += len(req.Select(c))
	}
	return c, nil
}

// englishEmbedder knows English only; its vectors are never looked at.
type englishEmbedder struct{}

func (englishEmbedder) CountTokens(s string) int { return len(s) }
func (englishEmbedder) Model() kefu.ModelSpec {
	return kefu.ModelSpec{Name: "en", Languages: []string{"en"}}
}
func (englishEmbedder) ModelID() kefu.ModelID { return "en@000000000001" }
func (englishEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = []float32{1, 0}
	}
	return out, nil
}
func (e englishEmbedder) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	return e.EmbedQueries(ctx, texts)
}
func (englishEmbedder) Close() error { return nil }

// Calibration samples: the hybrid top hit decides relevance, and a query
// in a language the model does not know is judged on keywords alone, as
// Retrieve would rank it.
func TestCollectAndSamples(t *testing.T) {
	side := func(ids ...string) []kefu.Scored {
		var out []kefu.Scored
		for i, id := range ids {
			out = append(out, kefu.Scored{ChunkID: id, Score: float64(len(ids) - i)})
		}
		return out
	}
	docs := map[string]string{"a": "d1", "b": "d2", "v": "d3"}
	ix := &scriptedIndex{script: map[string]*kefu.Candidates{
		"refund time": {Keyword: side("b", "a"), Vector: side("a", "v"), Docs: docs},
		"退款多久":        {Keyword: side("b", "a"), Vector: side("v", "a"), Docs: docs},
	}}
	r := &Retriever{Index: ix, Embedder: englishEmbedder{}}
	kb := &kefu.KB{Name: "kb", Model: "en@000000000001", Settings: kefu.DefaultSettings()}
	kb.Settings.Fusion = kefu.Fusion{Method: kefu.FusionRRF, VectorWeight: 0.9, RRFK: 60}
	set := &kefu.LabelledSet{Queries: map[string]string{"en": "refund time", "zh": "退款多久"},
		Qrels: kefu.Qrels{"en": {"a": 1}, "zh": {"v": 1}}, ByChunk: true}

	cands, err := r.Collect(context.Background(), kb, set, 100, CollectOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.reqs) != 2 || ix.reqs[0].K != CandidateCount(kefu.Query{K: 100}, kefu.Fusion{PerDocCap: 1}) || ix.reqs[0].Vector == nil {
		t.Fatalf("requests %+v", ix.reqs)
	}
	if ix.chunks != 0 {
		t.Fatalf("Collect asked for %d chunk records, want none", ix.chunks)
	}
	// Samples ask as the answerer does: the online candidate depth, not
	// evaluation's.
	ix.reqs = nil
	samples, err := r.Samples(context.Background(), kb, set, CollectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.reqs) != 2 || ix.reqs[0].K != CandidateCount(kefu.Query{K: 10}, kb.Settings.Fusion) {
		t.Fatalf("sample requests %+v", ix.reqs)
	}
	// Sorted by query id: en, then zh. en: the vector side's weight puts a
	// first. zh: the vector side is dropped, keywords put b first, and v
	// (relevant) is not a keyword candidate at all.
	if len(samples) != 2 || !samples[0].Relevant || samples[1].Relevant {
		t.Fatalf("samples %+v", samples)
	}
	if samples[0].Features.TopVector != 2 || samples[1].Features.TopVector != 0 || samples[1].Features.TopKeyword != 2 {
		t.Errorf("features %+v / %+v", samples[0].Features, samples[1].Features)
	}
	if v := r.View(cands["en"], "refund time", kefu.ModeBM25); v.Vector != nil || len(v.Keyword) != 2 {
		t.Errorf("bm25 view %+v", v)
	}
	if v := r.View(cands["zh"], "退款多久", kefu.ModeDense); v.Keyword != nil || len(v.Vector) != 2 {
		t.Errorf("dense view of a query the model does not know: %+v", v)
	}

	other := *kb
	other.Model = "zh@000000000002"
	if _, err := r.Samples(context.Background(), &other, set, CollectOptions{}); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Errorf("another model's KB: %v", err)
	}
	set.Queries["down"], set.Qrels["down"] = "unscripted", map[string]int{"a": 1}
	if _, err := r.Samples(context.Background(), kb, set, CollectOptions{}); kefu.ErrorCode(err) != kefu.EUNAVAILABLE {
		t.Errorf("a failing search: %v", err)
	}
}
