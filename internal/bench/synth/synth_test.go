package synth

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestMixedLengthTexts(t *testing.T) {
	tok, err := embed.LoadTokenizer(testenv.Model(t, "tiny-en"), 256)
	if err != nil {
		t.Fatal(err)
	}
	texts := MixedLengthTexts(tok, testenv.CorpusTexts(t, "scifact", 200), 200, 8, 254)
	if len(texts) != 200 {
		t.Fatalf("%d texts, want 200", len(texts))
	}
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

// Cluster members are unit vectors nearer their own centre than random
// unit vectors are to each other.
func TestClusters(t *testing.T) {
	const dim = 64
	cl := NewClusters(dim, 1, 0.5, 7)
	v := make([]float32, 4*dim)
	cl.Fill(v)
	norm := func(x []float32) float64 {
		var s float64
		for _, c := range x {
			s += float64(c) * float64(c)
		}
		return math.Sqrt(s)
	}
	dot := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	for r := range 4 {
		if n := norm(v[r*dim : (r+1)*dim]); math.Abs(n-1) > 1e-5 {
			t.Errorf("row %d has norm %v", r, n)
		}
	}
	// One cluster, noise of norm 0.5: members' cosine about 1/(1+0.25) = 0.8.
	if c := dot(v[:dim], v[dim:2*dim]); c < 0.6 {
		t.Errorf("two members of one cluster: cosine %.3f", c)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := RandomUnit(rng, dim), RandomUnit(rng, dim)
	if math.Abs(norm(a)-1) > 1e-5 || math.Abs(dot(a, b)) > 0.5 {
		t.Errorf("random unit vectors: norm %v, cosine %v", norm(a), dot(a, b))
	}
}
