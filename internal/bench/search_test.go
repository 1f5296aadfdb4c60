package bench

import (
	"context"
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
	for i := 1; i < len(p.Slowest); i++ {
		if p.Slowest[i].FirstMS > p.Slowest[i-1].FirstMS {
			t.Fatalf("not slowest first: %+v", p.Slowest)
		}
	}
}
