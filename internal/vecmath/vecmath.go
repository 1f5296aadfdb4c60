// Package vecmath is the vector arithmetic that packages which may not
// import each other share (embed pools vectors, the benchmarks and tests
// draw them): the one L2 normalisation of the module. It imports nothing
// of kefu.
package vecmath

import "math"

// Normalize scales v to unit length in place, summing the squares in
// float64; a zero vector stays zero.
func Normalize[T ~float32 | ~float64](v []T) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	f := T(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= f
	}
}
