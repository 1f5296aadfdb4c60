package vector

// The kernels in use, set at start-up by the build's init (kernel_simd.go on
// GOEXPERIMENT=simd amd64 builds) from the CPU's features.
var (
	kernelName  = "generic"
	dotKernel   = dotGeneric
	scanKernel  = scanGeneric
	codeKernel  = scanCodesGeneric
	readKernel  = readGeneric
	readStreams = readStreamsGeneric
)

// Dot returns the dot product of a and b, which must have the same length;
// it uses SIMD when the build and the CPU allow. NaN in gives NaN out, like
// the plain loop; sums are accumulated in a different order, so results
// differ from the plain loop by rounding only.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic("vector: Dot of slices of different lengths")
	}
	return dotKernel(a, b)
}

// Kernel names the implementation in use: "avx512-vnni", "avx512", "avx2"
// or "generic".
func Kernel() string { return kernelName }

// Sum returns the sum of buf's elements, read front to back with the
// kernel's widest loads and little other work: one stream, the access
// pattern of the exact scan.
func Sum(buf []float32) float32 { return readKernel(buf) }

// SumStreams returns the sum of buf's elements, read as streams (2, 4 or 8;
// other values read one) equal parts side by side: the read-bandwidth
// probe of the benchmarks, STREAM's way of keeping several independent
// streams of wide loads in flight.
func SumStreams(buf []float32, streams int) float32 { return readStreams(buf, streams) }
