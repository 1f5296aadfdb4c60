package demo

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

// Labelled questions for the demo knowledge bases, written for them as a
// support team would label its own traffic: paraphrases of what the KB
// answers, with the FAQ entries or documents that answer them, and
// questions it cannot answer. The demo fits each KB's confidence on them,
// the way `kefu eval --kb NAME --questions FILE --calibrate` does for a
// team's own KB.
var (
	//go:embed demo/shop_questions.jsonl
	shopQuestions []byte
	//go:embed demo/help_questions.jsonl
	helpQuestions []byte
)

var demoQuestions = map[string][]byte{"shop": shopQuestions, "help": helpQuestions}

// seedDemo creates and fills the demo knowledge bases on first start: shop
// (the shop FAQ, calibrated on shopQuestions) and help (the help-center
// docs). A KB left empty by an interrupted start is filled again.
func (a *app) seedDemo(ctx context.Context, dir string, e kefu.Embedder) error {
	for _, d := range []struct{ kb, path string }{{"shop", "shop_faq.csv"}, {"help", "help"}} {
		if st, err := a.store.Stats(ctx, d.kb); err == nil && st.Documents > 0 {
			continue
		}
		path := filepath.Join(dir, d.path)
		if _, err := os.Stat(path); err != nil {
			return kefu.Errorf(kefu.ENOTFOUND, "demo data %s: %v", path, err)
		}
		if _, err := a.ensureKB(ctx, d.kb, e, os.Stderr); err != nil {
			return err
		}
		ups, _, err := collectUploads([]string{path})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "kefu: ingesting demo knowledge base %q from %s\n", d.kb, path)
		job, err := ingestWithProgress(ctx, a.ingester(e), d.kb, ups, os.Stderr)
		if err != nil {
			return err
		}
		printJobSummary(os.Stderr, job)
		if err := a.calibrateDemo(ctx, d.kb, e, os.Stderr); err != nil {
			return err
		}
	}
	return nil
}

// calibrateDemo fits a demo KB's confidence on its labelled questions.
func (a *app) calibrateDemo(ctx context.Context, kbName string, e kefu.Embedder, out io.Writer) error {
	faqs, err := a.faqIndex(ctx, kbName)
	if err != nil {
		return err
	}
	name := "demo/" + kbName + "_questions.jsonl"
	set, err := parseQuestions(name, demoQuestions[kbName], faqs)
	if err != nil {
		return err
	}
	kb, err := a.store.KB(ctx, kbName)
	if err != nil {
		return err
	}
	samples, err := retrieve.SamplesFor(ctx, a.retriever(e), kb, set)
	if err != nil {
		return err
	}
	cal, err := retrieve.FitLogistic(samples, nil, 1.0)
	if err != nil {
		return err
	}
	cal.Model, cal.FittedOn = kb.Model, fmt.Sprintf("%s, %d labelled questions", name, len(samples))
	kb.Settings.Calibration = cal
	if err := a.store.UpdateKB(ctx, kb); err != nil {
		return err
	}
	if out != nil {
		fmt.Fprintf(out, "kefu: calibrated %q on %d labelled demo questions\n", kbName, len(samples))
	}
	// A first report for the console: the KB measured on the same questions
	// (the calibration's fit, not a held-out test; `kefu eval --kb NAME
	// --questions FILE --calibrate` measures on a held-out half).
	ev := &retrieve.Evaluator{Retriever: a.retriever(e), KBs: a.store}
	rep, err := ev.Run(ctx, kbName, set, nil, retrieve.EvalOptions{})
	if err != nil {
		return err
	}
	rep.Notes = append(rep.Notes, "Measured on the labelled questions the confidence was fitted on, when the demo was set up: run `kefu eval --kb "+kbName+" --questions FILE --calibrate` for a held-out measurement.")
	return rep.WriteDir(filepath.Join(a.store.Dir(), "kbs", kbName, "eval"))
}
