package keyword

import (
	"testing"
)

func TestSciFactNDCG(t *testing.T) {
	ds, ix := scifact(t)
	got := evalNDCG(t, ix, ds, "test")
	t.Logf("SciFact test nDCG@10 = %.4f (default options)", got)
	if got < 0.66 {
		t.Fatalf("SciFact test nDCG@10 = %.4f, want >= 0.66 (published BM25 0.665-0.679)", got)
	}
}
