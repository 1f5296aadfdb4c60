package embed

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/kefu-dev/kefu"
)

// Reranker scores (query, passage) pairs with an ONNX cross-encoder (a BERT
// or XLM-R sequence classifier exported like sentence-transformers'
// CrossEncoder: inputs input_ids, attention_mask, token_type_ids; output
// "logits"). It implements kefu.Reranker.
//
// The score is the model's relevance logit: the single output of a
// one-label model, or logit(relevant) - logit(not relevant) of a two-label
// one. The "logits" output is read unless the spec names another output or
// asks for CLS pooling, which scores by the first component of the [CLS]
// vector; that is for tests with the shared BERT models, which have no
// classifier head.
type Reranker struct {
	spec     kefu.ModelSpec
	tok      *Tokenizer
	sessions chan *session // idle sessions; closed by Close
	all      []*session
	maxBatch int
	closing  sync.Once
}

var _ kefu.Reranker = (*Reranker)(nil)

// NewReranker loads a cross-encoder with opts.Sessions sessions (default
// one: reranking serves one query at a time), starting ONNX Runtime from
// opts.ORTLib when it is not running yet.
func NewReranker(spec kefu.ModelSpec, opts Options) (*Reranker, error) {
	if err := InitRuntime(opts.ORTLib); err != nil {
		return nil, err
	}
	switch {
	case spec.Output != "":
		spec.Pooling = kefu.PoolOutput
	case spec.Pooling != kefu.PoolCLS:
		spec.Pooling, spec.Output = kefu.PoolOutput, "logits"
	}
	if spec.Pooling == kefu.PoolOutput {
		spec.Dim = 0 // the graph says how many labels it scores
	}
	spec.Normalize = false
	tok, err := LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		return nil, err
	}
	if tok.pair == nil {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "reranker %s: its tokenizer cannot encode sentence pairs", spec.Name)
	}
	g, err := inspectGraph(spec)
	if err != nil {
		return nil, err
	}
	n := max(opts.Sessions, 1)
	r := &Reranker{spec: spec, tok: tok, sessions: make(chan *session, n), maxBatch: 16}
	if opts.MaxBatch > 0 {
		r.maxBatch = opts.MaxBatch
	}
	for i := 0; i < n; i++ {
		s, err := newSession(spec, g, tok.PadID(), max(opts.IntraOpThreads, 1))
		if err != nil {
			r.Close()
			return nil, err
		}
		r.all = append(r.all, s)
		r.sessions <- s
	}
	return r, nil
}

// Rerank scores each passage against query; higher is more relevant.
func (r *Reranker) Rerank(ctx context.Context, query string, passages []string) ([]float64, error) {
	type pair struct {
		i          int
		ids, types []int
	}
	pairs := make([]pair, len(passages))
	for i, p := range passages {
		ids, types, err := r.tok.EncodePair(query, p)
		if err != nil {
			return nil, err
		}
		pairs[i] = pair{i, ids, types}
	}
	// Similar lengths together keep padding small.
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(len(a.ids), len(b.ids)) })
	scores := make([]float64, len(passages))
	var s *session
	select {
	case got, ok := <-r.sessions:
		if !ok {
			return nil, kefu.Errorf(kefu.EUNAVAILABLE, "rerank: the reranker is closed")
		}
		s = got
	case <-ctx.Done():
		return nil, ctxError(ctx.Err())
	}
	defer func() { r.sessions <- s }()
	d := s.g.dim
	for lo := 0; lo < len(pairs); lo += r.maxBatch {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(err)
		}
		batch := pairs[lo:min(lo+r.maxBatch, len(pairs))]
		ids := make([][]int, len(batch))
		types := make([][]int, len(batch))
		for j, p := range batch {
			ids[j], types[j] = p.ids, p.types
		}
		out := make([]float32, len(batch)*d)
		if _, err := s.run(ids, types, out); err != nil {
			return nil, err
		}
		for j, p := range batch {
			v := out[j*d : (j+1)*d]
			if d == 2 {
				scores[p.i] = float64(v[1] - v[0])
			} else {
				scores[p.i] = float64(v[0])
			}
		}
	}
	return scores, nil
}

// Close releases the sessions, waiting for the reranks running on them;
// later reranks fail.
func (r *Reranker) Close() error {
	r.closing.Do(func() {
		for range r.all {
			(<-r.sessions).close()
		}
		close(r.sessions)
		r.all = nil
	})
	return nil
}
