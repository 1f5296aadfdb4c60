package vecmath

import (
	"math"
	"testing"
)

func TestNormalize(t *testing.T) {
	v := []float32{3, 4}
	Normalize(v)
	if v[0] != 0.6 || v[1] != 0.8 {
		t.Errorf("(3, 4) normalised to %v, want (0.6, 0.8)", v)
	}
	w := []float64{1, 1, 1, 1}
	Normalize(w)
	for _, x := range w {
		if x != 0.5 {
			t.Errorf("(1, 1, 1, 1) normalised to %v, want 0.5 each", w)
		}
	}
	z := []float32{0, 0, 0}
	Normalize(z)
	if z[0] != 0 || z[1] != 0 || z[2] != 0 {
		t.Errorf("zero vector became %v", z)
	}
	// Squares summed in float64: components whose float32 squares would
	// overflow still normalise.
	big := []float32{3e20, 4e20}
	Normalize(big)
	if math.Abs(float64(big[0])-0.6) > 1e-7 || math.Abs(float64(big[1])-0.8) > 1e-7 {
		t.Errorf("(3e20, 4e20) normalised to %v", big)
	}
}
