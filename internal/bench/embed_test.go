package bench

import (
	"context"
	"math"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/models"
)

// sharedModel resolves a shared model and mixed-length texts for it.
func sharedModel(tb testing.TB, name string, n int) (kefu.ModelSpec, *embed.Tokenizer, []string) {
	tb.Helper()
	spec, err := models.Resolve(name, models.ResolveOptions{SearchDirs: []string{testenv.Shared(tb, "models")}, Offline: true})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := embed.LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		tb.Fatal(err)
	}
	texts, err := Texts(context.Background(), tok, 8, 254, n)
	if err != nil {
		tb.Fatal(err)
	}
	return spec, tok, texts
}

// TestEmbed checks the report's bookkeeping on a small run (its speeds are
// not asserted: they are measured by BenchmarkEmbed and kefu-bench embed).
func TestEmbed(t *testing.T) {
	spec, tok, texts := sharedModel(t, "tiny-en", 40)
	rep, err := Embed(context.Background(), spec, texts, EmbedOptions{ORTLib: testenv.RequireORT(t), PaddedBatch: 8, Engine: embed.Options{Sessions: 2}})
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
	if rep.MaxAbsDiff > 1e-5 {
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

// padShare by hand: batches {0,1} of 2 and 10 tokens and {2} of 4 feed
// 2·10 + 4 = 24 tokens for 16 real ones.
func TestPadShare(t *testing.T) {
	if got := padShare([][]int{{0, 1}, {2}}, []int{2, 10, 4}, 16); math.Abs(got-(1-16.0/24)) > 1e-12 {
		t.Errorf("padShare = %v, want %v", got, 1-16.0/24)
	}
	if b := inOrder(5, 2); len(b) != 3 || len(b[2]) != 1 || b[2][0] != 4 {
		t.Errorf("inOrder(5, 2) = %v", b)
	}
}

// BenchmarkEmbed compares the engine with the padded and one-by-one
// integrations on minilm-l6-shape (all-MiniLM-L6-v2's speed) and 256 mixed
// texts. go test -run '^$' -bench Embed -benchtime 1x ./internal/bench
func BenchmarkEmbed(b *testing.B) {
	spec, _, texts := sharedModel(b, "minilm-l6-shape", 256)
	opts := EmbedOptions{ORTLib: testenv.RequireORT(b)}
	for b.Loop() {
		rep, err := Embed(context.Background(), spec, texts, opts)
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
