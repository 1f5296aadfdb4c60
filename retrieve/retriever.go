// Package retrieve runs hybrid search: it embeds the query, asks the index
// for keyword and vector candidates from one snapshot, fuses them, caps hits
// per document, optionally reranks, and scores the confidence that the top hit
// is relevant. It also evaluates retrieval on labelled datasets.
package retrieve

import (
	"context"
	"slices"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// KBGetter reads a KB's settings.
type KBGetter interface {
	KB(ctx context.Context, name string) (*kefu.KB, error)
}

// Retriever implements kefu.Retriever over an Index and an Embedder.
type Retriever struct {
	Index    kefu.Index
	KBs      KBGetter
	Embedder kefu.Embedder // nil: keyword search only
	Reranker kefu.Reranker // nil: no reranking
	// RerankDepth is how many fused hits the reranker sees (default 20).
	RerankDepth int
}

// MaxK bounds the hits one query may ask for.
const MaxK = 1000

// Retrieve searches kb for q.
func (r *Retriever) Retrieve(ctx context.Context, kbName string, q kefu.Query) (*kefu.Retrieval, error) {
	start := time.Now()
	kb, err := r.KBs.KB(ctx, kbName)
	if err != nil {
		return nil, err
	}
	if q.K <= 0 {
		q.K = 10
	}
	if q.K > MaxK {
		return nil, kefu.Errorf(kefu.EINVALID, "k must be at most %d", MaxK)
	}
	mode := q.Mode
	if mode == "" {
		mode = kefu.ModeHybrid
	}
	fusion := kb.Settings.Fusion
	if q.Fusion != nil {
		fusion = *q.Fusion
	}
	if fusion.Method == "" {
		fusion = kefu.DefaultFusion()
	}
	n := fusion.Candidates
	if n <= 0 {
		n = max(4*q.K, 50)
	}
	if fusion.PerDocCap > 0 {
		// Capped documents leave holes: fetch enough to fill k.
		n = max(n, 2*q.K)
	}
	req := kefu.SearchRequest{K: n, Filter: q.Filter}
	timings := map[string]time.Duration{}

	if mode != kefu.ModeVector {
		req.Query = q.Text
	}
	if mode != kefu.ModeKeyword && r.Embedder != nil && r.vectorUseful(kb, q.Text, mode) {
		if id := r.Embedder.ModelID(); kb.Model != "" && id != kb.Model {
			return nil, kefu.Errorf(kefu.EMODEL, "knowledge base %q was embedded with %s, not %s; re-embed it or start kefu with its model", kb.Name, kb.Model, id)
		}
		t := time.Now()
		vecs, err := r.Embedder.EmbedQueries(ctx, []string{q.Text})
		if err != nil {
			return nil, err
		}
		req.Vector = vecs[0]
		timings["embed"] = time.Since(t)
	}
	if mode == kefu.ModeVector && req.Vector == nil {
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "dense search needs an embedding model")
	}

	t := time.Now()
	cands, err := r.Index.Search(ctx, kbName, req)
	if err != nil {
		return nil, err
	}
	timings["search"] = time.Since(t)
	for k, v := range cands.Timings {
		timings[k] = v
	}

	t = time.Now()
	hits := Fuse(cands, fusion, q.K)
	if r.Reranker != nil && len(hits) > 1 {
		if hits, err = r.rerank(ctx, q.Text, hits); err != nil {
			return nil, err
		}
	}
	feat := ComputeFeatures(cands, hits)
	conf := 0.0
	if len(hits) > 0 {
		conf = Confidence(feat, kb.Settings.Calibration)
	}
	timings["fuse"] = time.Since(t)
	timings["total"] = time.Since(start)
	return &kefu.Retrieval{Hits: hits, Confidence: conf, Features: feat, Version: cands.Version, Timings: timings}, nil
}

// vectorUseful reports whether the vector side can help this query: a model
// that does not know the query's language only adds noise (an English-only
// encoder maps every Chinese text to nearly the same vector), so hybrid
// search then runs on keywords alone. Dense mode always uses vectors.
func (r *Retriever) vectorUseful(kb *kefu.KB, query string, mode kefu.SearchMode) bool {
	if mode == kefu.ModeVector {
		return true
	}
	langs := r.Embedder.Model().Languages
	lang := text.Lang(query)
	if lang == "" || len(langs) == 0 || slices.Contains(langs, "multi") {
		return true
	}
	return slices.Contains(langs, lang)
}

func (r *Retriever) rerank(ctx context.Context, query string, hits []kefu.Hit) ([]kefu.Hit, error) {
	depth := r.RerankDepth
	if depth <= 0 {
		depth = 20
	}
	depth = min(depth, len(hits))
	passages := make([]string, depth)
	for i := range passages {
		passages[i] = hits[i].Chunk.ContextText()
	}
	scores, err := r.Reranker.Rerank(ctx, query, passages)
	if err != nil {
		return nil, err
	}
	head := slices.Clone(hits[:depth])
	for i := range head {
		head[i].Rerank = scores[i]
	}
	slices.SortStableFunc(head, func(a, b kefu.Hit) int {
		switch {
		case a.Rerank > b.Rerank:
			return -1
		case a.Rerank < b.Rerank:
			return 1
		}
		return 0
	})
	return append(head, hits[depth:]...), nil
}
