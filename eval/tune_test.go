package eval

import (
	"fmt"
	"testing"

	"github.com/kefu-dev/kefu"
)

// Two queries whose relevant document only the vector side ranks first:
// tuning must move weight to the vector side and beat keyword-only fusion.
func TestTunePrefersTheSideThatFindsRelevantDocs(t *testing.T) {
	cands := map[string]*kefu.Candidates{}
	qrels := kefu.Qrels{}
	for q := 0; q < 2; q++ {
		c := &kefu.Candidates{Chunks: map[string]*kefu.Chunk{}}
		for i := 0; i < 5; i++ {
			id := fmt.Sprintf("q%d-d%d", q, i)
			c.Chunks[id] = &kefu.Chunk{ID: id, DocID: id}
			c.Keyword = append(c.Keyword, kefu.Scored{ChunkID: id, Score: float64(10 - i)})
			c.Vector = append([]kefu.Scored{{ChunkID: id, Score: 0.5 + 0.1*float64(i)}}, c.Vector...)
		}
		qid := fmt.Sprintf("q%d", q)
		cands[qid] = c
		qrels[qid] = map[string]int{fmt.Sprintf("q%d-d4", q): 1} // keyword rank 5, vector rank 1
	}
	best, results := Tune(func(f kefu.Fusion) Run { return FusedRun(cands, f, 10, false) }, qrels, DefaultGrid())
	if len(results) != len(DefaultGrid()) {
		t.Fatalf("%d results for %d settings", len(results), len(DefaultGrid()))
	}
	if best.VectorWeight < 0.5 {
		t.Errorf("best fusion %s gives the vector side too little weight", Label(best))
	}
	mean, _ := Evaluate(FusedRun(cands, best, 10, false), qrels)
	kwOnly, _ := Evaluate(FusedRun(cands, kefu.Fusion{Method: kefu.FusionMinMax, VectorWeight: 0, PerDocCap: 1}, 10, false), qrels)
	if mean[MetricNDCG10] != 1 || kwOnly[MetricNDCG10] >= 1 {
		t.Errorf("tuned ndcg %.3f, keyword-only %.3f", mean[MetricNDCG10], kwOnly[MetricNDCG10])
	}
}

// Questions labelled by chunk (a team's FAQ entries) are tuned on chunk
// rankings: the same two queries, each document one FAQ sheet of chunks.
func TestTuneOnChunkLabels(t *testing.T) {
	cands := map[string]*kefu.Candidates{}
	qrels := kefu.Qrels{}
	for q := 0; q < 2; q++ {
		c := &kefu.Candidates{Chunks: map[string]*kefu.Chunk{}}
		for i := 0; i < 5; i++ {
			id := fmt.Sprintf("faq.csv#%d", q*5+i)
			c.Chunks[id] = &kefu.Chunk{ID: id, DocID: "faq.csv"}
			c.Keyword = append(c.Keyword, kefu.Scored{ChunkID: id, Score: float64(10 - i)})
			c.Vector = append([]kefu.Scored{{ChunkID: id, Score: 0.5 + 0.1*float64(i)}}, c.Vector...)
		}
		qid := fmt.Sprintf("q%d", q)
		cands[qid] = c
		qrels[qid] = map[string]int{fmt.Sprintf("faq.csv#%d", q*5+4): 1}
	}
	best, _ := Tune(func(f kefu.Fusion) Run { return FusedRun(cands, f, 10, true) }, qrels, DefaultGrid())
	if best.VectorWeight < 0.5 || best.PerDocCap < 1 {
		t.Errorf("best fusion %s on chunk labels", Label(best))
	}
	if mean, _ := Evaluate(FusedRun(cands, best, 10, true), qrels); mean[MetricNDCG10] != 1 {
		t.Errorf("tuned chunk-level nDCG %.3f", mean[MetricNDCG10])
	}
}

func TestDocRankingKeepsBestChunkPlace(t *testing.T) {
	hits := []kefu.Hit{{Chunk: &kefu.Chunk{ID: "a1", DocID: "a"}}, {Chunk: &kefu.Chunk{ID: "b1", DocID: "b"}}, {Chunk: &kefu.Chunk{ID: "a2", DocID: "a"}}}
	if got := DocRanking(hits); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("DocRanking = %v", got)
	}
}
