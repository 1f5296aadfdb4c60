package keyword

// Passes over the score array (one entry a chunk) in document order, used
// by the scorer when its hits are many: the hits are spread over the
// array, so reading them one by one costs about a cache miss each, several
// times an entry read in order (at a million chunks, 3 ms for the k-th
// best of 400,000 hits against a few tenths of a millisecond for a pass
// over the array). scorepass_simd.go replaces the loops below with
// AVX-512 ones where the CPU has it.

// denseShare: the scorer reads the whole score array instead of its hits
// once they are more than 1/denseShare of the chunks. The SIMD passes set
// it higher.
var denseShare = 4

// kthScore is the k-th best positive entry of score, from a pass over
// it, with h (emptied) as the heap; there are at least k.
var kthScore = kthScoreGeneric

// listAbove appends to out the numbers of the entries v of score with
// v > 0 and v+rem ≥ theta, in order: the hits a gate admits (gate.shut's
// test, to the last bit).
var listAbove = listAboveGeneric

func kthScoreGeneric(score []float64, k int, h []float64) (float64, []float64) {
	h = h[:0]
	for _, v := range score {
		if len(h) < k {
			if v > 0 {
				h = pushScore(h, v)
			}
			continue
		}
		if v > h[0] {
			replaceWorst(h, v)
		}
	}
	return h[0], h
}

func listAboveGeneric(score []float64, rem, theta float64, out []uint32) []uint32 {
	for d, v := range score {
		if v > 0 && v+rem >= theta {
			out = append(out, uint32(d))
		}
	}
	return out
}

// pushScore adds v to the min-heap h of scores, the worst first.
func pushScore(h []float64, v float64) []float64 {
	h = append(h, v)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p] <= h[i] {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

// replaceWorst puts v in place of the worst score of the full heap h.
func replaceWorst(h []float64, v float64) {
	h[0] = v
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h) && h[l] < h[m] {
			m = l
		}
		if l+1 < len(h) && h[l+1] < h[m] {
			m = l + 1
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
