package retrieve

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
)

// CollectOptions say how Collect runs.
type CollectOptions struct {
	Workers  int    // searches run at once; default 2
	Stage    string // what the queries are, for Progress ("test queries")
	Progress func(stage string, done, total int)
}

// Collect embeds every query of set in one call and fetches both sides'
// candidates of each from kb: ids and documents only, no chunk records,
// enough to rank depth hits after per-document caps of one. The first
// error stops the other searches.
func (r *Retriever) Collect(ctx context.Context, kb *kefu.KB, set *kefu.LabelledSet, depth int, opts CollectOptions) (map[string]*kefu.Candidates, error) {
	ids := slices.Sorted(maps.Keys(set.Qrels))
	texts := make([]string, len(ids))
	for i, q := range ids {
		texts[i] = set.Queries[q]
	}
	var vecs [][]float32
	if r.Embedder != nil {
		if id := r.Embedder.ModelID(); kb.Model != "" && id != kb.Model {
			return nil, kefu.Errorf(kefu.EMODEL, "knowledge base %q was embedded with %s, not %s", kb.Name, kb.Model, id)
		}
		t := time.Now()
		var err error
		if vecs, err = r.Embedder.EmbedQueries(ctx, texts); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf("embedded %d %s in %.1fs", len(texts), opts.Stage, time.Since(t).Seconds()), len(texts), len(texts))
		}
	}
	k := CandidateCount(kefu.Query{K: depth}, kefu.Fusion{PerDocCap: 1})
	out := make(map[string]*kefu.Candidates, len(ids))
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		firstEr error
		done    int
	)
	workers := max(opts.Workers, 1)
	if opts.Workers == 0 {
		workers = 2
	}
	ctx, cancel := context.WithCancel(ctx) // the first error stops the rest
	defer cancel()
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				req := kefu.SearchRequest{Query: texts[i], K: k, Select: func(*kefu.Candidates) []string { return nil }}
				if vecs != nil {
					req.Vector = vecs[i]
				}
				c, err := r.Index.Search(ctx, kb.Name, req)
				mu.Lock()
				if err != nil && firstEr == nil {
					firstEr = err
					cancel()
				}
				if err == nil {
					out[ids[i]] = c
				}
				done++
				if opts.Progress != nil && done%50 == 0 {
					opts.Progress("searching "+opts.Stage, done, len(ids))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range ids {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstEr != nil {
		return nil, firstEr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// View returns what a search in mode sees of c, the candidates of query:
// the keyword side alone for bm25, the vector side alone for dense; hybrid
// sees both, unless the model does not know the query's language, as in
// Retrieve.
func (r *Retriever) View(c *kefu.Candidates, query string, mode kefu.SearchMode) *kefu.Candidates {
	v := *c
	switch mode {
	case kefu.ModeBM25:
		v.Vector = nil
	case kefu.ModeDense:
		v.Keyword = nil
	default:
		if r.Embedder != nil && !r.vectorUseful(query, kefu.ModeHybrid) {
			v.Vector = nil
		}
	}
	return &v
}

// Samples asks every query of set on kb as the answerer does (its
// hybrid query, fusion, candidate depth and reranker) and pairs each, in
// sorted query order, with its confidence features and whether its top
// hit is relevant: the data a calibration is fitted and measured on. It
// does not reuse evaluation's deeper candidate lists (Collect): features
// such as a rival's cover depend on what the search fetched, and a
// confidence fitted on other features than the product's would not mean
// what it says. Queries are embedded in one call.
func (r *Retriever) Samples(ctx context.Context, kb *kefu.KB, set *kefu.LabelledSet, opts CollectOptions) ([]Sample, error) {
	ids := slices.Sorted(maps.Keys(set.Qrels))
	vecs := make([][]float32, len(ids))
	if r.Embedder != nil {
		if id := r.Embedder.ModelID(); kb.Model != "" && id != kb.Model {
			return nil, kefu.Errorf(kefu.EMODEL, "knowledge base %q was embedded with %s, not %s", kb.Name, kb.Model, id)
		}
		var texts []string
		var at []int
		for i, q := range ids {
			if r.vectorUseful(set.Queries[q], kefu.ModeHybrid) {
				texts, at = append(texts, set.Queries[q]), append(at, i)
			}
		}
		if len(texts) > 0 {
			got, err := r.Embedder.EmbedQueries(ctx, texts)
			if err != nil {
				return nil, err
			}
			for j, i := range at {
				vecs[i] = got[j]
			}
		}
	}
	out := make([]Sample, len(ids))
	for i, q := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		query, fusion, err := prepare(kb, kefu.Query{Text: set.Queries[q], K: 10})
		if err != nil {
			return nil, err
		}
		c, err := r.CandidatesWith(ctx, kb, query, fusion, vecs[i])
		if err != nil {
			return nil, err
		}
		res, err := r.Rank(ctx, kb, c, query, fusion)
		if err != nil {
			return nil, err
		}
		out[i].Features = res.Features
		if len(res.Hits) > 0 {
			id := res.Hits[0].Chunk.DocID
			if set.ByChunk {
				id = res.Hits[0].Chunk.ID
			}
			out[i].Relevant = set.Qrels[q][id] > 0
		}
		if opts.Progress != nil && (i+1)%50 == 0 {
			opts.Progress("asking "+opts.Stage, i+1, len(ids))
		}
	}
	return out, nil
}
