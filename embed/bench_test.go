package embed

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// scifactTexts builds n texts of 8 to 254 tokens from SciFact abstracts,
// like the set `kefu bench embed` uses.
func scifactTexts(tb testing.TB, tok *Tokenizer, n int) []string {
	tb.Helper()
	f, err := os.Open(filepath.Join(testenv.Shared(tb, "data/eval/scifact"), "corpus.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var docs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() && len(docs) < n {
		var d struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, d.Text)
	}
	texts := MixedLengthTexts(tok, docs, n, 8, 254)
	if len(texts) != n {
		tb.Fatalf("got %d texts, want %d", len(texts), n)
	}
	return texts
}

func TestMixedLengthTexts(t *testing.T) {
	tok, err := LoadTokenizer(testenv.Model(t, "tiny-en"), 256)
	if err != nil {
		t.Fatal(err)
	}
	texts := scifactTexts(t, tok, 200)
	short, long := 0, 0
	for _, s := range texts {
		n := tok.CountTokens(s)
		if n < 8 || n > 300 {
			t.Errorf("%d tokens: %q", n, s)
		}
		if n < 32 {
			short++
		}
		if n > 128 {
			long++
		}
	}
	// Log-uniform over [8, 254]: 40% under 32 tokens, 20% over 128.
	if short < 60 || short > 100 || long < 25 || long > 55 {
		t.Errorf("%d short, %d long of %d: not a log-uniform mix", short, long, len(texts))
	}
}

// TestRunBench checks the report's bookkeeping on a small run (its speeds
// are not asserted: they are measured by BenchmarkEngine and kefu bench).
func TestRunBench(t *testing.T) {
	spec := sharedSpec(t, "tiny-en")
	tok, err := LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		t.Fatal(err)
	}
	texts := scifactTexts(t, tok, 40)
	rep, err := RunBench(context.Background(), spec, texts, BenchOptions{ORTLib: testenv.RequireORT(t), PaddedBatch: 8, Engine: Options{Sessions: 2}})
	if err != nil {
		t.Fatal(err)
	}
	tokens := 0
	for _, s := range texts {
		tokens += min(tok.CountTokens(s), spec.MaxTokens-2) + 2
	}
	if rep.Texts != 40 || rep.Tokens != tokens || rep.EngineSessions != 2 || rep.PaddedBatch != 8 {
		t.Errorf("report %+v, want 40 texts, %d tokens", rep, tokens)
	}
	if rep.MaxAbsDiff > tolerance {
		t.Errorf("engine and padded vectors differ by %g", rep.MaxAbsDiff)
	}
	if rep.OutsideORTShare < 0 || rep.OutsideORTShare > 1 || rep.EnginePadShare >= rep.PaddedPadShare {
		t.Errorf("shares: outside %g, padding engine %g vs padded %g", rep.OutsideORTShare, rep.EnginePadShare, rep.PaddedPadShare)
	}
	if d := rep.RatioVsPadded - rep.PaddedSeconds/rep.EngineSeconds; d*d > 1e-12 || rep.EngineTextsPerS*rep.EngineSeconds < 39.9 {
		t.Errorf("inconsistent ratios: %+v", rep)
	}
	t.Logf("%+v", *rep)
}

// BenchmarkEngine compares the engine with the padded and one-by-one
// integrations on minilm-l6-shape (all-MiniLM-L6-v2's speed) and 256 mixed
// SciFact texts. go test -run '^$' -bench Engine -benchtime 1x ./embed
func BenchmarkEngine(b *testing.B) {
	spec := sharedSpec(b, "minilm-l6-shape")
	tok, err := LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		b.Fatal(err)
	}
	texts := scifactTexts(b, tok, 256)
	opts := BenchOptions{ORTLib: testenv.RequireORT(b)}
	for b.Loop() {
		rep, err := RunBench(context.Background(), spec, texts, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.EngineTextsPerS, "engine_texts/s")
		b.ReportMetric(rep.PaddedTextsPerS, "padded_texts/s")
		b.ReportMetric(rep.SingleTextsPerS, "single_texts/s")
		b.ReportMetric(rep.RatioVsPadded, "x_padded")
		b.ReportMetric(rep.RatioVsSingle, "x_single")
		b.ReportMetric(rep.OutsideORTShare, "outside_ort")
	}
}

// BenchmarkTokenize measures the tokenizer on mixed English texts.
func BenchmarkTokenize(b *testing.B) {
	tok, err := LoadTokenizer(testenv.Model(b, "tiny-en"), 256)
	if err != nil {
		b.Fatal(err)
	}
	texts := scifactTexts(b, tok, 256)
	tokens := 0
	for _, s := range texts {
		tokens += tok.CountTokens(s)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, s := range texts {
			if _, err := tok.Encode(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkMeanPool measures pooling one 128-token, 384-wide output.
func BenchmarkMeanPool(b *testing.B) {
	const seq, dim = 128, 384
	h := make([]float32, seq*dim)
	for i := range h {
		h[i] = float32(i%97) / 97
	}
	dst, acc := make([]float32, dim), make([]float64, dim)
	b.SetBytes(seq * dim * 4)
	for b.Loop() {
		meanPool(dst, h, seq, true, acc)
	}
}
