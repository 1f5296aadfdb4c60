// Package demo seeds the demo knowledge bases that `kefu serve --demo`
// (and `kefu-bench http`) start with: shop, a shop FAQ, and help, a
// product's help-center docs, each calibrated from its own content (no
// labelled questions, as any team's KB is), with a first evaluation report
// for the console measured on the dev questions written for them
// (eval.DevQuestions).
//
// It is wiring, like cmd: it drives the stages (ingest through the Ingest
// hook, retrieve, eval, models) and is imported only by commands.
package demo

import (
	"context"
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
	// Answerer answers the dev questions of the first report; nil: the
	// report has no answer-level section.
	Answerer kefu.Answerer
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

// calibrate fits a demo KB's confidence from its own content and stores a
// first report, measured on its dev questions, which the fit never saw.
func (s *Seeder) calibrate(ctx context.Context, kbName string) error {
	c := &retrieve.Calibrator{Retriever: s.Retriever, Store: s.Store}
	cal, err := c.Calibrate(ctx, kbName, true)
	if err != nil {
		return err
	}
	s.say("kefu: %q calibrated itself from its content in %s (held-out precision %.2f at %.2f, coverage %.2f)\n",
		kbName, cal.Took, cal.Precision, cal.Threshold, cal.Coverage)
	name, data, ok := eval.DevQuestions(kbName)
	if !ok {
		return nil
	}
	faqs, err := eval.FAQIndex(ctx, s.Store, kbName)
	if err != nil {
		return err
	}
	set, err := eval.ParseQuestions(name, data, faqs)
	if err != nil {
		return err
	}
	ev := &eval.Evaluator{Retriever: s.Retriever, KBs: s.Store, Content: s.Store}
	rep, err := ev.Run(ctx, kbName, set, nil, eval.Options{})
	if err != nil {
		return err
	}
	if s.Answerer != nil {
		aev := &eval.AnswerEvaluator{Answerer: s.Answerer, Content: s.Store}
		if rep.Answers, err = aev.Run(ctx, kbName, set); err != nil {
			return err
		}
	}
	rep.Notes = append(rep.Notes, "Measured when the demo was set up, on the dev questions written for this KB, which its self-calibration never saw: `kefu eval --kb "+kbName+" --questions eval/"+name+" --answers` measures it again.")
	files, err := rep.Files()
	if err != nil {
		return err
	}
	return s.Store.PutReport(ctx, kbName, files)
}
