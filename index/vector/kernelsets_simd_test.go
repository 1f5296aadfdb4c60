//go:build goexperiment.simd && amd64

package vector

import "simd/archsimd"

// kernelSets returns every kernel set this CPU can run.
func kernelSets() []kernelSet {
	sets := []kernelSet{{"generic", dotGeneric, scanGeneric, scanCodesGeneric, readGeneric}}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		sets = append(sets, kernelSet{"avx2", dotAVX2, scanAVX2, scanCodesAVX2, readAVX2})
	}
	if archsimd.X86.AVX512() {
		sets = append(sets, kernelSet{"avx512", dotAVX512, scanAVX512, scanCodesAVX512, readAVX512})
	}
	return sets
}
