package vector

import "math"

// int8 scalar quantisation with one scale per vector.
//
// A vector x is stored as codes c_i = round(127·x_i/max|x|) + 128 (a byte)
// and the scale max|x|/127; a query as q_i = round(Q·x_i/max|x|) (an int8)
// and its scale. Then x·y ≈ sx·sq·(Σ c_i q_i − 128·Σ q_i). With the
// VPMADDUBSW kernels Q is 63, 6 bits plus sign, so that their pairwise
// int16 sums (≤ 2·255·63) never saturate; the VNNI kernel (VPDPBUSD) sums
// into int32 and takes Q = 127, halving the query's rounding error. That
// error adds the same small term to every row's score, which float32
// rescoring removes, but it also reorders close rows, which the HNSW
// traversal on codes feels.
//
// Per-vector scales rather than per-dimension ones: they need no training
// pass, never go stale as vectors are added or deleted, and the index can
// quantise each vector as it arrives. Unit embeddings spread their mass
// fairly evenly over dimensions, which is the case where per-dimension
// scales gain least.

const (
	codeMax      = 127 // stored codes span [-127, 127] before the +128 offset
	queryMaxSat  = 63  // query range of the kernels whose int16 pairs saturate
	queryMaxWide = 127 // query range of the generic and VNNI kernels
)

// queryMax is the query codes' range, [-queryMax, queryMax], for the
// kernel in use (set with it).
var queryMax int32 = queryMaxWide

// codeStride is the bytes a row of codes takes: dim rounded up to 64, so the
// kernels need no tail; the padding is zero in the query.
func codeStride(dim int) int { return (dim + 63) &^ 63 }

// quantize writes the codes of v into dst (len ≥ len(v); padding set to the
// offset) and returns the scale.
func quantize(v []float32, dst []uint8) float32 {
	var mx float32
	for _, x := range v {
		mx = max(mx, abs32(x))
	}
	if mx == 0 {
		for i := range dst {
			dst[i] = 128
		}
		return 0
	}
	f := codeMax / mx
	for i, x := range v {
		dst[i] = uint8(clamp(int32(math.Round(float64(x*f))), codeMax) + 128)
	}
	for i := len(v); i < len(dst); i++ {
		dst[i] = 128
	}
	return mx / codeMax
}

// quantizeQuery writes the int8 query codes of v into dst (len ≥ len(v),
// padding zero) and returns the scale and the offset correction 128·Σq.
func quantizeQuery(v []float32, dst []int8) (scale float32, corr int32) {
	var mx float32
	for _, x := range v {
		mx = max(mx, abs32(x))
	}
	clear(dst)
	if mx == 0 {
		return 0, 0
	}
	f := float32(queryMax) / mx
	var sum int32
	for i, x := range v {
		c := clamp(int32(math.Round(float64(x*f))), queryMax)
		dst[i] = int8(c)
		sum += c
	}
	return mx / float32(queryMax), 128 * sum
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func clamp(c, m int32) int32 { return min(max(c, -m), m) }
