//go:build goexperiment.simd && amd64

package vector

import "simd/archsimd"

// kernelSets returns every kernel set this CPU can run.
func kernelSets() []kernelSet {
	sets := []kernelSet{{"generic", dotGeneric, scanGeneric, scanCodesGeneric, readGeneric, readStreamsGeneric, queryMaxWide}}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		sets = append(sets, kernelSet{"avx2", dotAVX2, scanAVX2, scanCodesAVX2, readAVX2, readStreamsGeneric, queryMaxSat})
	}
	if archsimd.X86.AVX512() {
		sets = append(sets, kernelSet{"avx512", dotAVX512, scanAVX512, scanCodesAVX512, readAVX512, readStreamsAVX512, queryMaxSat})
	}
	if archsimd.X86.AVX512() && archsimd.X86.AVX512VNNI() {
		sets = append(sets, kernelSet{"avx512-vnni", dotAVX512, scanAVX512, scanCodesVNNI, readAVX512, readStreamsAVX512, queryMaxWide})
	}
	return sets
}
