package main

import (
	"context"
	"hash/fnv"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/eval"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// hashEmbedder is test equipment: a bag of hashed words and Han
// characters projected on 64 dimensions, standing in for the model so that
// two datasets index in seconds. It proves nothing about embedding quality;
// it gives both stores the same vectors, so their dense rankings must agree.
type hashEmbedder struct{}

const hashDim = 64

func (hashEmbedder) CountTokens(text string) int { return len(strings.Fields(text)) + countHan(text) }
func (hashEmbedder) Model() kefu.ModelSpec {
	return kefu.ModelSpec{Name: "hash-test", Dim: hashDim, MaxTokens: 512, Languages: []string{"en", "zh"}}
}
func (hashEmbedder) ModelID() kefu.ModelID { return "hash-test@000000000000" }
func (hashEmbedder) Close() error          { return nil }
func (e hashEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return e.EmbedPassages(ctx, texts)
}
func (hashEmbedder) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, hashDim)
		tokens := strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) || unicode.Is(unicode.Han, r) })
		for _, r := range t {
			if unicode.Is(unicode.Han, r) {
				tokens = append(tokens, string(r))
			}
		}
		for _, tok := range tokens {
			h := fnv.New64a()
			h.Write([]byte(tok))
			x := h.Sum64()
			for j := 0; j < 3; j++ {
				d := x % hashDim
				if x>>32&1 == 0 {
					v[d]++
				} else {
					v[d]--
				}
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if n == 0 {
			v[0], n = 1, 1
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n))
		}
		out[i] = v
	}
	return out, nil
}

func countHan(s string) int {
	n := 0
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			n++
		}
	}
	return n
}

// What `kefu eval --dataset … --store qdrant://…` runs (corpusKB, then the
// evaluator over the app's retriever) gives the nDCG@10 of the embedded
// store within 0.005 on SciFact and afqmc_faq_zh, in every mode: the same
// analysis, BM25F weights, fusion and document ranking run on Qdrant's
// results.
func TestEvalStoreQdrantMatchesEmbedded(t *testing.T) {
	t.Setenv("KEFU_SHARED", testenv.SharedDir())
	srv, err := qdranttest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	for _, ds := range []string{"scifact", "afqmc_faq_zh"} {
		d, err := eval.LoadDataset(filepath.Join(testenv.SharedDir(), "data", "eval", ds), "test")
		if err != nil {
			t.Fatal(err)
		}
		run := func(store string) map[string]map[string]float64 {
			start := time.Now()
			a, err := newApp(common{dataDir: t.TempDir(), store: store, logLevel: "error"})
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			e := hashEmbedder{}
			kb, err := a.corpusKB(ctx, d, e, true)
			if err != nil {
				t.Fatalf("%s %s: %v", ds, store, err)
			}
			indexed := time.Since(start)
			ev := &eval.Evaluator{Retriever: a.retriever(e), KBs: a.store}
			rep, err := ev.Run(ctx, kb, eval.SetOf(d), nil, eval.Options{Modes: eval.AllModes()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s, store %q: bm25 %.4f dense %.4f hybrid %.4f (indexed in %.1f s, evaluated in %.1f s)", ds, store,
				rep.Modes["bm25"]["ndcg@10"], rep.Modes["dense"]["ndcg@10"], rep.Modes["hybrid"]["ndcg@10"], indexed.Seconds(), (time.Since(start) - indexed).Seconds())
			return rep.Modes
		}
		want, got := run(""), run(srv.URL()+"?prefix="+ds)
		for _, mode := range []string{"bm25", "dense", "hybrid"} {
			w, g := want[mode]["ndcg@10"], got[mode]["ndcg@10"]
			if w == 0 {
				t.Fatalf("%s %s: no nDCG@10 in %v", ds, mode, want)
			}
			if math.Abs(g-w) > 0.005 {
				t.Errorf("%s %s: nDCG@10 %.4f through Qdrant, %.4f embedded", ds, mode, g, w)
			}
		}
	}
}
