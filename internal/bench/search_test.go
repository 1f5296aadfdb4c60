package bench

import (
	"context"
	"math"
	"slices"
	"testing"
)

// A search benchmark with a second pass lists the first pass's slowest
// searches, slowest first, beside the same searches asked again.
func TestSearchListsSlowestFirstPass(t *testing.T) {
	rep, err := Search(context.Background(), SearchOptions{Chunks: 1000, Dim: 32, Queries: 40, Repeat: true})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Repeat
	if p == nil || len(p.Slowest) != slowestShown {
		t.Fatalf("second pass %+v, want %d slowest searches", p, slowestShown)
	}
	if s := p.Slowest[0]; s.FirstMS < rep.P99MS || s.Query == "" || !(s.SecondMS > 0) {
		t.Fatalf("slowest %+v against a first-pass p99 of %.2f ms", s, rep.P99MS)
	}
	// Its phases are parts of it: the chunks are loaded after both sides
	// (which run side by side) and fused after that.
	for _, s := range p.Slowest {
		if !(s.LoadMS > 0 && s.FuseMS > 0 && s.KeywordMS+s.LoadMS+s.FuseMS <= s.FirstMS) ||
			!(s.Load2 > 0 && s.Fuse2 > 0 && s.Keyword2+s.Load2+s.Fuse2 <= s.SecondMS) {
			t.Fatalf("phases of %+v exceed the search", s)
		}
	}
	// A phase's every search takes no longer than its whole search, so
	// neither do its percentiles.
	if !(rep.LoadP99 > 0 && rep.FuseP99 > 0 && rep.LoadP99 <= rep.P99MS && rep.FuseP99 <= rep.P99MS) {
		t.Fatalf("load p99 %v, fuse p99 %v", rep.LoadP99, rep.FuseP99)
	}
	for i := 1; i < len(p.Slowest); i++ {
		if p.Slowest[i].FirstMS > p.Slowest[i-1].FirstMS {
			t.Fatalf("not slowest first: %+v", p.Slowest)
		}
	}
	// The searches it lists are among those SearchQueries says it times.
	qs, err := SearchQueries(40)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Slowest {
		if !slices.Contains(qs, s.Query) {
			t.Errorf("slowest search %.40q is not among SearchQueries(40)", s.Query)
		}
	}
}

// With another store, the benchmark also times both side by side on
// queries of their own, and reports the difference of the p50s.
func TestSearchPairsStores(t *testing.T) {
	rep, err := Search(context.Background(), SearchOptions{Chunks: 1000, Dim: 32, Queries: 40, Procs: 2, Store: "inprocess"})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Paired
	if p == nil || p.Queries != 40 || rep.Other == nil {
		t.Fatalf("paired %+v, other %+v", p, rep.Other)
	}
	if !(p.EmbeddedP50MS > 0 && p.OtherP50MS > 0 && p.EmbeddedP99MS >= p.EmbeddedP50MS && p.OtherP99MS >= p.OtherP50MS) {
		t.Fatalf("paired %+v", p)
	}
	if math.Abs(p.AddedP50MS-(p.OtherP50MS-p.EmbeddedP50MS)) > 1e-9 {
		t.Fatalf("added %v, p50s %v and %v", p.AddedP50MS, p.OtherP50MS, p.EmbeddedP50MS)
	}
}
