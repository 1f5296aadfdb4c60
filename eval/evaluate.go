package eval

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
)

// KBStore reads and updates KB settings; evaluation stores tuned fusion and
// fitted calibration with it.
type KBStore interface {
	KB(ctx context.Context, name string) (*kefu.KB, error)
	UpdateKB(ctx context.Context, kb *kefu.KB) error
}

// EvalOptions say what one evaluation run does.
type EvalOptions struct {
	Modes     []kefu.SearchMode // default: all three
	Tune      bool              // choose fusion on Train and store it
	Calibrate bool              // fit the confidence on Train and store it
	Threshold float64           // default 0.85
	Workers   int               // queries searched in parallel (default 2)
	Progress  func(stage string, done, total int)
}

// LabelledSet is a set of queries with judgements, at document level or,
// when ByChunk, at chunk level.
type LabelledSet struct {
	Name    string
	Split   string
	Queries map[string]string
	Qrels   Qrels
	ByChunk bool
}

// SetOf returns a dataset's queries and judgements.
func SetOf(d *Dataset) *LabelledSet {
	return &LabelledSet{Name: d.Name, Split: d.Split, Queries: d.Queries, Qrels: d.Qrels}
}

// Evaluator measures retrieval of a KB on labelled queries.
type Evaluator struct {
	Retriever *Retriever
	KBs       KBStore
}

// evalDepth is the ranking depth every metric is computed from (recall@100).
const evalDepth = 100

// Run evaluates kb on test, after tuning and calibrating on train when asked
// (train may be nil: then nothing is fitted and the report says so).
func (ev *Evaluator) Run(ctx context.Context, kbName string, test, train *LabelledSet, opts EvalOptions) (*Report, error) {
	if len(opts.Modes) == 0 {
		opts.Modes = []kefu.SearchMode{kefu.ModeKeyword, kefu.ModeVector, kefu.ModeHybrid}
	}
	if opts.Threshold == 0 {
		opts.Threshold = kefu.DefaultThreshold
	}
	kb, err := ev.KBs.KB(ctx, kbName)
	if err != nil {
		return nil, err
	}
	rep := &Report{Dataset: test.Name, Split: test.Split, Queries: len(test.Qrels), Model: kb.Model, K: evalDepth,
		Modes: map[string]map[string]float64{}, Curves: map[string][]float64{}, Runs: map[string]ScoredRun{}}

	testC, err := ev.collect(ctx, kb, test, opts, "test queries")
	if err != nil {
		return nil, err
	}
	if (opts.Tune || opts.Calibrate) && train == nil {
		rep.Notes = append(rep.Notes, "No train split: nothing was tuned or fitted; the stored (or default) fusion and confidence mapping were evaluated.")
	}
	var trainC map[string]*kefu.Candidates
	if train != nil && (opts.Tune || opts.Calibrate) {
		if trainC, err = ev.collect(ctx, kb, train, opts, "train queries"); err != nil {
			return nil, err
		}
	}
	if opts.Tune && trainC != nil {
		before := kb.Settings.Fusion
		views := ev.hybridViews(trainC, train)
		best, grid := Tune(func(f kefu.Fusion) Run { return FusedRun(views, f, evalDepth, train.ByChunk) }, train.Qrels, DefaultGrid())
		kb.Settings.Fusion = best
		if err := ev.KBs.UpdateKB(ctx, kb); err != nil {
			return nil, err
		}
		bm, _ := Evaluate(ev.run(testC, test, before), test.Qrels)
		am, _ := Evaluate(ev.run(testC, test, best), test.Qrels)
		rep.Tuning = &TuneSummary{Before: before, After: best, BeforeMetrics: bm, AfterMetrics: am,
			TunedOn: fmt.Sprintf("%s %s, %d queries", train.Name, train.Split, len(train.Qrels)), Grid: grid}
	}
	source := "default mapping (retrieve.DefaultCalibration)"
	if kb.Settings.Calibration != nil {
		source = "stored calibration (" + kb.Settings.Calibration.FittedOn + ")"
	}
	if opts.Calibrate && trainC != nil {
		samples := ev.samples(kb, trainC, train)
		cal, err := FitLogistic(samples, nil, 1.0)
		if err != nil {
			return nil, err
		}
		cal.Model = kb.Model
		cal.FittedOn = fmt.Sprintf("%s %s, %d queries", train.Name, train.Split, len(samples))
		kb.Settings.Calibration = cal
		source = "fitted on " + cal.FittedOn
	}

	for _, mode := range opts.Modes {
		views := ev.views(testC, test, mode)
		f := kb.Settings.Fusion
		scored := ScoredRun{}
		run := Run{}
		for q, c := range views {
			hits := Fuse(c, f, evalDepth)
			if test.ByChunk {
				run[q], scored[q] = chunkRanking(hits), chunkScores(hits)
			} else {
				run[q], scored[q] = DocRanking(hits), docScores(hits)
			}
		}
		mean, per := Evaluate(run, test.Qrels)
		rep.ModeOrder = append(rep.ModeOrder, string(mode))
		rep.Modes[string(mode)] = mean
		rep.Curves[string(mode)] = RecallCurve(run, test.Qrels)
		rep.Runs[string(mode)] = scored
		if mode == opts.Modes[len(opts.Modes)-1] {
			rep.PerQuery = rep.PerQuery[:0]
			for q, m := range per {
				row := QueryRow{ID: q, Text: test.Queries[q], Metrics: m}
				if len(run[q]) > 0 {
					row.Top = run[q][0]
				}
				rep.PerQuery = append(rep.PerQuery, row)
			}
		}
	}

	// Calibration is measured on the hybrid ranking the answerer sees.
	samples := ev.samples(kb, testC, test)
	conf := make([]float64, len(samples))
	rel := make([]bool, len(samples))
	confOf := map[string]float64{}
	ids := sortedKeys(test.Qrels)
	i := 0
	for _, q := range ids {
		if _, ok := testC[q]; !ok {
			continue
		}
		conf[i] = Confidence(samples[i].Features, kb.Settings.Calibration)
		rel[i] = samples[i].Relevant
		confOf[q] = conf[i]
		i++
	}
	cr := Reliability(conf, rel, opts.Threshold)
	cr.Source = source
	rep.Calibration = &cr
	if kb.Settings.Calibration != nil && opts.Calibrate && trainC != nil {
		kb.Settings.Calibration.ECE = cr.ECE
		if err := ev.KBs.UpdateKB(ctx, kb); err != nil {
			return nil, err
		}
	}
	for i := range rep.PerQuery {
		rep.PerQuery[i].Conf = confOf[rep.PerQuery[i].ID]
	}
	rep.SortWorstFirst()
	return rep, nil
}

// collect embeds every query at once and fetches both sides' candidates.
func (ev *Evaluator) collect(ctx context.Context, kb *kefu.KB, set *LabelledSet, opts EvalOptions, stage string) (map[string]*kefu.Candidates, error) {
	ids := sortedKeys(set.Qrels)
	texts := make([]string, len(ids))
	for i, q := range ids {
		texts[i] = set.Queries[q]
	}
	var vecs [][]float32
	if r := ev.Retriever; r.Embedder != nil {
		if id := r.Embedder.ModelID(); kb.Model != "" && id != kb.Model {
			return nil, kefu.Errorf(kefu.EMODEL, "knowledge base %q was embedded with %s, not %s", kb.Name, kb.Model, id)
		}
		t := time.Now()
		var err error
		if vecs, err = r.Embedder.EmbedQueries(ctx, texts); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf("embedded %d %s in %.1fs", len(texts), stage, time.Since(t).Seconds()), len(texts), len(texts))
		}
	}
	// Enough candidates per side for recall@100 after per-document caps.
	k := CandidateCount(kefu.Query{K: evalDepth}, kefu.Fusion{PerDocCap: 1})
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
				// Evaluation ranks ids and documents only: no chunk records.
				req := kefu.SearchRequest{Query: texts[i], K: k, Select: func(*kefu.Candidates) []string { return nil }}
				if vecs != nil {
					req.Vector = vecs[i]
				}
				c, err := ev.Retriever.Index.Search(ctx, kb.Name, req)
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
					opts.Progress("searching "+stage, done, len(ids))
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

// views restricts each query's candidates to what a mode sees. Hybrid
// mirrors the product: a query in a language the model does not know uses
// keywords alone.
func (ev *Evaluator) views(cands map[string]*kefu.Candidates, set *LabelledSet, mode kefu.SearchMode) map[string]*kefu.Candidates {
	out := make(map[string]*kefu.Candidates, len(cands))
	for q, c := range cands {
		v := *c
		switch mode {
		case kefu.ModeKeyword:
			v.Vector = nil
		case kefu.ModeVector:
			v.Keyword = nil
		default:
			if ev.Retriever.Embedder != nil && !ev.Retriever.vectorUseful(set.Queries[q], kefu.ModeHybrid) {
				v.Vector = nil
			}
		}
		out[q] = &v
	}
	return out
}

func (ev *Evaluator) hybridViews(cands map[string]*kefu.Candidates, set *LabelledSet) map[string]*kefu.Candidates {
	return ev.views(cands, set, kefu.ModeHybrid)
}

// run fuses hybrid views with f into a run at the set's level.
func (ev *Evaluator) run(cands map[string]*kefu.Candidates, set *LabelledSet, f kefu.Fusion) Run {
	return FusedRun(ev.hybridViews(cands, set), f, evalDepth, set.ByChunk)
}

// samples pairs each query's confidence features with whether the hybrid
// top hit is relevant, in sorted query order.
func (ev *Evaluator) samples(kb *kefu.KB, cands map[string]*kefu.Candidates, set *LabelledSet) []Sample {
	views := ev.hybridViews(cands, set)
	var out []Sample
	for _, q := range sortedKeys(set.Qrels) {
		c, ok := views[q]
		if !ok {
			continue
		}
		// The view holds what Retrieve would have fetched, so the features
		// match the product's.
		hits := Fuse(c, kb.Settings.Fusion, 10)
		s := Sample{Features: ComputeFeatures(c, hits)}
		if len(hits) > 0 {
			id := hits[0].Chunk.DocID
			if set.ByChunk {
				id = hits[0].Chunk.ID
			}
			s.Relevant = set.Qrels[q][id] > 0
		}
		out = append(out, s)
	}
	return out
}

func docScores(hits []kefu.Hit) []kefu.Scored {
	seen := map[string]bool{}
	var out []kefu.Scored
	for _, h := range hits {
		if !seen[h.Chunk.DocID] {
			seen[h.Chunk.DocID] = true
			out = append(out, kefu.Scored{ChunkID: h.Chunk.DocID, Score: h.Score})
		}
	}
	return out
}

func chunkScores(hits []kefu.Hit) []kefu.Scored {
	out := make([]kefu.Scored, len(hits))
	for i, h := range hits {
		out[i] = kefu.Scored{ChunkID: h.Chunk.ID, Score: h.Score}
	}
	return out
}

func chunkRanking(hits []kefu.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Chunk.ID
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// SamplesFor searches every query of set on kb and returns the confidence
// features of each with whether its hybrid top hit is relevant: the data a
// calibration is fitted on.
func SamplesFor(ctx context.Context, r *Retriever, kb *kefu.KB, set *LabelledSet) ([]Sample, error) {
	ev := &Evaluator{Retriever: r}
	cands, err := ev.collect(ctx, kb, set, EvalOptions{Workers: 2}, "calibration queries")
	if err != nil {
		return nil, err
	}
	return ev.samples(kb, cands, set), nil
}
