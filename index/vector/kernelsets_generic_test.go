//go:build !(goexperiment.simd && amd64)

package vector

// kernelSets returns the kernel sets of this build: the pure-Go ones.
func kernelSets() []kernelSet {
	return []kernelSet{{"generic", dotGeneric, scanGeneric, scanCodesGeneric, readGeneric, readStreamsGeneric, queryMaxWide}}
}
