package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/eval"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/bench/synth"
	"github.com/kefu-dev/kefu/internal/shared"
)

// sharedDir returns the shared folder that holds the benchmarks' data.
func sharedDir() (string, error) {
	if d := shared.Dir(); d != "" {
		return d, nil
	}
	return "", kefu.Errorf(kefu.ENOTFOUND, "benchmark data: ../shared not found (set %s)", shared.Env)
}

// dataset loads a split of a shared BEIR dataset.
func dataset(name, split string) (*eval.Dataset, error) {
	dir, err := sharedDir()
	if err != nil {
		return nil, err
	}
	d, err := eval.LoadDataset(filepath.Join(dir, "data", "eval", name), split)
	if err != nil {
		return nil, fmt.Errorf("benchmark data: %w (is ../shared beside the checkout, or %s set?)", err, shared.Env)
	}
	return d, nil
}

// Texts takes n texts from the demo docs and the SciFact abstracts, with
// lengths in tok's tokens spread evenly on a log scale from minTok to
// maxTok (synth.MixedLengthTexts): the mix of short questions, FAQ entries
// and full chunks an ingest and a query stream bring.
func Texts(ctx context.Context, tok kefu.TokenCounter, minTok, maxTok, n int) ([]string, error) {
	dir, err := sharedDir()
	if err != nil {
		return nil, err
	}
	var docs []string
	add := func(name string, data []byte) {
		parsed, err := ingest.Parse(ctx, name, data, ingest.DefaultLimits())
		if err != nil {
			return
		}
		for _, d := range parsed {
			var b strings.Builder
			for _, blk := range d.Blocks {
				b.WriteString(blk.Text)
				b.WriteString("\n")
			}
			for _, f := range d.FAQs {
				b.WriteString(strings.Join(f.Questions, " ") + " " + f.Answer + "\n")
			}
			docs = append(docs, b.String())
		}
	}
	ups, _ := ingest.Walk(filepath.Join(dir, "data", "demo"))
	for _, u := range ups {
		rc, err := u.Open()
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, 8<<20))
		rc.Close()
		if err == nil {
			add(u.Name, data)
		}
	}
	corpus, err := os.ReadFile(filepath.Join(dir, "data", "eval", "scifact", "corpus.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(corpus) > 2<<20 {
		corpus = corpus[:2<<20]
		if i := bytes.LastIndexByte(corpus, '\n'); i > 0 {
			corpus = corpus[:i+1]
		}
	}
	add("scifact.jsonl", corpus)
	// Shuffle the two sources together so both contribute to every length.
	rng := rand.New(rand.NewPCG(42, 1))
	rng.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	texts := synth.MixedLengthTexts(tok, docs, n, min(max(minTok, 1), maxTok), maxTok)
	if len(texts) < n {
		return nil, kefu.Errorf(kefu.EINVALID, "bench: only %d texts of the lengths wanted", len(texts))
	}
	return texts, nil
}

// faqQuestions reads the questions of an FAQ CSV (first column).
func faqQuestions(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var qs []string
	for _, r := range recs[1:] {
		qs = append(qs, r[0])
	}
	return qs, nil
}
