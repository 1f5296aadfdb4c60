package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/eval"
	"github.com/kefu-dev/kefu/retrieve"
)

func runEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	var c common
	c.register(fs)
	var srv remote
	srv.register(fs)
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
	kbName := fs.String("kb", "", "evaluate this existing KB on --questions (and/or --self-calibrate it)")
	questions := fs.String("questions", "", `JSONL of labelled questions on --kb: {"question", "faq_questions" | "doc_ids" | "chunk_ids" | "none": true | "handoff": true, "lang"?, "kind"?}`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu eval --dataset DIR [--split test] [--mode all] [--tune] [--calibrate | --self-calibrate] [--out DIR] [--json]\n       kefu eval --kb NAME --questions FILE [--answers] [--tune] [--calibrate [--mix-self] | --self-calibrate] [--out DIR] [--json]\n       kefu eval --kb NAME --self-calibrate\n       (with --kb, add --server URL to run it in a running kefu serve)")
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *dataset == "" && *kbName == "":
		return missing(fs, "give --dataset DIR (a BEIR dataset) or --kb NAME with --questions FILE and/or --self-calibrate")
	case *dataset != "" && *kbName != "":
		return missing(fs, "give --dataset or --kb, not both")
	case *kbName != "" && *questions == "" && !*selfCalibrate:
		return missing(fs, "--kb needs --questions FILE (labelled questions), or --self-calibrate")
	case *dataset != "" && srv.url != "":
		return missing(fs, "--server runs --kb evaluations; a --dataset is evaluated locally")
	}
	if srv.url != "" {
		var local []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "mode" || f.Name == "k" {
				local = append(local, "--"+f.Name)
			}
		})
		if len(local) > 0 {
			return missing(fs, "%s: the server evaluates every mode with k = 10; leave them out with --server", strings.Join(local, " and "))
		}
	}
	if *selfCalibrate && *calibrate {
		return kefu.Errorf(kefu.EINVALID, "--self-calibrate and --calibrate fit the same thing two ways: give one (or --calibrate --mix-self for both together)")
	}
	if *answers && *kbName == "" {
		return kefu.Errorf(kefu.EINVALID, "--answers needs --kb NAME and --questions FILE")
	}
	if *kbName != "" && *questions == "" && (*tune || *calibrate || *answers || *mixSelf) {
		return kefu.Errorf(kefu.EINVALID, "--tune, --calibrate, --mix-self and --answers need --questions FILE")
	}
	modes, err := eval.ParseModes(*mode)
	if err != nil {
		return err
	}
	progress := func(stage string, done, total int) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\r%s: %d/%d   ", stage, done, total)
			if done == total {
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	var req kefu.EvalRequest
	if *kbName != "" {
		req = kefu.EvalRequest{SelfCalibrate: *selfCalibrate, Calibrate: *calibrate, MixSelf: *mixSelf, Tune: *tune, Answers: *answers}
		if *questions != "" {
			data, err := os.ReadFile(*questions)
			if err != nil {
				return kefu.Errorf(kefu.ENOTFOUND, "questions: %v", err)
			}
			req.Questions, req.QuestionsName = data, filepath.Base(*questions)
		}
		if srv.url != "" {
			return srv.evaluate(ctx, *kbName, req, *out, *asJSON)
		}
	}
	a, err := newApp(c)
	if kefu.ErrorCode(err) == kefu.ECONFLICT && *kbName != "" {
		return srv.lockedHint(err, c.dataDir, strings.Join(append([]string{"eval"}, args...), " "))
	}
	if err != nil {
		return err
	}
	defer a.close()

	if *kbName != "" {
		e, err := a.embedder(ctx, *kbName)
		if err != nil {
			return err
		}
		run := &kbEval{a: a, r: a.retriever(e), modes: modes, k: *k, onSelf: func(kb string, cal *kefu.Calibration) {
			if !*asJSON {
				fmt.Fprintf(os.Stderr, "self-calibrated %s in %s: %s\n", kb, cal.Took, cal.FittedOn)
			}
		}}
		rep, result, err := run.run(ctx, *kbName, req, progress)
		if err != nil {
			return err
		}
		if rep == nil { // self-calibration only
			if *asJSON {
				kb, err := a.store.KB(ctx, *kbName)
				if err != nil {
					return err
				}
				return printJSON(kb.Settings.Calibration)
			}
			fmt.Printf("%s: %s\n", *kbName, result)
			return nil
		}
		return printReport(rep, *kbName, *out, *asJSON)
	}

	e, err := a.embedder(ctx, "")
	if err != nil {
		return err
	}
	d, err := eval.LoadDataset(*dataset, *split)
	if err != nil {
		return err
	}
	test := eval.SetOf(d)
	var train *kefu.LabelledSet
	if (*tune || *calibrate) && eval.HasSplit(*dataset, *trainSplit) {
		td, err := eval.LoadDataset(*dataset, *trainSplit)
		if err != nil {
			return err
		}
		train = eval.SetOf(td)
	}
	kb, err := a.corpusKB(ctx, d, e, *asJSON)
	if err != nil {
		return err
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
	opts := eval.Options{Modes: modes, Tune: *tune, Calibrate: *calibrate, MixSelf: *mixSelf, Progress: progress}
	ev := &eval.Evaluator{Retriever: r, KBs: a.store, Content: a.store}
	rep, err := ev.Run(ctx, kb, test, train, opts)
	if err != nil {
		return err
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
	return printReport(rep, kb, *out, *asJSON)
}

// printReport writes a report's files to out (when given) and prints it:
// Markdown, or JSON.
func printReport(rep *eval.Report, kb, out string, asJSON bool) error {
	if out != "" {
		if err := rep.WriteDir(out); err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(os.Stderr, "report written to %s (open %s)\n", out, filepath.Join(out, kefu.ReportHTML))
		}
	}
	if asJSON {
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
		printJobSummary(os.Stderr, job, ctx.Err() != nil)
	}
	return name, a.local.Flush()
}
