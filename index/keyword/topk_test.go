package keyword

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPushTopKeepsTheKBest raises random documents' scores as the scorer
// does (calling pushTop only when a score rises above topLo) and compares
// the k kept, and the k-th best score, with a sort of every score.
func TestPushTopKeepsTheKBest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		n, k := 1+r.IntN(300), 1+r.IntN(60)
		s := &scratch{score: make([]float64, n)}
		s.resetTop(k)
		for step := range 2000 {
			d := uint32(r.IntN(n))
			// Few distinct contributions: many ties.
			v := s.score[d] + float64(1+r.IntN(4))/4
			s.score[d] = v
			if v > s.topLo {
				s.pushTop(d)
			}
			var all []float64
			for _, x := range s.score {
				if x > 0 {
					all = append(all, x)
				}
			}
			slices.Sort(all)
			slices.Reverse(all)
			if len(all) < k {
				if len(s.top.docs) != len(all) || s.topLo != -1 || s.kth() != 0 {
					t.Fatalf("round %d step %d: %d kept of %d scored, lo %v", round, step, len(s.top.docs), len(all), s.topLo)
				}
				continue
			}
			kept := make([]float64, 0, k)
			for _, x := range s.top.docs {
				kept = append(kept, s.score[x])
			}
			slices.Sort(kept)
			slices.Reverse(kept)
			if !slices.Equal(kept, all[:k]) || s.kth() != all[k-1] || s.topLo != all[k-1] {
				t.Fatalf("round %d step %d: kept %v, k-th %v (lo %v); want %v", round, step, kept, s.kth(), s.topLo, all[:k])
			}
			for i, x := range s.top.docs {
				if slices.Index(s.top.docs, x) != i {
					t.Fatalf("document %d kept twice", x)
				}
			}
		}
	}
	s := &scratch{score: make([]float64, 4)}
	s.resetTop(0)
	s.score[1] = 1
	if 1 > s.topLo || s.kth() != 0 {
		t.Fatalf("k 0: lo %v, k-th %v", s.topLo, s.kth())
	}
}
