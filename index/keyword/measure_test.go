package keyword

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/go-ego/gse"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/kefu-dev/kefu"
)

// bleveSearch runs bleve's own BM25 on ix: a disjunction of one term query
// per analysed query term and text field, boosted by the field weight.
func bleveSearch(ctx context.Context, ix *Index, text string, k int) ([]kefu.Scored, error) {
	var clauses []query.Query
	for _, qt := range ix.queryTerms(text) {
		for f, name := range textFields {
			if ix.weights[f] <= 0 {
				continue
			}
			tq := bleve.NewTermQuery(qt.term)
			tq.SetField(name)
			tq.SetBoost(ix.weights[f] * qt.qtf)
			clauses = append(clauses, tq)
		}
	}
	if len(clauses) == 0 {
		return nil, nil
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDisjunctionQuery(clauses...), k, 0, false)
	res, err := ix.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]kefu.Scored, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = kefu.Scored{ChunkID: h.ID, Score: h.Score}
	}
	return out, nil
}

func measuring(t *testing.T) {
	if os.Getenv("KEFU_MEASURE") == "" {
		t.Skip("set KEFU_MEASURE=1 to run the measurements behind the defaults")
	}
}

// TestMeasureSciFactScoring measures bleve's BM25 and each of its
// departures from the textbook formula on SciFact test.
func TestMeasureSciFactScoring(t *testing.T) {
	measuring(t)
	ds, ix := scifact(t)
	native := evalFunc(t, func(ctx context.Context, q string, k int) ([]kefu.Scored, error) {
		return bleveSearch(ctx, ix, q, k)
	}, ds, "test")
	t.Logf("bleve native BM25 (title^2 body^1): %.4f", native)
	for _, v := range []struct {
		name string
		sc   scoring
	}{
		{"bleve emulated", bleveScoring},
		{"- coord", scoring{fieldSum: true, sqrtTF: true, cardinalityAvg: true, queryNorm: true, noK1Plus1: true}},
		{"- coord - queryNorm", scoring{fieldSum: true, sqrtTF: true, cardinalityAvg: true, noK1Plus1: true}},
		{"- coord - queryNorm - sqrtTF", scoring{fieldSum: true, cardinalityAvg: true, noK1Plus1: true}},
		{"- ... - cardinalityAvg (textbook per-field sum)", scoring{fieldSum: true}},
		{"BM25F (product)", scoring{}},
		{"BM25F + sqrtTF", scoring{sqrtTF: true}},
		{"BM25F + cardinalityAvg", scoring{cardinalityAvg: true}},
	} {
		got := evalNDCG(t, ix.with(Options{scoring: v.sc}), ds, "test")
		t.Logf("%-50s %.4f", v.name, got)
	}
}

// TestMeasureSciFactParams measures field weights, k1 and b on SciFact.
func TestMeasureSciFactParams(t *testing.T) {
	measuring(t)
	ds, ix := scifact(t)
	split := "train"
	if s := os.Getenv("KEFU_MEASURE_SPLIT"); s != "" {
		split = s
	}
	t.Logf("split %s", split)
	for _, w := range []float64{0.5, 1, 1.5, 2, 3, 4} {
		bf := evalNDCG(t, ix.with(Options{Boosts: Boosts{Title: w, Body: 1}}), ds, split)
		fs := evalNDCG(t, ix.with(Options{Boosts: Boosts{Title: w, Body: 1}, scoring: scoring{fieldSum: true}}), ds, split)
		t.Logf("title weight %.1f: BM25F %.4f, per-field sum %.4f", w, bf, fs)
	}
	for _, k1 := range []float64{0.9, 1.2, 1.5} {
		for _, b := range []float64{0.4, 0.6, 0.75, 0.9} {
			got := evalNDCG(t, ix.with(Options{K1: k1, B: b}), ds, split)
			t.Logf("k1 %.1f b %.2f: %.4f", k1, b, got)
		}
	}
	flat := *ds
	flat.corpus = make([]beirDoc, len(ds.corpus))
	for i, d := range ds.corpus {
		flat.corpus[i] = beirDoc{ID: d.ID, Text: d.Title + "\n" + d.Text}
	}
	fix := buildIndex(t, &flat, Options{}, false)
	defer fix.Close()
	for _, kb := range [][2]float64{{1.2, 0.75}, {0.9, 0.4}} {
		t.Logf("flat title+text, k1 %.1f b %.2f: %.4f", kb[0], kb[1], evalNDCG(t, fix.with(Options{K1: kb[0], B: kb[1]}), &flat, "test"))
	}
	t.Logf("flat, bleve native: %.4f", evalFunc(t, func(ctx context.Context, q string, k int) ([]kefu.Scored, error) {
		return bleveSearch(ctx, fix, q, k)
	}, &flat, "test"))
}

// plainSegmenter is gse with its bundled dictionary only (no domainWords).
var plainSegmenter = sync.OnceValues(func() (*gse.Segmenter, error) {
	s := &gse.Segmenter{SkipLog: true}
	return s, s.LoadDictEmbed("zh_s")
})

// TestMeasureAFQMCAnalyzers compares the ways of cutting Chinese on the FAQ
// matching set.
func TestMeasureAFQMCAnalyzers(t *testing.T) {
	measuring(t)
	ds := afqmc(t)
	for _, v := range []struct {
		name string
		cfg  analyzerConfig
		seg  func() (*gse.Segmenter, error)
	}{
		{"gse dag+hmm, zh stop words", analyzerConfig{Han: hanDAG, StopZh: true, Stemmer: "snowball"}, nil},
		{"gse dag+hmm, no zh stop words", analyzerConfig{Han: hanDAG, Stemmer: "snowball"}, nil},
		{"gse dag+hmm, without domain words", analyzerConfig{Han: hanDAG, StopZh: true, Stemmer: "snowball"}, plainSegmenter},
		{"gse dag, no hmm", analyzerConfig{Han: hanDAGNoHMM, StopZh: true, Stemmer: "snowball"}, nil},
		{"gse dag, no hmm, no zh stop words", analyzerConfig{Han: hanDAGNoHMM, Stemmer: "snowball"}, nil},
		{"gse dag, no hmm, without domain words", analyzerConfig{Han: hanDAGNoHMM, StopZh: true, Stemmer: "snowball"}, plainSegmenter},
		{"gse search mode", analyzerConfig{Han: hanSearch, StopZh: true, Stemmer: "snowball"}, nil},
		{"bigram, zh stop words", bigramConfig, nil},
		{"gse words + bigrams", analyzerConfig{Han: hanWordsBigrams, StopZh: true, Stemmer: "snowball"}, nil},
		{"gse words + characters (default)", wordsConfig, nil},
		{"gse words + characters + bigrams", analyzerConfig{Han: hanWordsAll, StopZh: true, Stemmer: "snowball"}, nil},
		{"bigram, no zh stop words", analyzerConfig{Han: hanBigram, Stemmer: "snowball"}, nil},
	} {
		name := "measure_" + strings.NewReplacer(" ", "_", ",", "", "+", "_", "(", "", ")", "").Replace(v.name)
		cfg, seg := v.cfg, v.seg
		if err := registry.RegisterAnalyzer(name, func(map[string]any, *registry.Cache) (analysis.Analyzer, error) {
			a, err := newAnalyzer(cfg)
			if err == nil && seg != nil {
				a.(*analysis.DefaultAnalyzer).Tokenizer.(*mixedTokenizer).seg = seg
			}
			return a, err
		}); err != nil {
			t.Fatal(err)
		}
		ix := buildIndex(t, ds, Options{Analyzer: name}, true)
		if v.cfg.Han == hanSearch {
			q := ix.with(Options{})
			q.analyzer, _ = newAnalyzer(analyzerConfig{Han: hanDAGNoHMM, StopZh: true, Stemmer: "snowball"})
			t.Logf("%-40s train %.4f test %.4f", "gse search mode, query dag no hmm", evalNDCG(t, q, ds, "train"), evalNDCG(t, q, ds, "test"))
		}
		line := fmt.Sprintf("%-40s", v.name)
		for _, split := range []string{"train", "test"} {
			line += fmt.Sprintf(" %s %.4f", split, evalNDCG(t, ix, ds, split))
		}
		for _, w := range []float64{1, 3} {
			line += fmt.Sprintf(" | questions^%.0f test %.4f", w, evalNDCG(t, ix.with(Options{Boosts: Boosts{Questions: w}}), ds, "test"))
		}
		t.Log(line)
		ix.Close()
	}
}

// TestMeasureSciFactAnalyzers compares stemmers on SciFact.
func TestMeasureSciFactAnalyzers(t *testing.T) {
	measuring(t)
	ds, ix := scifact(t)
	t.Logf("%-20s train %.4f test %.4f", "snowball (default)", evalNDCG(t, ix, ds, "train"), evalNDCG(t, ix, ds, "test"))
	for _, stem := range []string{"porter", ""} {
		name := "measure_stem_" + stem
		cfg := analyzerConfig{Han: hanDAGNoHMM, StopZh: true, Stemmer: stem}
		if err := registry.RegisterAnalyzer(name, func(map[string]any, *registry.Cache) (analysis.Analyzer, error) {
			return newAnalyzer(cfg)
		}); err != nil {
			t.Fatal(err)
		}
		v := buildIndex(t, ds, Options{Analyzer: name}, false)
		t.Logf("%-20s train %.4f test %.4f", cmp.Or(stem, "no stemming"), evalNDCG(t, v, ds, "train"), evalNDCG(t, v, ds, "test"))
		v.Close()
	}
	t.Logf("BM25F + sqrtTF: train %.4f test %.4f", evalNDCG(t, ix.with(Options{scoring: scoring{sqrtTF: true}}), ds, "train"),
		evalNDCG(t, ix.with(Options{scoring: scoring{sqrtTF: true}}), ds, "test"))
}
