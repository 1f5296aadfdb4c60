package embed

import "github.com/kefu-dev/kefu/internal/vecmath"

// meanPool writes to dst the mean of the first n rows of h (rows of len(dst)
// floats), accumulating in float64 as sentence-transformers' reference
// outputs do. With normalize it then scales dst to unit length. acc is
// scratch space of len(dst).
func meanPool(dst, h []float32, n int, normalize bool, acc []float64) {
	d := len(dst)
	clear(acc)
	for t := 0; t < n; t++ {
		row := h[t*d : t*d+d]
		for j, v := range row {
			acc[j] += float64(v)
		}
	}
	if n > 0 {
		inv := 1 / float64(n)
		for j := range acc {
			acc[j] *= inv
		}
	}
	finish(dst, acc, normalize)
}

// copyPool writes the vector v (the [CLS] row or a pooled output) to dst,
// normalised to unit length when asked. acc is scratch space of len(dst).
func copyPool(dst, v []float32, normalize bool, acc []float64) {
	for j, x := range v[:len(dst)] {
		acc[j] = float64(x)
	}
	finish(dst, acc, normalize)
}

// finish stores acc in dst, divided by its L2 norm when normalize is set and
// the norm is not zero.
func finish(dst []float32, acc []float64, normalize bool) {
	if normalize {
		vecmath.Normalize(acc)
	}
	for j, v := range acc {
		dst[j] = float32(v)
	}
}
