// Package demo seeds the demo knowledge bases that `kefu serve --demo`
// (and `kefu-bench http`) start with: shop, a shop FAQ, and help, a
// product's help-center docs, each calibrated on labelled questions written
// for it, with a first evaluation report for the console.
//
// It is wiring, like cmd: it drives the stages (ingest through the Ingest
// hook, retrieve, eval, models) and is imported only by commands.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/eval"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/models"
	"github.com/kefu-dev/kefu/retrieve"
)

// Labelled questions for the demo knowledge bases, written for them as a
// support team would label its own traffic: paraphrases of what the KB
// answers, with the FAQ entries or documents that answer them, and
// questions it cannot answer. The demo fits each KB's confidence on them,
// the way `kefu eval --kb NAME --questions FILE --calibrate` does for a
// team's own KB.
var (
	//go:embed shop_questions.jsonl
	shopQuestions []byte
	//go:embed help_questions.jsonl
	helpQuestions []byte
)

var questions = map[string][]byte{"shop": shopQuestions, "help": helpQuestions}

// Store is what seeding needs of the store: KBs and a place for reports.
type Store interface {
	kefu.Store
	kefu.ReportStore
}

// Seeder fills the demo knowledge bases.
type Seeder struct {
	Store     Store
	Embedder  kefu.Embedder
	Retriever *retrieve.Retriever
	// Ingest runs an ingest job (the CLI draws a progress bar and prints
	// a summary).
	Ingest func(ctx context.Context, kb string, ups []kefu.Upload) (*kefu.Job, error)
	Out    io.Writer // told what is done; nil: nothing
}

func (s *Seeder) say(format string, args ...any) {
	if s.Out != nil {
		fmt.Fprintf(s.Out, format, args...)
	}
}

// Seed creates and fills, from dir, the demo knowledge bases that are
// missing or empty (a start interrupted mid-ingest left one empty): shop
// from shop_faq.csv and help from help/.
func (s *Seeder) Seed(ctx context.Context, dir string) error {
	for _, d := range []struct{ kb, path string }{{"shop", "shop_faq.csv"}, {"help", "help"}} {
		if st, err := s.Store.Stats(ctx, d.kb); err == nil && st.Documents > 0 {
			continue
		}
		path := filepath.Join(dir, d.path)
		if _, err := os.Stat(path); err != nil {
			return kefu.Errorf(kefu.ENOTFOUND, "demo data %s: %v", path, err)
		}
		if _, err := models.EnsureKB(ctx, s.Store, d.kb, s.Embedder, s.Out); err != nil {
			return err
		}
		ups, _, err := ingest.Uploads([]string{path})
		if err != nil {
			return err
		}
		s.say("kefu: ingesting demo knowledge base %q from %s\n", d.kb, path)
		if _, err := s.Ingest(ctx, d.kb, ups); err != nil {
			return err
		}
		if err := s.calibrate(ctx, d.kb); err != nil {
			return err
		}
	}
	return nil
}

// calibrate fits a demo KB's confidence on its labelled questions and
// stores a first report.
func (s *Seeder) calibrate(ctx context.Context, kbName string) error {
	faqs, err := eval.FAQIndex(ctx, s.Store, kbName)
	if err != nil {
		return err
	}
	name := "demo/" + kbName + "_questions.jsonl"
	set, err := eval.ParseQuestions(name, questions[kbName], faqs)
	if err != nil {
		return err
	}
	kb, err := s.Store.KB(ctx, kbName)
	if err != nil {
		return err
	}
	samples, err := retrieve.SamplesFor(ctx, s.Retriever, kb, set)
	if err != nil {
		return err
	}
	cal, err := retrieve.FitLogistic(samples, nil, 1.0)
	if err != nil {
		return err
	}
	cal.Model, cal.FittedOn = kb.Model, fmt.Sprintf("%s, %d labelled questions", name, len(samples))
	kb.Settings.Calibration = cal
	if err := s.Store.UpdateKB(ctx, kb); err != nil {
		return err
	}
	s.say("kefu: calibrated %q on %d labelled demo questions\n", kbName, len(samples))
	// A first report for the console: the KB measured on the same questions
	// (the calibration's fit, not a held-out test; `kefu eval --kb NAME
	// --questions FILE --calibrate` measures on a held-out half).
	ev := &eval.Evaluator{Retriever: s.Retriever, KBs: s.Store}
	rep, err := ev.Run(ctx, kbName, set, nil, eval.Options{})
	if err != nil {
		return err
	}
	rep.Notes = append(rep.Notes, "Measured on the labelled questions the confidence was fitted on, when the demo was set up: run `kefu eval --kb "+kbName+" --questions FILE --calibrate` for a held-out measurement.")
	files, err := rep.Files()
	if err != nil {
		return err
	}
	return s.Store.PutReport(ctx, kbName, files)
}
