package embed

import (
	"testing"

	"github.com/kefu-dev/kefu/internal/bench/synth"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// scifactTexts builds n texts of 8 to 254 tokens from SciFact abstracts,
// like the set `kefu-bench embed` uses.
func scifactTexts(tb testing.TB, tok *Tokenizer, n int) []string {
	tb.Helper()
	texts := synth.MixedLengthTexts(tok, testenv.CorpusTexts(tb, "scifact", n), n, 8, 254)
	if len(texts) != n {
		tb.Fatalf("got %d texts, want %d", len(texts), n)
	}
	return texts
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
