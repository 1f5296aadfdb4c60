package vector

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kefu-dev/kefu/internal/vecmath"
)

// refDot is the dot product in float64 and the sum of |a_i·b_i|, the scale
// of its rounding error.
func refDot(a, b []float32) (dot, mag float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		dot += p
		mag += math.Abs(p)
	}
	return dot, mag
}

// near reports whether got is within float32 rounding of want: the error of
// any summation order is bounded by n·ε·Σ|a_i b_i|.
func near(got float32, want, mag float64, n int) bool {
	tol := float64(n+2)*0x1p-23*mag + 1e-30
	return math.Abs(float64(got)-want) <= tol
}

// offsetSlice returns a slice of n random floats starting off elements into
// its array, so kernels meet every alignment.
func offsetSlice(rng *rand.Rand, n, off int) []float32 {
	s := make([]float32, n+off)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s[off:]
}

func TestKernelIsSelected(t *testing.T) {
	want := map[string]bool{"avx512-vnni": true, "avx512": true, "avx2": true, "generic": true}
	if !want[Kernel()] {
		t.Fatalf("Kernel() = %q", Kernel())
	}
	t.Logf("kernel %s; tested sets %d", Kernel(), len(kernelSets))
}

func TestDotAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ks := range kernelSets {
		for trial := range 3000 {
			n := rng.IntN(2001)
			if trial < 100 {
				n = trial
			}
			a := offsetSlice(rng, n, rng.IntN(16))
			b := offsetSlice(rng, n, rng.IntN(16))
			want, mag := refDot(a, b)
			if got := ks.dot(a, b); !near(got, want, mag, n) {
				t.Fatalf("%s: n=%d: dot %v, want %v (Σ|ab| %v)", ks.name, n, got, want, mag)
			}
		}
	}
}

func TestDotNaNAndInf(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ks := range kernelSets {
		for _, n := range []int{1, 7, 16, 17, 63, 64, 65, 384, 1000} {
			for range 20 {
				i, j := rng.IntN(n), rng.IntN(n)
				cases := []struct {
					name string
					set  func(a, b []float32)
				}{
					{"NaN", func(a, b []float32) { a[i] = nan }},
					{"+Inf", func(a, b []float32) { a[i], b[i] = inf, 1 }},
					{"-Inf", func(a, b []float32) { a[i], b[i] = -inf, 2 }},
					{"Inf·0", func(a, b []float32) { a[i], b[i] = inf, 0 }},
					{"Inf−Inf", func(a, b []float32) {
						if i == j {
							a[i], b[i] = nan, 1
							return
						}
						a[i], b[i], a[j], b[j] = inf, 1, inf, -1
					}},
				}
				for _, c := range cases {
					a := offsetSlice(rng, n, rng.IntN(16))
					b := offsetSlice(rng, n, rng.IntN(16))
					c.set(a, b)
					want, got := dotNaive(a, b), ks.dot(a, b)
					if math.IsNaN(float64(want)) != math.IsNaN(float64(got)) ||
						!math.IsNaN(float64(want)) && got != want && (math.IsInf(float64(want), 0) || math.IsInf(float64(got), 0)) {
						t.Fatalf("%s: %s n=%d: got %v, naive loop %v", ks.name, c.name, n, got, want)
					}
				}
			}
		}
	}
}

func TestScanAgreesWithDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ks := range kernelSets {
		for range 300 {
			dim, n := 1+rng.IntN(700), rng.IntN(40)
			if rng.IntN(3) == 0 {
				dim = 16 * (1 + rng.IntN(48))
			}
			q := offsetSlice(rng, dim, rng.IntN(16))
			rows := offsetSlice(rng, n*dim, rng.IntN(16))
			out := make([]float32, n)
			ks.scan(q, rows, out)
			for r := range n {
				want, mag := refDot(q, rows[r*dim:(r+1)*dim])
				if !near(out[r], want, mag, dim) {
					t.Fatalf("%s: dim %d row %d/%d: %v, want %v", ks.name, dim, r, n, out[r], want)
				}
			}
		}
	}
}

func TestCodeKernelIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, ks := range kernelSets {
		for trial := range 200 {
			dim, n := 1+rng.IntN(1100), rng.IntN(30)
			if trial < 8 { // the widths with kernels of their own, and neighbours
				dim = []int{384, 512, 383, 449, 320, 64, 576, 768}[trial]
			}
			stride := codeStride(dim)
			q := make([]int8, stride)
			for i := range dim {
				q[i] = int8(rng.IntN(2*int(ks.qmax)+1) - int(ks.qmax))
			}
			codes := make([]uint8, n*stride+rng.IntN(64))
			for i := range codes {
				codes[i] = uint8(rng.IntN(256))
			}
			if rng.IntN(4) == 0 { // extremes: saturation would show here
				for i := range codes {
					codes[i] = 255
				}
				for i := range dim {
					q[i] = int8(ks.qmax)
				}
			}
			off := rng.IntN(len(codes) - n*stride + 1)
			out := make([]int32, n)
			ks.code(q, codes[off:], stride, out)
			for r := range n {
				var want int32
				for i := range dim {
					want += int32(codes[off+r*stride+i]) * int32(q[i])
				}
				if out[r] != want {
					t.Fatalf("%s: dim %d row %d: %d, want %d", ks.name, dim, r, out[r], want)
				}
			}
		}
	}
}

func TestQuantizeError(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 200 {
		dim := 1 + rng.IntN(500)
		v := offsetSlice(rng, dim, 0)
		vecmath.Normalize(v)
		codes := make([]uint8, codeStride(dim))
		s := quantize(v, codes)
		for i, x := range v {
			back := float32(int(codes[i])-128) * s
			if math.Abs(float64(back-x)) > float64(s)/2*1.0001 {
				t.Fatalf("dim %d: component %d: %v decodes to %v (scale %v)", dim, i, x, back, s)
			}
		}
		for _, c := range codes[dim:] {
			if c != 128 {
				t.Fatalf("padding code %d, want 128", c)
			}
		}
		q := make([]int8, codeStride(dim))
		qs, corr := quantizeQuery(v, q)
		var sum int32
		for i, x := range v {
			if math.Abs(float64(float32(q[i])*qs-x)) > float64(qs)/2*1.0001 {
				t.Fatalf("query component %d: %v → %d·%v", i, x, q[i], qs)
			}
			sum += int32(q[i])
		}
		if corr != 128*sum {
			t.Fatalf("correction %d, want %d", corr, 128*sum)
		}
	}
}

// FuzzDot checks the kernel in use against the float64 reference on
// arbitrary bytes read as two vectors.
func FuzzDot(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(0))
	f.Add(make([]byte, 1000), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, off uint8) {
		if len(data) > 16000 {
			return
		}
		n := len(data) / 2
		a := make([]float32, n+int(off%16))[off%16:]
		b := make([]float32, n)
		for i := range n {
			a[i] = float32(int8(data[i])) / 16
			b[i] = float32(int8(data[n+i])) / 16
		}
		want, mag := refDot(a, b)
		if got := Dot(a, b); !near(got, want, mag, n) {
			t.Fatalf("n=%d: %v, want %v", n, got, want)
		}
	})
}

func TestReadKernelSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, ks := range kernelSets {
		for _, n := range []int{0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000, 1023, 4099, 8191} {
			buf := make([]float32, n)
			var want float64
			for i := range buf {
				buf[i] = float32(rng.IntN(9) - 4) // small integers: every order sums exactly
				want += float64(buf[i])
			}
			if got := ks.read(buf); float64(got) != want {
				t.Fatalf("%s: n=%d: sum %v, want %v", ks.name, n, got, want)
			}
			for _, s := range []int{0, 1, 2, 3, 4, 8, 9} {
				if got := ks.streams(buf, s); float64(got) != want {
					t.Fatalf("%s: n=%d, %d streams: sum %v, want %v", ks.name, n, s, got, want)
				}
			}
		}
	}
}

// dotNaive is the plain loop the kernels are checked and benchmarked against.
func dotNaive(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Every kernel set finds the exact top 10 by the int8 scan with rescoring,
// and UseKernel switches to each by name and refuses unknown names.
func TestUseKernel(t *testing.T) {
	defer UseKernel(Kernel())
	if err := UseKernel("avx1024"); err == nil {
		t.Fatal("UseKernel of an unknown set succeeded")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	ix, err := New(Options{Dim: 96, Mode: ModeInt8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		v := offsetSlice(rng, 96, 0)
		vecmath.Normalize(v)
		if err := ix.Add(uint32(i), v); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range Kernels() {
		if err := UseKernel(name); err != nil || Kernel() != name {
			t.Fatalf("UseKernel(%q): %v, in use %q", name, err, Kernel())
		}
		for range 20 {
			q := offsetSlice(rng, 96, 0)
			vecmath.Normalize(q)
			if r := Recall(ix.SearchInt8(q, 10, nil), ix.SearchExact(q, 10, nil)); r < 1 {
				t.Fatalf("%s: int8 recall@10 %.2f", name, r)
			}
		}
	}
}

// The gather kernels score scattered rows exactly.
func TestGatherKernelIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, ks := range kernelSets {
		gather := ks.gather
		if gather == nil {
			gather = gatherWith(ks.code)
		}
		for range 100 {
			dim, rows := 1+rng.IntN(800), 1+rng.IntN(200)
			stride := codeStride(dim)
			q := make([]int8, stride)
			for i := range dim {
				q[i] = int8(rng.IntN(2*int(ks.qmax)+1) - int(ks.qmax))
			}
			codes := make([]uint8, rows*stride)
			for i := range codes {
				codes[i] = uint8(rng.IntN(256))
			}
			ids := make([]uint32, rng.IntN(40))
			for i := range ids {
				ids[i] = uint32(rng.IntN(rows))
			}
			out := make([]int32, len(ids))
			gather(q, codes, stride, ids, out)
			for i, id := range ids {
				var want int32
				for j := range stride {
					want += int32(codes[int(id)*stride+j]) * int32(q[j])
				}
				if out[i] != want {
					t.Fatalf("%s: dim %d, row %d: %d, want %d", ks.name, dim, id, out[i], want)
				}
			}
		}
	}
}
