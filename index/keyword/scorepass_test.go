package keyword

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// scoreArrays are score arrays as the scorer leaves them: mostly zero
// (no hit), ties, and lengths that are not a multiple of a SIMD vector.
func scoreArrays() [][]float64 {
	r := rand.New(rand.NewPCG(7, 11))
	var out [][]float64
	for _, n := range []int{1, 7, 8, 9, 63, 64, 65, 1000, 4099} {
		for _, density := range []float64{0.05, 0.5, 1} {
			s := make([]float64, n)
			for i := range s {
				if r.Float64() < density {
					s[i] = float64(r.IntN(40)) / 4 // ties
					if r.IntN(3) == 0 {
						s[i] += r.Float64()
					}
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// TestKthScoreMatchesSort checks the pass in use (SIMD where the CPU has
// it) and the portable one against sorting the positive scores.
func TestKthScoreMatchesSort(t *testing.T) {
	for _, s := range scoreArrays() {
		var pos []float64
		for _, v := range s {
			if v > 0 {
				pos = append(pos, v)
			}
		}
		slices.Sort(pos)
		slices.Reverse(pos)
		for _, k := range []int{1, 2, 10, 50, 100} {
			if k > len(pos) {
				continue
			}
			for name, f := range map[string]func([]float64, int, []float64) (float64, []float64){"in use": kthScore, "generic": kthScoreGeneric} {
				if got, _ := f(s, k, nil); got != pos[k-1] {
					t.Fatalf("%s: k %d of %d scores (%d positive): got %v, want %v", name, k, len(s), len(pos), got, pos[k-1])
				}
			}
		}
	}
}

// TestListAboveMatchesGate checks that the passes list exactly the hits a
// gate admits, in order.
func TestListAboveMatchesGate(t *testing.T) {
	for _, s := range scoreArrays() {
		for _, g := range []gate{{on: true, rem: 0, theta: 5}, {on: true, rem: 2.5, theta: 7.25}, {on: true, rem: 0.1, theta: 0.2}, {on: true, rem: 3, theta: 100}} {
			var want []uint32
			for d, v := range s {
				if v > 0 && !g.shut(v) {
					want = append(want, uint32(d))
				}
			}
			for name, f := range map[string]func([]float64, float64, float64, []uint32) []uint32{"in use": listAbove, "generic": listAboveGeneric} {
				if got := f(s, g.rem, g.theta, nil); !slices.Equal(got, want) {
					t.Fatalf("%s: %d scores, gate %+v: got %d hits, want %d", name, len(s), g, len(got), len(want))
				}
			}
		}
	}
}
