package synth

import (
	"math"
	"math/rand/v2"
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
		normalize(c.centres[i*dim : (i+1)*dim])
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
		normalize(v)
	}
}

// normalize scales v to unit length (a zero vector stays zero).
func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	f := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= f
	}
}
