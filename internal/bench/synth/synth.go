// Package synth makes the reproducible data of kefu's benchmarks and tests:
// unit vectors with cluster structure, and texts of mixed lengths cut from
// real documents. It imports only the root and internal/vecmath, so any
// package's tests may use it.
package synth

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/vecmath"
)

// Clusters generates synthetic unit vectors with cluster structure, the
// data of the benchmarks and tests: each vector is a random centre (drawn
// uniformly on the sphere) plus isotropic Gaussian noise of norm about
// Spread, normalised. Isotropic noise in every dimension is harder for HNSW
// than real embeddings, whose neighbourhoods have a lower intrinsic
// dimension.
type Clusters struct {
	Dim     int
	Spread  float64
	centres []float32
	rng     *rand.Rand
}

// NewClusters draws k centres of dimension dim from seed.
func NewClusters(dim, k int, spread float64, seed uint64) *Clusters {
	c := &Clusters{Dim: dim, Spread: spread, rng: rand.New(rand.NewPCG(seed, 0x636c7573))}
	c.centres = make([]float32, k*dim)
	for i := range k {
		c.gauss(c.centres[i*dim:(i+1)*dim], 1)
		vecmath.Normalize(c.centres[i*dim : (i+1)*dim])
	}
	return c
}

func (c *Clusters) gauss(dst []float32, sigma float64) {
	for i := range dst {
		dst[i] = float32(c.rng.NormFloat64() * sigma)
	}
}

// Fill writes len(dst)/Dim new vectors into dst, row after row.
func (c *Clusters) Fill(dst []float32) {
	d, k := c.Dim, len(c.centres)/c.Dim
	sigma := c.Spread / math.Sqrt(float64(d))
	for r := 0; r+d <= len(dst); r += d {
		v := dst[r : r+d]
		c.gauss(v, sigma)
		ci := c.rng.IntN(k)
		for i, x := range c.centres[ci*d : (ci+1)*d] {
			v[i] += x
		}
		vecmath.Normalize(v)
	}
}

// RandomUnit draws a unit vector of dimension dim uniformly on the sphere.
func RandomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	vecmath.Normalize(v)
	return v
}

// MixedLengthTexts cuts docs into n texts whose lengths (in tok's tokens,
// without special tokens) spread evenly on a log scale from minTokens to
// maxTokens, by taking the fewest consecutive words of each document that
// reach each target length. It makes a benchmark's mix of short and long
// inputs reproducible; n is bounded by what docs hold.
func MixedLengthTexts(tok kefu.TokenCounter, docs []string, n, minTokens, maxTokens int) []string {
	if n <= 0 || minTokens <= 0 || maxTokens < minTokens {
		return nil
	}
	ratio := math.Log(float64(maxTokens) / float64(minTokens))
	var out []string
	for _, doc := range docs {
		words := strings.Fields(doc)
		for len(words) > 0 && len(out) < n {
			// Golden-ratio steps spread the targets evenly without randomness.
			frac := math.Mod(float64(len(out))*0.6180339887, 1)
			target := int(math.Round(float64(minTokens) * math.Exp(frac*ratio)))
			lo, hi := 1, len(words)
			for lo < hi { // fewest words reaching the target
				mid := (lo + hi) / 2
				if tok.CountTokens(strings.Join(words[:mid], " ")) >= target {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			text := strings.Join(words[:lo], " ")
			if tok.CountTokens(text) < target {
				break // the document's rest is too short; keep the mix, take the next one
			}
			out = append(out, text)
			words = words[lo:]
		}
		if len(out) >= n {
			break
		}
	}
	return out
}
