//go:build goexperiment.simd && amd64

package keyword

import (
	"math/bits"
	"simd/archsimd"
)

func init() {
	if archsimd.X86.AVX512() {
		kthScore, listAbove, denseShare = kthScoreAVX512, listAboveAVX512, 16
	}
}

// kthScoreAVX512 compares eight entries at a time with the heap's worst
// and visits the heap only for a group that holds a better one.
func kthScoreAVX512(score []float64, k int, h []float64) (float64, []float64) {
	h = h[:0]
	i := 0
	for ; i < len(score) && len(h) < k; i++ {
		if v := score[i]; v > 0 {
			h = pushScore(h, v)
		}
	}
	worst := archsimd.BroadcastFloat64x8(h[0])
	for ; i+8 <= len(score); i += 8 {
		if archsimd.LoadFloat64x8Slice(score[i:i+8]).Greater(worst).ToBits() == 0 {
			continue
		}
		for _, v := range score[i : i+8] {
			if v > h[0] {
				replaceWorst(h, v)
			}
		}
		worst = archsimd.BroadcastFloat64x8(h[0])
	}
	for _, v := range score[i:] {
		if v > h[0] {
			replaceWorst(h, v)
		}
	}
	return h[0], h
}

// listAboveAVX512 tests eight entries at a time: v+rem ≥ theta with the
// same rounding as the scalar sum, and v > 0.
func listAboveAVX512(score []float64, rem, theta float64, out []uint32) []uint32 {
	r, t, zero := archsimd.BroadcastFloat64x8(rem), archsimd.BroadcastFloat64x8(theta), archsimd.BroadcastFloat64x8(0)
	i := 0
	for ; i+8 <= len(score); i += 8 {
		v := archsimd.LoadFloat64x8Slice(score[i : i+8])
		m := v.Add(r).GreaterEqual(t).And(v.Greater(zero)).ToBits()
		for ; m != 0; m &= m - 1 {
			out = append(out, uint32(i+bits.TrailingZeros8(m)))
		}
	}
	for ; i < len(score); i++ {
		if v := score[i]; v > 0 && v+rem >= theta {
			out = append(out, uint32(i))
		}
	}
	return out
}
