package vector

import (
	"fmt"
	"slices"
)

// kernelSet is one implementation of the kernels.
type kernelSet struct {
	name    string
	dot     func(a, b []float32) float32
	scan    func(q, rows, out []float32)
	code    func(q []int8, codes []uint8, stride int, out []int32)
	read    func(buf []float32) float32
	streams func(buf []float32, streams int) float32
	qmax    int32                                                                // the query codes' range code takes without overflow
	gather  func(q []int8, codes []uint8, stride int, ids []uint32, out []int32) // nil: gatherWith(code)
}

// kernelSets are the sets this build and CPU can run, best last: the
// generic one, then those kernel_simd.go's init adds from the CPU's
// features (and switches to).
var kernelSets = []kernelSet{{"generic", dotGeneric, scanGeneric, scanCodesGeneric, readGeneric, readStreamsGeneric, queryMaxWide, nil}}

// The kernels in use: the generic ones until an init calls use.
var (
	kernelName   = "generic"
	dotKernel    = dotGeneric
	scanKernel   = scanGeneric
	codeKernel   = scanCodesGeneric
	readKernel   = readGeneric
	readStreams  = readStreamsGeneric
	gatherKernel = gatherWith(scanCodesGeneric)
)

func use(ks kernelSet) {
	kernelName, dotKernel, scanKernel, codeKernel, readKernel, readStreams = ks.name, ks.dot, ks.scan, ks.code, ks.read, ks.streams
	gatherKernel = ks.gather
	if gatherKernel == nil {
		gatherKernel = gatherWith(ks.code)
	}
	queryMax = ks.qmax
}

// Kernels names the kernel sets this build and CPU can run, the one
// chosen at start-up (the best) last.
func Kernels() []string {
	var names []string
	for _, ks := range kernelSets {
		names = append(names, ks.name)
	}
	return names
}

// UseKernel switches every index of the process to the named kernel set:
// for benchmarks that compare kernels in one run. It must not be called
// while anything searches or adds; stored codes do not depend on the
// kernel.
func UseKernel(name string) error {
	i := slices.IndexFunc(kernelSets, func(ks kernelSet) bool { return ks.name == name })
	if i < 0 {
		return fmt.Errorf("vector: kernel %q is not one of %v", name, Kernels())
	}
	use(kernelSets[i])
	return nil
}

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
