// Package retrieve is the online path of hybrid search: it embeds the
// query, asks the index for keyword and vector candidates from one
// snapshot, fuses them, caps hits per document, optionally reranks, and
// scores the confidence that the top hit is relevant (confidence.go,
// answerability.go). It also fits that confidence and measures the fit
// (calibrate.go): from a KB's own content (selfcal.go, with the shipped
// off-topic questions of offtopic.go) or from labelled queries' samples
// (samples.go).
//
// It imports the root (kefu) and internal/text, never another stage:
// evaluation (metrics, datasets, tuning, reports) is package eval, which
// measures this one.
package retrieve

import (
	"context"
	"slices"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// Retriever implements kefu.Retriever over an Index and an Embedder.
type Retriever struct {
	Index    kefu.Index
	KBs      kefu.KBReader
	Embedder kefu.Embedder // nil: keyword search only
	// Reranker reranks the fused hits of KBs that name no reranker of
	// their own; nil: no reranking.
	Reranker kefu.Reranker
	// Rerankers loads the reranker a KB names in its settings.
	Rerankers func(name string) (kefu.Reranker, error)
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
	q, fusion, err := prepare(kb, q)
	if err != nil {
		return nil, err
	}
	cands, err := r.Candidates(ctx, kb, q, fusion)
	if err != nil {
		return nil, err
	}
	res, err := r.Rank(ctx, kb, cands, q, fusion)
	if err != nil {
		return nil, err
	}
	res.Timings[kefu.TimingTotal] = time.Since(start)
	return res, nil
}

// prepare fills a query's defaults and picks its fusion.
func prepare(kb *kefu.KB, q kefu.Query) (kefu.Query, kefu.Fusion, error) {
	if q.K <= 0 {
		q.K = 10
	}
	if q.K > MaxK {
		return q, kefu.Fusion{}, kefu.Errorf(kefu.EINVALID, "k must be at most %d", MaxK)
	}
	if q.Mode == "" {
		q.Mode = kefu.ModeHybrid
	}
	switch q.Mode {
	case kefu.ModeHybrid, kefu.ModeBM25, kefu.ModeDense:
	default:
		return q, kefu.Fusion{}, kefu.Errorf(kefu.EINVALID, "mode %q: use hybrid, bm25 or dense", q.Mode)
	}
	fusion := kb.Settings.Fusion
	if q.Fusion != nil {
		fusion = *q.Fusion
	}
	if fusion.Method == "" {
		fusion = kefu.DefaultFusion()
	}
	return q, fusion, nil
}

// CandidateCount is how many candidates per side a query with this fusion
// fetches.
func CandidateCount(q kefu.Query, f kefu.Fusion) int {
	n := f.Candidates
	if n <= 0 {
		n = max(4*q.K, 50)
	}
	if f.PerDocCap > 0 {
		// Capped documents leave holes: fetch enough to fill k.
		n = max(n, 2*q.K)
	}
	return n
}

// Candidates embeds the query when the mode needs it and fetches both
// sides' candidates from one snapshot of the KB, with the chunks of the
// hits Rank will keep.
func (r *Retriever) Candidates(ctx context.Context, kb *kefu.KB, q kefu.Query, fusion kefu.Fusion) (*kefu.Candidates, error) {
	var vec []float32
	var took time.Duration
	if q.Mode != kefu.ModeBM25 && r.Embedder != nil && r.vectorUseful(q.Text, q.Mode) {
		if id := r.Embedder.ModelID(); kb.Model != "" && id != kb.Model {
			return nil, kefu.Errorf(kefu.EMODEL, "knowledge base %q was embedded with %s, not %s; re-embed it or start kefu with its model", kb.Name, kb.Model, id)
		}
		t := time.Now()
		vecs, err := r.Embedder.EmbedQueries(ctx, []string{q.Text})
		if err != nil {
			return nil, err
		}
		vec, took = vecs[0], time.Since(t)
	}
	if q.Mode == kefu.ModeDense && vec == nil {
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "dense search needs an embedding model")
	}
	c, err := r.CandidatesWith(ctx, kb, q, fusion, vec)
	if err != nil {
		return nil, err
	}
	if vec != nil {
		c.Timings[kefu.TimingEmbed] = took
	}
	return c, nil
}

// CandidatesWith is Candidates with the query's vector already computed
// (nil: keyword side only, unless the mode is dense).
func (r *Retriever) CandidatesWith(ctx context.Context, kb *kefu.KB, q kefu.Query, fusion kefu.Fusion, vec []float32) (*kefu.Candidates, error) {
	req := kefu.SearchRequest{K: CandidateCount(q, fusion), Filter: q.Filter, Select: r.selector(q, fusion), Vector: vec}
	if q.Mode != kefu.ModeDense {
		req.Query = q.Text
	}
	t := time.Now()
	cands, err := r.Index.Search(ctx, kb.Name, req)
	if err != nil {
		return nil, err
	}
	timings := map[kefu.TimingKey]time.Duration{kefu.TimingSearch: time.Since(t)}
	for k, v := range cands.Timings {
		timings[k] = v
	}
	cands.Timings = timings
	return cands, nil
}

// selector picks, inside the index's snapshot, the chunks Rank will need:
// the fused hits.
func (r *Retriever) selector(q kefu.Query, fusion kefu.Fusion) func(*kefu.Candidates) []string {
	return func(c *kefu.Candidates) []string {
		hits := Fuse(c, fusion, q.K)
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.Chunk.ID
		}
		return ids
	}
}

// Rank fuses candidates into hits, reranks them when a reranker is set, and
// scores the confidence that the top hit is relevant.
func (r *Retriever) Rank(ctx context.Context, kb *kefu.KB, cands *kefu.Candidates, q kefu.Query, fusion kefu.Fusion) (*kefu.Retrieval, error) {
	t := time.Now()
	hits := Fuse(cands, fusion, q.K)
	rr := r.Reranker
	if name := kb.Settings.Reranker; name != "" && r.Rerankers != nil {
		var err error
		if rr, err = r.Rerankers(name); err != nil {
			return nil, err
		}
	}
	if rr != nil && len(hits) > 1 {
		var err error
		if hits, err = r.rerank(ctx, rr, q.Text, hits); err != nil {
			return nil, err
		}
	}
	feat := ComputeFeatures(q.Text, cands, hits)
	conf := 0.0
	if len(hits) > 0 {
		conf = Confidence(feat, kb.Settings.Calibration)
	}
	timings := cands.Timings
	if timings == nil {
		timings = map[kefu.TimingKey]time.Duration{}
	}
	timings[kefu.TimingFuse] = time.Since(t)
	return &kefu.Retrieval{Hits: hits, Confidence: conf, Features: feat, Version: cands.Version, Timings: timings,
		Terms: cands.QueryTerms, DocCount: cands.DocCount}, nil
}

// vectorUseful reports whether the vector side can help this query: a model
// that does not know the query's language only adds noise (an English-only
// encoder maps every Chinese text to nearly the same vector), so hybrid
// search then runs on keywords alone. Dense mode always uses vectors.
func (r *Retriever) vectorUseful(query string, mode kefu.SearchMode) bool {
	if mode == kefu.ModeDense {
		return true
	}
	langs := r.Embedder.Model().Languages
	lang := text.Lang(query)
	if lang == "" || len(langs) == 0 || slices.Contains(langs, "multi") {
		return true
	}
	return slices.Contains(langs, lang)
}

func (r *Retriever) rerankDepth() int {
	if r.RerankDepth > 0 {
		return r.RerankDepth
	}
	return 20
}

func (r *Retriever) rerank(ctx context.Context, rr kefu.Reranker, query string, hits []kefu.Hit) ([]kefu.Hit, error) {
	depth := min(r.rerankDepth(), len(hits))
	passages := make([]string, depth)
	for i := range passages {
		passages[i] = hits[i].Chunk.ContextText()
	}
	scores, err := rr.Rerank(ctx, query, passages)
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
