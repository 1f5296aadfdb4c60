package vector

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/bench/synth"
)

// corpus is test data with its own brute-force search, computed in float64
// without the package's kernels.
type corpus struct {
	dim    int
	vecs   map[uint32][][]float32 // label → vectors
	allows func(uint32) bool
}

func newCorpus(dim int) *corpus {
	return &corpus{dim: dim, vecs: map[uint32][][]float32{}}
}

func (c *corpus) add(t *testing.T, ix *Index, label uint32, vs ...[]float32) {
	t.Helper()
	if err := ix.Add(label, vs...); err != nil {
		t.Fatal(err)
	}
	c.vecs[label] = append(c.vecs[label], vs...)
}

func (c *corpus) del(ix *Index, label uint32) {
	ix.Delete(label)
	delete(c.vecs, label)
}

// exact returns the k best labels (allowed ones if allow is set).
func (c *corpus) exact(q []float32, k int, allow *Bitset) []Result {
	var all []Result
	for lab, vs := range c.vecs {
		if allow != nil && !allow.Has(lab) {
			continue
		}
		best := -2.0
		for _, v := range vs {
			d, _ := refDot(q, v)
			best = max(best, d)
		}
		all = append(all, Result{lab, float32(best)})
	}
	slices.SortFunc(all, func(a, b Result) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Label, b.Label)
	})
	return all[:min(k, len(all))]
}

// vectors draws n clustered unit vectors.
func vectors(cl *synth.Clusters, n int) [][]float32 {
	flat := make([]float32, n*cl.Dim)
	cl.Fill(flat)
	out := make([][]float32, n)
	for i := range out {
		out[i] = flat[i*cl.Dim : (i+1)*cl.Dim]
	}
	return out
}

// sameRanking checks got against the exact answer: the same length, and at
// each rank the same label or a score tied within float32 rounding.
func sameRanking(t *testing.T, got, want []Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Label != want[i].Label && abs32(got[i].Score-want[i].Score) > 1e-5 {
			t.Fatalf("rank %d: label %d (%.6f), want %d (%.6f)", i, got[i].Label, got[i].Score, want[i].Label, want[i].Score)
		}
		if abs32(got[i].Score-want[i].Score) > 1e-5 {
			t.Fatalf("rank %d: score %.6f, want %.6f", i, got[i].Score, want[i].Score)
		}
	}
}

func mustNew(t *testing.T, o Options) *Index {
	t.Helper()
	ix, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ix.Close)
	return ix
}

func fill(t *testing.T, ix *Index, c *corpus, cl *synth.Clusters, n int) {
	t.Helper()
	for i, v := range vectors(cl, n) {
		c.add(t, ix, uint32(i), v)
	}
}

func TestFlatSearchIsExact(t *testing.T) {
	cl := synth.NewClusters(67, 40, 0.6, 1)
	ix := mustNew(t, Options{Dim: 67, Mode: ModeFlat})
	c := newCorpus(67)
	fill(t, ix, c, cl, 3000)
	for _, q := range vectors(cl, 50) {
		for _, k := range []int{1, 10, 100} {
			sameRanking(t, ix.Search(q, k, nil), c.exact(q, k, nil))
		}
	}
	if ix.Len() != 3000 || ix.Labels() != 3000 || ix.Mode() != ModeFlat {
		t.Fatalf("Len %d Labels %d Mode %s", ix.Len(), ix.Labels(), ix.Mode())
	}
}

func TestSearchEdgeCases(t *testing.T) {
	ix := mustNew(t, Options{Dim: 4})
	if r := ix.Search([]float32{1, 0, 0, 0}, 5, nil); r != nil {
		t.Fatalf("empty index: %v", r)
	}
	if err := ix.Add(1, []float32{1, 0, 0, 0}, []float32{0, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(2, []float32{1, 0, 0}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("wrong dimension: %v", err)
	}
	if err := ix.Add(3, []float32{1, 0, 0, float32(nan())}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("NaN vector: %v", err)
	}
	if err := ix.Add(noLabel, []float32{1, 0, 0, 0}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("reserved label: %v", err)
	}
	if ix.Len() != 2 || ix.Labels() != 1 {
		t.Fatalf("rejected vectors were stored: Len %d Labels %d", ix.Len(), ix.Labels())
	}
	for _, q := range [][]float32{{1, 0, 0}, {float32(nan()), 0, 0, 0}} {
		if r := ix.Search(q, 3, nil); r != nil {
			t.Fatalf("bad query %v: %v", q, r)
		}
	}
	if r := ix.Search([]float32{0, 1, 0, 0}, 0, nil); r != nil {
		t.Fatalf("k=0: %v", r)
	}
	r := ix.Search([]float32{0, 1, 0, 0}, 10, nil)
	if len(r) != 1 || r[0].Label != 1 || r[0].Score != 1 {
		t.Fatalf("got %v, want label 1 once with score 1", r)
	}
	if _, err := New(Options{Dim: 0}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("dim 0: %v", err)
	}
	if _, err := New(Options{Dim: 8, Mode: "ivf"}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("unknown mode: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

var modes = []Options{
	{Mode: ModeFlat},
	{Mode: ModeInt8},
	{Mode: ModeHNSW, M: 12, EfConstruction: 100, EfSearch: 80},
}

// minRecall is what each mode must reach against exact search.
var minRecall = map[string]float64{ModeFlat: 1, ModeInt8: 0.99, ModeHNSW: 0.95}

func TestRecallByMode(t *testing.T) {
	for _, o := range modes {
		t.Run(o.Mode, func(t *testing.T) {
			o.Dim = 96
			cl := synth.NewClusters(96, 60, 0.8, 2)
			ix := mustNew(t, o)
			c := newCorpus(96)
			fill(t, ix, c, cl, 8000)
			var sum float64
			qs := vectors(cl, 100)
			for _, q := range qs {
				got := ix.Search(q, 10, nil)
				if len(got) != 10 {
					t.Fatalf("%d results", len(got))
				}
				sum += Recall(got, c.exact(q, 10, nil))
			}
			r := sum / float64(len(qs))
			t.Logf("recall@10 %.4f", r)
			if r < minRecall[o.Mode] {
				t.Fatalf("recall@10 %.4f < %.2f", r, minRecall[o.Mode])
			}
		})
	}
}

func TestMultiVectorLabels(t *testing.T) {
	for _, o := range modes {
		t.Run(o.Mode, func(t *testing.T) {
			o.Dim = 32
			cl := synth.NewClusters(32, 10, 0.7, 3)
			ix := mustNew(t, o)
			c := newCorpus(32)
			vs := vectors(cl, 3000)
			for i := 0; i < len(vs); {
				n := 1 + i%5 // labels of 1 to 5 vectors
				n = min(n, len(vs)-i)
				c.add(t, ix, uint32(i), vs[i:i+n]...)
				i += n
			}
			if ix.Len() != 3000 || ix.Labels() != len(c.vecs) {
				t.Fatalf("Len %d Labels %d, want 3000 and %d", ix.Len(), ix.Labels(), len(c.vecs))
			}
			for _, l := range []uint32{0, 1, 3, 2990} {
				got := ix.Vectors(l)
				slices.Reverse(got)
				if !slices.EqualFunc(got, c.vecs[l], slices.Equal) {
					t.Fatalf("Vectors(%d) = %d vectors, not the %d added", l, len(got), len(c.vecs[l]))
				}
			}
			if ix.Vectors(1<<30) != nil {
				t.Fatal("Vectors of an absent label")
			}
			var sum float64
			for _, q := range vectors(cl, 40) {
				got := ix.Search(q, 20, nil)
				want := c.exact(q, 20, nil)
				seen := map[uint32]bool{}
				for _, g := range got {
					if seen[g.Label] {
						t.Fatalf("label %d returned twice", g.Label)
					}
					seen[g.Label] = true
					best := c.exact(q, 1, single(g.Label))[0].Score
					if abs32(g.Score-best) > 1e-5 {
						t.Fatalf("label %d scored %v, its best vector %v", g.Label, g.Score, best)
					}
				}
				if len(got) != 20 {
					t.Fatalf("%d results, want 20", len(got))
				}
				if o.Mode == ModeFlat {
					sameRanking(t, got, want)
				}
				sum += Recall(got, want)
			}
			if r := sum / 40; r < minRecall[o.Mode] {
				t.Fatalf("recall %.3f", r)
			}
		})
	}
}

func single(label uint32) *Bitset {
	b := NewBitset(0)
	b.Set(label)
	return b
}

func TestFilteredSearch(t *testing.T) {
	for _, o := range modes {
		t.Run(o.Mode, func(t *testing.T) {
			o.Dim = 48
			cl := synth.NewClusters(48, 30, 0.7, 4)
			ix := mustNew(t, o)
			c := newCorpus(48)
			fill(t, ix, c, cl, 6000)
			rng := rand.New(rand.NewPCG(5, 5))
			for _, share := range []float64{0.001, 0.01, 0.1, 0.5, 0.9} {
				allow := NewBitset(6000)
				for l := range uint32(6000) {
					if rng.Float64() < share {
						allow.Set(l)
					}
				}
				allow.Set(9999) // a label that holds nothing
				var sum float64
				for _, q := range vectors(cl, 20) {
					got := ix.Search(q, 10, allow)
					want := c.exact(q, 10, allow)
					if len(got) != len(want) {
						t.Fatalf("share %v: %d results, want %d", share, len(got), len(want))
					}
					for _, g := range got {
						if !allow.Has(g.Label) || g.Label == 9999 {
							t.Fatalf("share %v: label %d is not allowed", share, g.Label)
						}
					}
					sum += Recall(got, want)
				}
				if r := sum / 20; r < minRecall[o.Mode] {
					t.Fatalf("share %v: recall %.3f", share, r)
				}
			}
			q := make([]float32, 48)
			cl.Fill(q)
			if r := ix.Search(q, 5, NewBitset(10)); r != nil {
				t.Fatalf("empty allow-list: %v", r)
			}
		})
	}
}

func TestDeleteAndReAdd(t *testing.T) {
	for _, o := range modes {
		t.Run(o.Mode, func(t *testing.T) {
			o.Dim = 40
			cl := synth.NewClusters(40, 25, 0.7, 6)
			ix := mustNew(t, o)
			c := newCorpus(40)
			fill(t, ix, c, cl, 4000)
			rng := rand.New(rand.NewPCG(6, 6))
			check := func(stage string) {
				t.Helper()
				if ix.Len() != len(c.vecs) || ix.Labels() != len(c.vecs) {
					t.Fatalf("%s: Len %d Labels %d, want %d", stage, ix.Len(), ix.Labels(), len(c.vecs))
				}
				var sum float64
				for _, q := range vectors(cl, 30) {
					got := ix.Search(q, 10, nil)
					for _, g := range got {
						if _, ok := c.vecs[g.Label]; !ok {
							t.Fatalf("%s: deleted label %d returned", stage, g.Label)
						}
					}
					sum += Recall(got, c.exact(q, 10, nil))
				}
				if r := sum / 30; r < minRecall[o.Mode]-0.02 {
					t.Fatalf("%s: recall %.3f", stage, r)
				}
				if g := ix.g.Load(); g != nil {
					if err := g.check(); err != nil {
						t.Fatalf("%s: graph: %v", stage, err)
					}
				}
			}
			// Churn below the compaction share: Add reuses the freed rows.
			for round := range 3 {
				var gone []uint32
				for range 300 {
					l := uint32(rng.IntN(4000))
					if _, ok := c.vecs[l]; ok {
						c.del(ix, l)
						gone = append(gone, l)
					}
				}
				rows := len(ix.labels)
				for _, l := range gone {
					c.add(t, ix, l, vectors(cl, 1)...)
				}
				if len(ix.labels) != rows {
					t.Fatalf("round %d: rows grew from %d to %d although free rows existed", round, rows, len(ix.labels))
				}
				check("churn")
			}
			// Deleting half compacts.
			for l := range uint32(2000) {
				c.del(ix, l)
			}
			if len(ix.labels) >= 4000 || len(ix.free) > len(ix.labels)/4 {
				t.Fatalf("no compaction: %d rows, %d free", len(ix.labels), len(ix.free))
			}
			check("compacted")
			ix.Delete(123456) // absent: no effect
			check("absent delete")
		})
	}
}

func TestAutoModeSwitches(t *testing.T) {
	cl := synth.NewClusters(24, 10, 0.7, 7)
	ix := mustNew(t, Options{Dim: 24, Int8Min: 100, HNSWMin: 400})
	c := newCorpus(24)
	vs := vectors(cl, 500)
	want := []struct {
		n    int
		mode string
	}{{99, ModeFlat}, {100, ModeInt8}, {399, ModeInt8}, {400, ModeHNSW}, {500, ModeHNSW}}
	n := 0
	for _, w := range want {
		for ; n < w.n; n++ {
			c.add(t, ix, uint32(n), vs[n])
		}
		if w.mode == ModeHNSW {
			// The graph is built in the background from the 400th vector.
			if err := ix.WaitBuilt(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if ix.Mode() != w.mode {
			t.Fatalf("%d vectors: mode %s, want %s", n, ix.Mode(), w.mode)
		}
		q := vs[n/2]
		if got := ix.Search(q, 5, nil); Recall(got, c.exact(q, 5, nil)) < 0.8 {
			t.Fatalf("%d vectors: %v", n, got)
		}
	}
	for l := range uint32(350) {
		c.del(ix, l)
	}
	if ix.Mode() != ModeInt8 || ix.g.Load() != nil || ix.Building() {
		t.Fatalf("after deleting down to %d: mode %s", ix.Len(), ix.Mode())
	}
}

func TestConcurrentSearches(t *testing.T) {
	for _, o := range modes {
		o.Dim = 32
		cl := synth.NewClusters(32, 10, 0.7, 8)
		ix := mustNew(t, o)
		c := newCorpus(32)
		fill(t, ix, c, cl, 2000)
		qs := vectors(cl, 40)
		want := make([][]Result, len(qs))
		for i, q := range qs {
			want[i] = ix.Search(q, 10, nil)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := range qs {
					j := (i + w) % len(qs)
					if got := ix.Search(qs[j], 10, nil); !slices.Equal(got, want[j]) {
						errs <- errors.New(o.Mode + ": concurrent search differs")
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

func TestBitset(t *testing.T) {
	b := NewBitset(10)
	for _, l := range []uint32{3, 3, 64, 1000, 0} {
		b.Set(l)
	}
	if b.Len() != 4 {
		t.Fatalf("Len %d, want 4", b.Len())
	}
	var got []uint32
	b.each(func(l uint32) bool { got = append(got, l); return true })
	if !slices.Equal(got, []uint32{0, 3, 64, 1000}) {
		t.Fatalf("members %v", got)
	}
	if b.Has(4) || b.Has(1<<31) || !b.Has(1000) {
		t.Fatal("Has is wrong")
	}
	var zero Bitset
	if zero.Has(0) || zero.Len() != 0 {
		t.Fatal("zero Bitset is not empty")
	}
	// The words of a set give the same set.
	w := BitsetOf(slices.Clone(b.words))
	got = got[:0]
	w.each(func(l uint32) bool { got = append(got, l); return true })
	if w.Len() != 4 || !slices.Equal(got, []uint32{0, 3, 64, 1000}) {
		t.Fatalf("BitsetOf: %d members %v", w.Len(), got)
	}
}

// Reusing the row of the graph's entry point moves the entry elsewhere.
func TestHNSWReplaceEntryPoint(t *testing.T) {
	cl := synth.NewClusters(16, 5, 0.7, 13)
	ix := mustNew(t, Options{Dim: 16, Mode: ModeHNSW, M: 4})
	c := newCorpus(16)
	fill(t, ix, c, cl, 300)
	g := ix.g.Load()
	for range 5 {
		entry := g.entry
		c.del(ix, ix.labels[entry])
		c.add(t, ix, uint32(1000+entry), vectors(cl, 1)...)
		if ix.labels[entry] != uint32(1000+entry) {
			t.Fatalf("row %d was not reused", entry)
		}
		if err := g.check(); err != nil {
			t.Fatal(err)
		}
	}
	var sum float64
	for _, q := range vectors(cl, 30) {
		sum += Recall(ix.Search(q, 5, nil), c.exact(q, 5, nil))
	}
	if sum/30 < 0.9 {
		t.Fatalf("recall %.3f", sum/30)
	}
	if !ix.Has(ix.labels[g.entry]) {
		t.Fatal("entry point holds no live label")
	}
}
