// Package embed turns texts into sentence embeddings with a BERT-family
// model run by ONNX Runtime: the model's HuggingFace tokenizer, the graph,
// pooling and normalisation, and the batching that keeps a CPU busy with
// little padding; and a cross-encoder reranker.
//
// It imports the root and internal/vecmath, never another stage: package
// models finds the files it loads.
package embed

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-dev/kefu"
)

// Defaults of Options. Measured on minilm-l6-shape with 2 cores (texts per
// CPU-second over mixed 8-256-token texts): one single-threaded session per
// core beat one two-threaded session by 1.7x; budgets of 128-512 tokens were
// alike, 1024 was 8% slower, one text per batch 12% slower.
const (
	DefaultBatchTokens = 512
	DefaultMaxBatch    = 64
	DefaultQueryWindow = 2 * time.Millisecond
)

// Options tune an Engine. The zero value is the recommended setting.
type Options struct {
	// ORTLib is the ONNX Runtime library (see FindRuntime); "" looks it up.
	ORTLib string
	// Sessions is how many ONNX sessions run side by side; 0 is one per CPU.
	Sessions int
	// IntraOpThreads is each session's thread count; 0 is 1.
	IntraOpThreads int
	// BatchTokens bounds a batch's padded size (rows × longest row).
	BatchTokens int
	// MaxBatch bounds the rows of a batch.
	MaxBatch int
	// QueryWindow is how long the first of several concurrent EmbedQueries
	// calls waits for others to share its batch; negative disables it.
	QueryWindow time.Duration
}

func (o Options) withDefaults() Options {
	if o.Sessions <= 0 {
		o.Sessions = runtime.NumCPU()
	}
	if o.IntraOpThreads <= 0 {
		o.IntraOpThreads = 1
	}
	if o.BatchTokens <= 0 {
		o.BatchTokens = DefaultBatchTokens
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.QueryWindow == 0 {
		o.QueryWindow = DefaultQueryWindow
	}
	return o
}

// Engine embeds texts with one model. It implements kefu.Embedder and is
// safe for concurrent use: every caller's texts are tokenised, sorted by
// length and cut into batches under a token budget, and a pool of ONNX
// sessions (one per core by default) runs the batches, queries first.
type Engine struct {
	spec kefu.ModelSpec
	id   kefu.ModelID
	opts Options
	tok  *Tokenizer
	g    graphIO

	sessions []*session
	wg       sync.WaitGroup
	runNanos atomic.Int64 // time spent inside ONNX Runtime, all sessions
	batches  atomic.Int64 // batches run

	mu       sync.Mutex
	cond     *sync.Cond
	queries  []*batch // run before passages
	passages []*batch
	pending  []item // queries waiting for the window
	timer    *time.Timer
	closed   bool
}

// New loads spec's tokenizer and graph and starts the sessions. spec.Dir must
// hold the files (see models.Resolve).
func New(spec kefu.ModelSpec, opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	spec, tok, g, err := load(spec, opts.ORTLib)
	if err != nil {
		return nil, err
	}
	id, err := fileID(spec)
	if err != nil {
		return nil, err
	}
	e := &Engine{spec: spec, id: id, opts: opts, tok: tok, g: g}
	e.cond = sync.NewCond(&e.mu)
	for i := 0; i < opts.Sessions; i++ {
		s, err := newSession(spec, g, tok.PadID(), opts.IntraOpThreads)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.sessions = append(e.sessions, s)
		e.wg.Add(1)
		go e.work(s)
	}
	return e, nil
}

// load starts ONNX Runtime from ortLib when it is not running yet, and
// reads spec's tokenizer and graph, filling spec's defaults.
func load(spec kefu.ModelSpec, ortLib string) (kefu.ModelSpec, *Tokenizer, graphIO, error) {
	if spec.Dir == "" {
		return spec, nil, graphIO{}, kefu.Errorf(kefu.EINVALID, "model %s has no folder; resolve it first (models.Resolve)", spec.Name)
	}
	if spec.MaxTokens <= 0 {
		spec.MaxTokens = 512 // BERT's position limit; longer inputs would fail in the graph
	}
	if err := InitRuntime(ortLib); err != nil {
		return spec, nil, graphIO{}, err
	}
	tok, err := LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		return spec, nil, graphIO{}, err
	}
	g, err := inspectGraph(spec)
	if err != nil {
		return spec, nil, graphIO{}, err
	}
	if spec.Dim == 0 {
		spec.Dim = g.dim
	}
	return spec, tok, g, nil
}

// fileID identifies a model's weights by its ONNX file's SHA-256
// (kefu.ModelID). It is what ModelID returns and what a KB records, so a KB
// notices when its model's weights change.
func fileID(spec kefu.ModelSpec) (kefu.ModelID, error) {
	f, err := os.Open(onnxPath(spec))
	if err != nil {
		return "", kefu.Errorf(kefu.ENOTFOUND, "model %s: %w", spec.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", kefu.Errorf(kefu.EINTERNAL, "model %s: %w", spec.Name, err)
	}
	return kefu.NewModelID(spec.Name, [sha256.Size]byte(h.Sum(nil))), nil
}

// Model describes the model.
func (e *Engine) Model() kefu.ModelSpec { return e.spec }

// ModelID identifies the model's weights.
func (e *Engine) ModelID() kefu.ModelID { return e.id }

// Options returns the engine's options, defaults filled in.
func (e *Engine) Options() Options { return e.opts }

// Plan returns how the engine batches texts of these lengths (in tokens,
// special tokens included): each batch as indexes into lens, in the order
// the sessions take them.
func (e *Engine) Plan(lens []int) [][]int {
	items := make([]item, len(lens))
	for i, n := range lens {
		items[i] = item{idx: i, ids: make([]int, n)}
	}
	var out [][]int
	for _, b := range e.plan(items) {
		idx := make([]int, len(b.items))
		for i, it := range b.items {
			idx[i] = it.idx
		}
		out = append(out, idx)
	}
	return out
}

// Tokenizer returns the model's tokenizer.
func (e *Engine) Tokenizer() *Tokenizer { return e.tok }

// CountTokens counts the tokens of text without the special tokens.
func (e *Engine) CountTokens(text string) int { return e.tok.CountTokens(text) }

// EmbedQueries embeds search queries, with the model's query prefix.
// Concurrent calls arriving within Options.QueryWindow share batches.
func (e *Engine) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts, e.spec.QueryPrefix, true)
}

// EmbedPassages embeds documents, with the model's passage prefix.
func (e *Engine) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts, e.spec.PassagePrefix, false)
}

// RunTime is the total time the sessions have spent inside ONNX Runtime.
func (e *Engine) RunTime() time.Duration { return time.Duration(e.runNanos.Load()) }

// Close stops the sessions, failing calls still waiting, and frees them.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	if e.timer != nil {
		e.timer.Stop()
	}
	errClosed := kefu.Errorf(kefu.EUNAVAILABLE, "the embedding engine is closed")
	for _, it := range e.pending {
		it.req.fail(errClosed)
	}
	for _, b := range append(e.queries, e.passages...) {
		for _, it := range b.items {
			it.req.fail(errClosed)
		}
	}
	e.pending, e.queries, e.passages = nil, nil, nil
	e.cond.Broadcast()
	e.mu.Unlock()
	e.wg.Wait()
	var first error
	for _, s := range e.sessions {
		if err := s.close(); err != nil && first == nil {
			first = kefu.Errorf(kefu.EINTERNAL, "onnxruntime: %w", err)
		}
	}
	e.sessions = nil
	return first
}

// request is one Embed call in flight.
type request struct {
	ctx  context.Context
	out  [][]float32
	left atomic.Int64 // texts not yet embedded
	once sync.Once
	err  error
	done chan struct{}
}

func (r *request) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.done)
	})
}

// finished records n embedded texts.
func (r *request) finished(n int) {
	if r.left.Add(int64(-n)) == 0 {
		r.once.Do(func() { close(r.done) })
	}
}

// item is one text of a request, tokenised.
type item struct {
	req *request
	idx int
	ids []int
}

// batch is a set of items run together, padded to the longest.
type batch struct{ items []item }

func (e *Engine) embed(ctx context.Context, texts []string, prefix string, query bool) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	req := &request{ctx: ctx, out: make([][]float32, len(texts)), done: make(chan struct{})}
	req.left.Store(int64(len(texts)))
	items, err := e.tokenize(ctx, req, texts, prefix)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "the embedding engine is closed")
	}
	switch {
	case query && e.opts.QueryWindow > 0 && len(items) < e.opts.MaxBatch:
		e.pending = append(e.pending, items...)
		if e.pendingFull() {
			e.flushLocked()
		} else if e.timer == nil {
			e.timer = time.AfterFunc(e.opts.QueryWindow, e.flush)
		}
	case query:
		e.queries = append(e.queries, e.plan(items)...)
		e.cond.Broadcast()
	default:
		e.passages = append(e.passages, e.plan(items)...)
		e.cond.Broadcast()
	}
	e.mu.Unlock()
	select {
	case <-req.done:
	case <-ctx.Done():
		req.fail(ctxError(ctx.Err()))
		<-req.done
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.out, nil
}

func ctxError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return kefu.Errorf(kefu.ETIMEOUT, "embedding: %w", err)
	case errors.Is(err, context.Canceled):
		return kefu.Errorf(kefu.ETIMEOUT, "embedding cancelled: %w", err)
	}
	return err
}

// tokenize encodes texts, spread over the CPUs when there are many.
func (e *Engine) tokenize(ctx context.Context, req *request, texts []string, prefix string) ([]item, error) {
	items := make([]item, len(texts))
	workers := min(runtime.GOMAXPROCS(0), (len(texts)+63)/64)
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	const chunk = 32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(texts) || ctx.Err() != nil {
					return
				}
				for i := lo; i < min(lo+chunk, len(texts)); i++ {
					ids, err := e.tok.Encode(prefix + texts[i])
					if err != nil {
						errMu.Lock()
						if first == nil {
							first = kefu.Errorf(kefu.EINVALID, "text %d: %w", i, err)
						}
						errMu.Unlock()
						return
					}
					items[i] = item{req: req, idx: i, ids: ids}
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	return items, nil
}

// plan sorts items by length and cuts them into batches whose padded size
// stays within the token budget, longest batches first so the sessions
// finish together.
func (e *Engine) plan(items []item) []*batch {
	slices.SortStableFunc(items, func(a, b item) int { return len(a.ids) - len(b.ids) })
	var out []*batch
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && j-i < e.opts.MaxBatch && (j-i+1)*len(items[j].ids) <= e.opts.BatchTokens {
			j++
		}
		out = append(out, &batch{items: items[i:j]})
		i = j
	}
	slices.Reverse(out)
	return out
}

func (e *Engine) pendingFull() bool {
	if len(e.pending) >= e.opts.MaxBatch {
		return true
	}
	longest := 0
	for _, it := range e.pending {
		longest = max(longest, len(it.ids))
	}
	return len(e.pending)*longest >= e.opts.BatchTokens
}

// flush moves the pending queries to the queue when the window closes.
func (e *Engine) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.flushLocked()
	}
}

func (e *Engine) flushLocked() {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if len(e.pending) == 0 {
		return
	}
	e.queries = append(e.queries, e.plan(e.pending)...)
	e.pending = nil
	e.cond.Broadcast()
}

// work runs batches on one session until the engine closes.
func (e *Engine) work(s *session) {
	defer e.wg.Done()
	var seqs [][]int
	for {
		e.mu.Lock()
		for len(e.queries) == 0 && len(e.passages) == 0 && !e.closed {
			e.cond.Wait()
		}
		if e.closed {
			e.mu.Unlock()
			return
		}
		var b *batch
		if len(e.queries) > 0 {
			b, e.queries = e.queries[0], e.queries[1:]
		} else {
			b, e.passages = e.passages[0], e.passages[1:]
		}
		e.mu.Unlock()
		seqs = e.runBatch(s, b, seqs[:0])
	}
}

// runBatch embeds the items of b whose callers still wait; seqs is scratch
// space, returned for reuse.
func (e *Engine) runBatch(s *session, b *batch, seqs [][]int) [][]int {
	live := b.items[:0:0]
	for _, it := range b.items {
		if it.req.ctx.Err() == nil {
			live = append(live, it)
			seqs = append(seqs, it.ids)
		}
	}
	if len(live) == 0 {
		return seqs
	}
	d := e.g.dim
	out := make([]float32, len(live)*d) // one allocation per batch: callers keep the vectors
	took, err := s.run(seqs, nil, out)
	e.runNanos.Add(int64(took))
	e.batches.Add(1)
	for r, it := range live {
		if err != nil {
			it.req.fail(err)
			continue
		}
		it.req.out[it.idx] = out[r*d : (r+1)*d : (r+1)*d]
		it.req.finished(1)
	}
	return seqs
}
