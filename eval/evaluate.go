package eval

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

// KBStore reads and updates KB settings; evaluation stores tuned fusion and
// fitted calibration with it.
type KBStore interface {
	kefu.KBReader
	UpdateKB(ctx context.Context, kb *kefu.KB) error
}

// Options say what one evaluation run does.
type Options struct {
	Modes     []kefu.SearchMode // default: all three
	Tune      bool              // choose fusion on Train and store it
	Calibrate bool              // fit the confidence on Train and store it
	MixSelf   bool              // with Calibrate: fit on Train and the KB's self-calibration questions together
	Threshold float64           // default 0.85
	Workers   int               // queries searched in parallel (default 2)
	Progress  func(stage string, done, total int)
}

// SetOf returns a dataset's queries and judgements.
func SetOf(d *Dataset) *kefu.LabelledSet {
	return &kefu.LabelledSet{Name: d.Name, Split: d.Split, Queries: d.Queries, Qrels: d.Qrels}
}

// Evaluator measures retrieval of a KB on labelled queries.
type Evaluator struct {
	Retriever *retrieve.Retriever
	KBs       KBStore
	// Content lists the KB's content, which Options.MixSelf needs.
	Content retrieve.ContentReader
}

// evalDepth is the ranking depth every metric is computed from
// (recall@100). Calibration samples are asked as the answerer asks
// (retrieve.Retriever.Samples), not taken from these deeper lists.
const evalDepth = 100

// Run evaluates kb on test, after tuning and calibrating on train when asked
// (train may be nil: then nothing is fitted and the report says so).
func (ev *Evaluator) Run(ctx context.Context, kbName string, test, train *kefu.LabelledSet, opts Options) (*Report, error) {
	if len(opts.Modes) == 0 {
		opts.Modes = AllModes()
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
		views := ev.views(trainC, train, kefu.ModeHybrid)
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
		samples, err := ev.Retriever.Samples(ctx, kb, train, retrieve.CollectOptions{Stage: "train queries", Progress: opts.Progress})
		if err != nil {
			return nil, err
		}
		var cal *kefu.Calibration
		if opts.MixSelf {
			if ev.Content == nil {
				return nil, kefu.Errorf(kefu.EINVALID, "mixing in self-calibration needs the KB's content")
			}
			if cal, err = ev.Retriever.SelfCalibrate(ctx, kb, ev.Content, retrieve.SelfCalOptions{Labelled: samples, Threshold: opts.Threshold}); err != nil {
				return nil, err
			}
			cal.FittedOn = fmt.Sprintf("%s %s, %d labelled queries, mixed with %s", train.Name, train.Split, len(samples), cal.FittedOn)
		} else {
			if cal, err = retrieve.FitLogistic(samples, nil, 1.0); err != nil {
				return nil, err
			}
			cal.Model = kb.Model
			cal.Source = kefu.CalibrationLabelled
			cal.FittedOn = fmt.Sprintf("%s %s, %d queries", train.Name, train.Split, len(samples))
		}
		kb.Settings.Calibration = cal
		source = "fitted on " + cal.FittedOn
	}

	for _, mode := range opts.Modes {
		views := ev.views(testC, test, mode)
		f := kb.Settings.Fusion
		scored := ScoredRun{}
		run := Run{}
		tops := map[string]*kefu.Chunk{}
		for q, c := range views {
			hits := retrieve.Fuse(c, f, evalDepth)
			if len(hits) > 0 {
				tops[q] = hits[0].Chunk
			}
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
				if c := tops[q]; c != nil {
					row.TopTitle = ChunkLabel(c)
				}
				rep.PerQuery = append(rep.PerQuery, row)
			}
		}
	}

	// Calibration is measured on the hybrid ranking the answerer sees.
	samples, err := ev.Retriever.Samples(ctx, kb, test, retrieve.CollectOptions{Stage: "test queries", Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	conf := make([]float64, len(samples))
	rel := make([]bool, len(samples))
	confOf := map[string]float64{}
	for i, q := range slices.Sorted(maps.Keys(test.Qrels)) {
		conf[i] = retrieve.Confidence(samples[i].Features, kb.Settings.Calibration)
		rel[i] = samples[i].Relevant
		confOf[q] = conf[i]
	}
	cr := retrieve.Reliability(conf, rel, opts.Threshold)
	cr.Source = source
	rep.Calibration = &cr
	if kb.Settings.Calibration != nil && opts.Calibrate && trainC != nil {
		c := kb.Settings.Calibration
		c.ECE, c.Precision, c.Coverage, c.Threshold = cr.ECE, cr.Precision, cr.Coverage, cr.Threshold
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
func (ev *Evaluator) collect(ctx context.Context, kb *kefu.KB, set *kefu.LabelledSet, opts Options, stage string) (map[string]*kefu.Candidates, error) {
	return ev.Retriever.Collect(ctx, kb, set, evalDepth, retrieve.CollectOptions{Workers: opts.Workers, Stage: stage, Progress: opts.Progress})
}

// views restricts each query's candidates to what a mode sees.
func (ev *Evaluator) views(cands map[string]*kefu.Candidates, set *kefu.LabelledSet, mode kefu.SearchMode) map[string]*kefu.Candidates {
	out := make(map[string]*kefu.Candidates, len(cands))
	for q, c := range cands {
		out[q] = ev.Retriever.View(c, set.Queries[q], mode)
	}
	return out
}

// run fuses hybrid views with f into a run at the set's level.
func (ev *Evaluator) run(cands map[string]*kefu.Candidates, set *kefu.LabelledSet, f kefu.Fusion) Run {
	return FusedRun(ev.views(cands, set, kefu.ModeHybrid), f, evalDepth, set.ByChunk)
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

// AllModes are the modes evaluated by default, in report order.
func AllModes() []kefu.SearchMode {
	return []kefu.SearchMode{kefu.ModeBM25, kefu.ModeDense, kefu.ModeHybrid}
}

// ParseModes reads --mode: bm25, dense, hybrid, or all (also "").
func ParseModes(s string) ([]kefu.SearchMode, error) {
	switch s {
	case "all", "":
		return AllModes(), nil
	case string(kefu.ModeBM25), string(kefu.ModeDense), string(kefu.ModeHybrid):
		return []kefu.SearchMode{kefu.SearchMode(s)}, nil
	}
	return nil, kefu.Errorf(kefu.EINVALID, "mode %q: use bm25, dense, hybrid or all", s)
}
