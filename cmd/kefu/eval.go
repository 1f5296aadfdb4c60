package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kefu-dev/kefu"
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
	calibrate := fs.Bool("calibrate", false, "fit the confidence on the train split and store it with the KB")
	kbName := fs.String("kb", "", "evaluate this existing KB on --questions")
	questions := fs.String("questions", "", `JSONL of {"question", "doc_ids" | "chunk_ids"} labelled on --kb`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu eval --dataset DIR [--split test] [--mode all] [--tune] [--calibrate] [--out DIR] [--json]\n       kefu eval --kb NAME --questions FILE [--tune] [--calibrate] [--out DIR] [--json]")
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if (*dataset == "") == (*kbName == "" || *questions == "") {
		fs.Usage()
		return errUsage
	}
	modes, err := parseModes(*mode)
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
	opts := retrieve.EvalOptions{Modes: modes, Tune: *tune, Calibrate: *calibrate, Progress: progress}

	var (
		rep         *retrieve.Report
		test, train *retrieve.LabelledSet
		kb          string
	)
	if *dataset != "" {
		e, err := a.embedder(ctx, "")
		if err != nil {
			return err
		}
		d, err := retrieve.LoadDataset(*dataset, *split)
		if err != nil {
			return err
		}
		test = retrieve.SetOf(d)
		if (*tune || *calibrate) && retrieve.HasSplit(*dataset, *trainSplit) {
			td, err := retrieve.LoadDataset(*dataset, *trainSplit)
			if err != nil {
				return err
			}
			train = retrieve.SetOf(td)
		}
		if kb, err = a.evalKB(ctx, *dataset, d, e, *asJSON); err != nil {
			return err
		}
		ev := &retrieve.Evaluator{Retriever: a.retriever(e), KBs: a.store}
		if rep, err = ev.Run(ctx, kb, test, train, opts); err != nil {
			return err
		}
	} else {
		kb = *kbName
		e, err := a.embedder(ctx, kb)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(*questions)
		if err != nil {
			return kefu.Errorf(kefu.ENOTFOUND, "questions: %v", err)
		}
		faqs, err := a.faqIndex(ctx, kb)
		if err != nil {
			return err
		}
		all, err := parseQuestions(filepath.Base(*questions), data, faqs)
		if err != nil {
			return err
		}
		test = all
		if *tune || *calibrate {
			train, test = splitQuestions(all)
		}
		ev := &retrieve.Evaluator{Retriever: a.retriever(e), KBs: a.store}
		if rep, err = ev.Run(ctx, kb, test, train, opts); err != nil {
			return err
		}
	}
	if *k > 0 {
		addCutoff(rep, test, *k)
	}
	// The KB keeps its latest report, which the console shows.
	if err := rep.WriteDir(filepath.Join(a.store.Dir(), "kbs", kb, "eval")); err != nil {
		return err
	}
	if *out != "" {
		if err := rep.WriteDir(*out); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "report written to %s (open %s)\n", *out, filepath.Join(*out, "report.html"))
		}
	}
	if *asJSON {
		return printJSON(rep)
	}
	fmt.Print(rep.Markdown())
	fmt.Printf("\nknowledge base: %s\n", kb)
	return nil
}

func parseModes(s string) ([]kefu.SearchMode, error) {
	switch s {
	case "all", "":
		return []kefu.SearchMode{kefu.ModeKeyword, kefu.ModeVector, kefu.ModeHybrid}, nil
	case "bm25", "dense", "hybrid":
		return []kefu.SearchMode{kefu.SearchMode(s)}, nil
	}
	return nil, kefu.Errorf(kefu.EINVALID, "mode %q: use bm25, dense, hybrid or all", s)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// evalKB returns the throw-away KB holding a dataset's corpus, ingesting it
// on first use. Its name carries a hash of the corpus bytes, the model and
// the chunking, so a second run with the same inputs reuses it.
func (a *app) evalKB(ctx context.Context, dir string, d *retrieve.Dataset, e kefu.Embedder, quiet bool) (string, error) {
	f, err := os.Open(filepath.Join(dir, "corpus.jsonl"))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", err
	}
	set := kefu.DefaultSettings()
	fmt.Fprintf(h, "\x00%s\x00%d/%d", e.ModelID(), set.Chunking.MaxTokens, set.Chunking.OverlapTokens)
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(d.Name), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	name := "eval-" + base + "-" + hex.EncodeToString(h.Sum(nil))[:10]

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
	ups := make([]kefu.Upload, len(d.Corpus))
	for i, doc := range d.Corpus {
		rec, _ := json.Marshal(map[string]string{"title": doc.Title, "text": doc.Text})
		ups[i] = kefu.Upload{Name: doc.ID + ".json", DocID: doc.ID, Size: int64(len(rec)), Open: readerOf(rec)}
	}
	out := os.Stderr
	if quiet {
		out = nil
	}
	job, err := ingestWithProgress(ctx, a.ingester(e), name, ups, out)
	if err != nil {
		return "", err
	}
	if len(job.Failed) > 0 {
		return "", kefu.Errorf(kefu.EINVALID, "%d corpus documents failed to ingest, first: %s: %s", len(job.Failed), job.Failed[0].Source, job.Failed[0].Reason)
	}
	if !quiet {
		printJobSummary(os.Stderr, job)
	}
	return name, a.store.Flush()
}

func readerOf(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// parseQuestions reads a team's labelled questions: one JSON object a line
// with "question" and what answers it: "doc_ids", "chunk_ids", or
// "faq_questions" (FAQ entries named by one of their phrasings, resolved
// through faqs to chunk ids); "none": true marks a question the KB cannot
// answer, which counts for calibration (its top hit is wrong) but not for
// the retrieval metrics.
func parseQuestions(name string, data []byte, faqs map[string]string) (*retrieve.LabelledSet, error) {
	set := &retrieve.LabelledSet{Name: name, Split: "all", Queries: map[string]string{}, Qrels: retrieve.Qrels{}}
	byDoc, byChunk := 0, 0
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var q struct {
			ID       string   `json:"id"`
			Question string   `json:"question"`
			DocIDs   []string `json:"doc_ids"`
			ChunkIDs []string `json:"chunk_ids"`
			FAQs     []string `json:"faq_questions"`
			None     bool     `json:"none"`
		}
		if err := json.Unmarshal([]byte(line), &q); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: %v", name, n+1, err)
		}
		for _, f := range q.FAQs {
			id, ok := faqs[strings.TrimSpace(f)]
			if !ok {
				return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: no FAQ entry asks %q", name, n+1, f)
			}
			q.ChunkIDs = append(q.ChunkIDs, id)
		}
		if q.Question == "" || (len(q.DocIDs)+len(q.ChunkIDs) == 0) == !q.None {
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: needs a question and either doc_ids, chunk_ids or faq_questions, or \"none\": true", name, n+1)
		}
		if q.ID == "" {
			q.ID = fmt.Sprintf("q%d", n+1)
		}
		ids := q.DocIDs
		switch {
		case len(q.ChunkIDs) > 0:
			ids = q.ChunkIDs
			byChunk++
		case len(q.DocIDs) > 0:
			byDoc++
		}
		set.Queries[q.ID] = q.Question
		set.Qrels[q.ID] = map[string]int{}
		for _, id := range ids {
			set.Qrels[q.ID][id] = 1
		}
	}
	if byDoc > 0 && byChunk > 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: label every question by doc_ids or every one by chunks (chunk_ids, faq_questions), not a mix", name)
	}
	if len(set.Qrels) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: no questions", name)
	}
	set.ByChunk = byDoc == 0
	return set, nil
}

// faqIndex maps every phrasing of every FAQ entry of kb to its chunk id.
func (a *app) faqIndex(ctx context.Context, kb string) (map[string]string, error) {
	docs, err := a.store.Documents(ctx, kb)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range docs {
		chunks, err := a.store.Chunks(ctx, kb, d.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range chunks {
			for _, q := range c.Questions {
				out[strings.TrimSpace(q)] = c.ID
			}
		}
	}
	return out, nil
}

// splitQuestions splits labelled questions in two halves by a hash of their
// text, so the split is the same on every run: one to fit on, one to report.
func splitQuestions(all *retrieve.LabelledSet) (train, test *retrieve.LabelledSet) {
	mk := func(split string) *retrieve.LabelledSet {
		return &retrieve.LabelledSet{Name: all.Name, Split: split, Queries: map[string]string{}, Qrels: retrieve.Qrels{}, ByChunk: all.ByChunk}
	}
	train, test = mk("train (hash half)"), mk("test (hash half)")
	for id, q := range all.Queries {
		h := fnv.New32a()
		h.Write([]byte(q))
		dst := test
		if h.Sum32()%2 == 0 {
			dst = train
		}
		dst.Queries[id] = q
		dst.Qrels[id] = all.Qrels[id]
	}
	return train, test
}

// addCutoff adds recall@k and ndcg@k to every mode when k is not already
// reported.
func addCutoff(rep *retrieve.Report, set *retrieve.LabelledSet, k int) {
	rk, nk := fmt.Sprintf("recall@%d", k), fmt.Sprintf("ndcg@%d", k)
	for mode, run := range rep.Runs {
		if _, ok := rep.Modes[mode][nk]; ok {
			continue
		}
		r := retrieve.Run{}
		for q, scored := range run {
			for _, s := range scored {
				r[q] = append(r[q], s.ChunkID)
			}
		}
		recall, ndcg := retrieve.AtK(r, set.Qrels, k)
		rep.Modes[mode][rk], rep.Modes[mode][nk] = recall, ndcg
	}
}
