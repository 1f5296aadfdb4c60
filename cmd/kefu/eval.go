package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/eval"
	"github.com/kefu-dev/kefu/retrieve"
)

func runEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	var c common
	c.register(fs)
	dataset := fs.String("dataset", "", "dataset folder in BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
	split := fs.String("split", "test", "split to evaluate")
	trainSplit := fs.String("train-split", "train", "split --tune and --calibrate fit on")
	mode := fs.String("mode", "all", "bm25, dense, hybrid or all")
	k := fs.Int("k", 10, "also report recall@k and ndcg@k for this k")
	out := fs.String("out", "", "write summary.md, summary.json, TREC runs, per_query.tsv and report.html here")
	asJSON := fs.Bool("json", false, "print one JSON object")
	tune := fs.Bool("tune", false, "choose the fusion on the train split and store it with the KB")
	calibrate := fs.Bool("calibrate", false, "fit the confidence on the train split (or half the labelled questions) and store it with the KB")
	mixSelf := fs.Bool("mix-self", false, "with --calibrate: fit on the labelled questions and the KB's self-calibration questions together")
	selfCalibrate := fs.Bool("self-calibrate", false, "fit the KB's confidence from its own content (no labels) first, and store it")
	answers := fs.Bool("answers", false, "with --kb: also ask every question as a customer would (no LLM) and report the answers per language and kind")
	kbName := fs.String("kb", "", "evaluate this existing KB on --questions")
	questions := fs.String("questions", "", `JSONL of labelled questions on --kb: {"question", "faq_questions" | "doc_ids" | "chunk_ids" | "none": true | "handoff": true, "lang"?, "kind"?}`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu eval --dataset DIR [--split test] [--mode all] [--tune] [--calibrate | --self-calibrate] [--out DIR] [--json]\n       kefu eval --kb NAME --questions FILE [--answers] [--tune] [--calibrate [--mix-self] | --self-calibrate] [--out DIR] [--json]")
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if (*dataset == "") == (*kbName == "" || *questions == "") {
		fs.Usage()
		return errUsage
	}
	if *selfCalibrate && *calibrate {
		return kefu.Errorf(kefu.EINVALID, "--self-calibrate and --calibrate fit the same thing two ways: give one (or --calibrate --mix-self for both together)")
	}
	if *answers && *kbName == "" {
		return kefu.Errorf(kefu.EINVALID, "--answers needs --kb NAME and --questions FILE")
	}
	modes, err := eval.ParseModes(*mode)
	if err != nil {
		return err
	}
	a, err := newApp(c)
	if err != nil {
		return err
	}
	defer a.close()
	progress := func(stage string, done, total int) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\r%s: %d/%d   ", stage, done, total)
			if done == total {
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	opts := eval.Options{Modes: modes, Tune: *tune, Calibrate: *calibrate, MixSelf: *mixSelf, Progress: progress}

	var (
		test, train *kefu.LabelledSet
		kb          string
		e           kefu.Embedder
	)
	if *dataset != "" {
		if e, err = a.embedder(ctx, ""); err != nil {
			return err
		}
		d, err := eval.LoadDataset(*dataset, *split)
		if err != nil {
			return err
		}
		test = eval.SetOf(d)
		if (*tune || *calibrate) && eval.HasSplit(*dataset, *trainSplit) {
			td, err := eval.LoadDataset(*dataset, *trainSplit)
			if err != nil {
				return err
			}
			train = eval.SetOf(td)
		}
		if kb, err = a.corpusKB(ctx, d, e, *asJSON); err != nil {
			return err
		}
	} else {
		kb = *kbName
		if e, err = a.embedder(ctx, kb); err != nil {
			return err
		}
		data, err := os.ReadFile(*questions)
		if err != nil {
			return kefu.Errorf(kefu.ENOTFOUND, "questions: %v", err)
		}
		faqs, err := eval.FAQIndex(ctx, a.store, kb)
		if err != nil {
			return err
		}
		if test, err = eval.ParseQuestions(filepath.Base(*questions), data, faqs); err != nil {
			return err
		}
		if *tune || *calibrate {
			train, test = eval.SplitQuestions(test)
		}
	}
	r := a.retriever(e)
	if *selfCalibrate {
		c := &retrieve.Calibrator{Retriever: r, Store: a.store}
		cal, err := c.Calibrate(ctx, kb, true)
		if err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "self-calibrated %s in %s: %s\n", kb, cal.Took, cal.FittedOn)
		}
	}
	ev := &eval.Evaluator{Retriever: r, KBs: a.store, Content: a.store}
	rep, err := ev.Run(ctx, kb, test, train, opts)
	if err != nil {
		return err
	}
	if *answers {
		ans, err := a.answerer(r, answer.Options{CacheSize: -1, Turns: -1, AnswerLog: noAnswerLog{}})
		if err != nil {
			return err
		}
		aev := &eval.AnswerEvaluator{Answerer: ans, Content: a.store, Progress: func(done, total int) { progress("answers", done, total) }}
		if rep.Answers, err = aev.Run(ctx, kb, test); err != nil {
			return err
		}
	}
	if *k > 0 {
		rep.AddCutoff(test, *k)
	}
	// The KB keeps its latest report, which the console shows.
	files, err := rep.Files()
	if err != nil {
		return err
	}
	if err := a.store.PutReport(ctx, kb, files); err != nil {
		return err
	}
	if *out != "" {
		if err := rep.WriteDir(*out); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "report written to %s (open %s)\n", *out, filepath.Join(*out, kefu.ReportHTML))
		}
	}
	if *asJSON {
		return printJSON(rep)
	}
	fmt.Print(rep.Markdown())
	fmt.Printf("\nknowledge base: %s\n", kb)
	return nil
}

// corpusKB returns the throw-away KB holding a dataset's corpus (named by
// eval.CorpusKB), ingesting it on first use; a second run with the same
// corpus, model and chunking reuses it.
func (a *app) corpusKB(ctx context.Context, d *eval.Dataset, e kefu.Embedder, quiet bool) (string, error) {
	set := kefu.DefaultSettings()
	name, err := eval.CorpusKB(d, e.ModelID(), set.Chunking)
	if err != nil {
		return "", err
	}
	if kb, err := a.store.KB(ctx, name); err == nil {
		st, err := a.store.Stats(ctx, name)
		if err == nil && st.Documents == len(d.Corpus) && kb.Model == e.ModelID() {
			if !quiet {
				fmt.Fprintf(os.Stderr, "using cached knowledge base %s (%d documents)\n", name, st.Documents)
			}
			return name, nil
		}
		if err := a.store.DeleteKB(ctx, name); err != nil {
			return "", err
		}
	}
	kb := &kefu.KB{Name: name, Description: "evaluation corpus of " + d.Name, Model: e.ModelID(), Dim: e.Model().Dim, Settings: set}
	if err := a.store.CreateKB(ctx, kb); err != nil {
		return "", err
	}
	out := os.Stderr
	if quiet {
		out = nil
	}
	job, err := ingestWithProgress(ctx, a.ingester(e), name, d.Uploads(), out)
	if err != nil {
		return "", err
	}
	if len(job.Failed) > 0 {
		return "", kefu.Errorf(kefu.EINVALID, "%d corpus documents failed to ingest, first: %s: %s", len(job.Failed), job.Failed[0].Source, job.Failed[0].Reason)
	}
	if !quiet {
		printJobSummary(os.Stderr, job)
	}
	return name, a.local.Flush()
}
