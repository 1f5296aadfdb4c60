package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/eval"
	"github.com/kefu-dev/kefu/retrieve"
)

// kbEval evaluates an existing KB as `kefu eval --kb` asks, and as the
// server's POST /v1/kbs/{kb}/eval does (it is the server's
// kefu.EvalRunner): self-calibration first when asked, then the labelled
// questions, whose report replaces the KB's latest.
type kbEval struct {
	a     *app
	r     *retrieve.Retriever
	modes []kefu.SearchMode
	k     int // also report recall@k and ndcg@k
	// onSelf is told of a self-calibration done (the CLI prints it).
	onSelf func(kb string, cal *kefu.Calibration)
}

// Evaluate runs req on kb; the result says in a sentence what was measured
// and stored.
func (e *kbEval) Evaluate(ctx context.Context, kb string, req kefu.EvalRequest, progress func(stage string, done, total int)) (string, error) {
	_, result, err := e.run(ctx, kb, req, progress)
	return result, err
}

// run is Evaluate returning the report too (nil when no questions were
// given).
func (e *kbEval) run(ctx context.Context, kb string, req kefu.EvalRequest, progress func(stage string, done, total int)) (*eval.Report, string, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	if _, err := e.a.store.KB(ctx, kb); err != nil {
		return nil, "", err
	}
	var said []string
	if req.SelfCalibrate {
		progress("self-calibration", 0, 0)
		c := &retrieve.Calibrator{Retriever: e.r, Store: e.a.store,
			Options: retrieve.SelfCalOptions{Progress: func(done, total int) { progress("self-calibration", done, total) }}}
		cal, err := c.Calibrate(ctx, kb, true)
		if err != nil {
			return nil, "", err
		}
		if e.onSelf != nil {
			e.onSelf(kb, cal)
		}
		said = append(said, fmt.Sprintf("self-calibrated in %s: %s", cal.Took, cal.Summary()))
	}
	if len(req.Questions) == 0 {
		return nil, strings.Join(said, "; "), nil
	}
	faqs, err := eval.FAQIndex(ctx, e.a.store, kb)
	if err != nil {
		return nil, "", err
	}
	test, err := eval.ParseQuestions(req.QuestionsName, req.Questions, faqs)
	if err != nil {
		return nil, "", err
	}
	var train *kefu.LabelledSet
	if req.Tune || req.Calibrate {
		train, test = eval.SplitQuestions(test)
	}
	opts := eval.Options{Modes: e.modes, Tune: req.Tune, Calibrate: req.Calibrate, MixSelf: req.MixSelf, Progress: progress}
	ev := &eval.Evaluator{Retriever: e.r, KBs: e.a.store, Content: e.a.store}
	rep, err := ev.Run(ctx, kb, test, train, opts)
	if err != nil {
		return nil, "", err
	}
	if req.Answers {
		ans, err := e.a.answerer(e.r, answer.Options{CacheSize: -1, Turns: -1, AnswerLog: noAnswerLog{}})
		if err != nil {
			return nil, "", err
		}
		aev := &eval.AnswerEvaluator{Answerer: ans, Content: e.a.store, Progress: func(done, total int) { progress("answers", done, total) }}
		if rep.Answers, err = aev.Run(ctx, kb, test); err != nil {
			return nil, "", err
		}
	}
	if e.k > 0 {
		rep.AddCutoff(test, e.k)
	}
	// The KB keeps its latest report, which the console shows.
	files, err := rep.Files()
	if err != nil {
		return nil, "", err
	}
	if err := e.a.store.PutReport(ctx, kb, files); err != nil {
		return nil, "", err
	}
	s := fmt.Sprintf("evaluated on %d labelled questions of %s", rep.Queries, req.QuestionsName)
	if m, ok := rep.Modes[string(kefu.ModeHybrid)]; ok {
		s += fmt.Sprintf(" (hybrid nDCG@10 %.3f)", m[eval.MetricNDCG10])
	}
	if req.Tune {
		s += "; fusion tuned"
	}
	if req.Calibrate {
		s += "; confidence fitted"
	}
	return rep, strings.Join(append(said, s+"; report stored"), "; "), nil
}
