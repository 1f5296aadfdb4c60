package eval

import (
	"fmt"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

// DocRanking turns chunk hits into a document ranking: each document at the
// place of its best chunk.
func DocRanking(hits []kefu.Hit) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		if d := h.Chunk.DocID; !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// TuneResult is one fusion setting's score on the tuning queries.
type TuneResult struct {
	Fusion kefu.Fusion        `json:"fusion"`
	Mean   map[string]float64 `json:"metrics"`
}

// Label names a fusion setting for reports.
func Label(f kefu.Fusion) string {
	switch {
	case f.VectorWeight == 0:
		return fmt.Sprintf("bm25 only (cap %d)", f.PerDocCap)
	case f.VectorWeight == 1:
		return fmt.Sprintf("dense only (cap %d)", f.PerDocCap)
	}
	return fmt.Sprintf("%s w_dense=%.2f cap=%d", f.Method, f.VectorWeight, f.PerDocCap)
}

// DefaultGrid is the fusion settings `kefu eval --tune` tries: both methods
// with dense weights from 0 to 1 in steps of 0.1, each with per-document
// caps of 1, 2 and 3.
func DefaultGrid() []kefu.Fusion {
	var g []kefu.Fusion
	for _, cap := range []int{1, 2, 3} {
		for i := 0; i <= 10; i++ {
			w := float64(i) / 10
			g = append(g, kefu.Fusion{Method: kefu.FusionMinMax, VectorWeight: w, RRFK: 60, PerDocCap: cap})
			if i > 0 && i < 10 {
				g = append(g, kefu.Fusion{Method: kefu.FusionRRF, VectorWeight: w, RRFK: 60, PerDocCap: cap})
			}
		}
	}
	return g
}

// FusedRun fuses every query's cached candidates with f into a run of depth
// k: of documents, or of chunks when byChunk (questions labelled by chunk).
func FusedRun(cands map[string]*kefu.Candidates, f kefu.Fusion, k int, byChunk bool) Run {
	run := Run{}
	for q, c := range cands {
		if hits := retrieve.Fuse(c, f, k); byChunk {
			run[q] = chunkRanking(hits)
		} else {
			run[q] = DocRanking(hits)
		}
	}
	return run
}

// Tune scores the run of every fusion in grid and returns the best by
// nDCG@10 (ties: recall@100, then grid order), with every result. Searching
// once per query and fusing offline (FusedRun) makes the grid cheap.
func Tune(run func(kefu.Fusion) Run, qrels kefu.Qrels, grid []kefu.Fusion) (kefu.Fusion, []TuneResult) {
	var (
		best    kefu.Fusion
		bestKey [2]float64
		results []TuneResult
	)
	for i, f := range grid {
		mean, _ := Evaluate(run(f), qrels)
		results = append(results, TuneResult{Fusion: f, Mean: mean})
		key := [2]float64{mean[MetricNDCG10], mean[MetricRecall100]}
		if i == 0 || key[0] > bestKey[0]+1e-12 || (key[0] > bestKey[0]-1e-12 && key[1] > bestKey[1]+1e-12) {
			best, bestKey = f, key
		}
	}
	return best, results
}
