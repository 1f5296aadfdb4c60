package retrieve

import (
	"context"
	"math"
	"testing"

	"github.com/kefu-dev/kefu"
)

func cands() *kefu.Candidates {
	chunks := map[string]*kefu.Chunk{}
	for id, doc := range map[string]string{"a": "d1", "b": "d1", "c": "d2", "d": "d3", "e": "d1"} {
		chunks[id] = &kefu.Chunk{ID: id, DocID: doc}
	}
	return &kefu.Candidates{
		Keyword: []kefu.Scored{{ChunkID: "a", Score: 10}, {ChunkID: "b", Score: 6}, {ChunkID: "c", Score: 2}},
		Vector:  []kefu.Scored{{ChunkID: "c", Score: 0.9}, {ChunkID: "d", Score: 0.5}, {ChunkID: "a", Score: 0.4}},
		Chunks:  chunks,
	}
}

func scores(hits []kefu.Hit) map[string]float64 {
	m := map[string]float64{}
	for _, h := range hits {
		m[h.Chunk.ID] = h.Score
	}
	return m
}

func ids(hits []kefu.Hit) []string {
	var s []string
	for _, h := range hits {
		s = append(s, h.Chunk.ID)
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestFuseRRFHandComputed(t *testing.T) {
	// Equal weights (0.5 each), k=60:
	// a: 0.5/61 + 0.5/63; b: 0.5/62; c: 0.5/63 + 0.5/61; d: 0.5/62.
	hits := Fuse(cands(), kefu.Fusion{Method: kefu.FusionRRF, VectorWeight: 0.5, RRFK: 60}, 10)
	want := map[string]float64{
		"a": 0.5/61 + 0.5/63, "b": 0.5 / 62, "c": 0.5/63 + 0.5/61, "d": 0.5 / 62,
	}
	got := scores(hits)
	for id, w := range want {
		if !near(got[id], w) {
			t.Errorf("%s: score %v, want %v", id, got[id], w)
		}
	}
	// a and c tie; a wins on keyword rank. b and d tie; b wins on keyword rank.
	if g := ids(hits); len(g) != 4 || g[0] != "a" || g[1] != "c" || g[2] != "b" || g[3] != "d" {
		t.Errorf("order %v, want [a c b d]", g)
	}
	if hits[0].KeywordRank != 1 || hits[0].VectorRank != 3 || hits[0].KeywordScore != 10 || hits[0].VectorScore != 0.4 {
		t.Errorf("hit a reports %+v", hits[0])
	}
}

func TestFuseMinMaxHandComputed(t *testing.T) {
	// Keyword range [2,10], vector range [0.4,0.9], vector weight 0.3:
	// a: 0.7*1 + 0.3*0 = 0.7; b: 0.7*0.5 = 0.35; c: 0.7*0 + 0.3*1 = 0.3; d: 0.3*0.2 = 0.06.
	hits := Fuse(cands(), kefu.Fusion{Method: kefu.FusionMinMax, VectorWeight: 0.3}, 10)
	want := map[string]float64{"a": 0.7, "b": 0.35, "c": 0.3, "d": 0.3 * 0.2}
	got := scores(hits)
	for id, w := range want {
		if math.Abs(got[id]-w) > 1e-9 {
			t.Errorf("%s: score %v, want %v", id, got[id], w)
		}
	}
	if g := ids(hits); g[0] != "a" || g[1] != "b" || g[2] != "c" || g[3] != "d" {
		t.Errorf("order %v", g)
	}
}

func TestFuseOneSideOnly(t *testing.T) {
	c := cands()
	c.Vector = nil
	// With no vector candidates the keyword side gets all the weight,
	// whatever the configured vector weight.
	hits := Fuse(c, kefu.Fusion{Method: kefu.FusionMinMax, VectorWeight: 0.9}, 10)
	if g := ids(hits); len(g) != 3 || g[0] != "a" || g[2] != "c" {
		t.Fatalf("order %v", g)
	}
	if !near(hits[0].Score, 1) || !near(hits[1].Score, 0.5) {
		t.Errorf("scores %v", scores(hits))
	}
}

func TestFusePerDocCapAndK(t *testing.T) {
	c := cands()
	c.Keyword = append(c.Keyword, kefu.Scored{ChunkID: "e", Score: 1})
	// d1 owns a, b, e; with a cap of 1 only its best (a) stays.
	hits := Fuse(c, kefu.Fusion{Method: kefu.FusionRRF, VectorWeight: 0.5, PerDocCap: 1}, 10)
	if g := ids(hits); len(g) != 3 || g[0] != "a" || g[1] != "c" || g[2] != "d" {
		t.Errorf("capped order %v, want [a c d]", g)
	}
	hits = Fuse(c, kefu.Fusion{Method: kefu.FusionRRF, VectorWeight: 0.5}, 2)
	if len(hits) != 2 {
		t.Errorf("k=2 gave %d hits", len(hits))
	}
}

func TestFuseAllEqualScores(t *testing.T) {
	c := &kefu.Candidates{
		Keyword: []kefu.Scored{{ChunkID: "x", Score: 3}, {ChunkID: "y", Score: 3}},
		Chunks:  map[string]*kefu.Chunk{},
	}
	hits := Fuse(c, kefu.DefaultFusion(), 5)
	// Equal scores normalise to 1; order falls back to keyword rank.
	if len(hits) != 2 || hits[0].Chunk.ID != "x" || !near(hits[0].Score, 1) || !near(hits[1].Score, 1) {
		t.Errorf("hits %+v", hits)
	}
}

func TestConfidenceBoundsAndMonotone(t *testing.T) {
	lo := Confidence(kefu.Features{Coverage: 0.1}, nil)
	hi := Confidence(kefu.Features{Coverage: 1, KeywordMargin: 0.5, Agreement: 1}, nil)
	// A clear keyword lead that both searches agree on is confident.
	if hi < 0.85 {
		t.Errorf("default mapping: clear agreed lead %v", hi)
	}
	if !(lo >= 0 && lo < hi && hi <= 1) {
		t.Errorf("default mapping: low %v, high %v", lo, hi)
	}
	cal := &kefu.Calibration{Features: []string{"top_vector"}, Mean: []float64{0.5}, Scale: []float64{0.1}, Weights: []float64{2}, Bias: 0}
	// z = 2 * (0.7-0.5)/0.1 = 4.
	if got, want := Predict(kefu.Features{TopVector: 0.7}, cal), 1/(1+math.Exp(-4)); math.Abs(got-want) > 1e-12 {
		t.Errorf("Predict = %v, want %v", got, want)
	}
}

// reverseReranker scores passages by their position reversed, so reranking
// visibly reorders the head.
type reverseReranker struct{ calls int }

func (rr *reverseReranker) Rerank(ctx context.Context, q string, ps []string) ([]float64, error) {
	rr.calls++
	out := make([]float64, len(ps))
	for i := range ps {
		out[i] = float64(i)
	}
	return out, nil
}

func TestRankReranksTheHeadOnlyWhenConfigured(t *testing.T) {
	kb := &kefu.KB{Name: "kb", Settings: kefu.DefaultSettings()}
	q := kefu.Query{Text: "q", K: 4}
	f := kefu.Fusion{Method: kefu.FusionRRF, VectorWeight: 0.5}
	r := &Retriever{RerankDepth: 3}
	res, err := r.Rank(context.Background(), kb, cands(), q, f)
	if err != nil || ids(res.Hits)[0] != "a" {
		t.Fatalf("no reranker: %v %v", ids(res.Hits), err)
	}
	rr := &reverseReranker{}
	r.Rerankers = func(name string) (kefu.Reranker, error) {
		if name != "ce" {
			t.Errorf("asked for reranker %q", name)
		}
		return rr, nil
	}
	kb.Settings.Reranker = "ce"
	res, err = r.Rank(context.Background(), kb, cands(), q, f)
	if err != nil {
		t.Fatal(err)
	}
	// Fused order a c b d; the reranker reverses the first three only.
	if got := ids(res.Hits); got[0] != "b" || got[1] != "c" || got[2] != "a" || got[3] != "d" || rr.calls != 1 {
		t.Errorf("reranked order %v (%d calls)", got, rr.calls)
	}
}
