//go:build goexperiment.simd && amd64

package vector

import "unsafe"

// dotCodesVNNI is kernel_vnni_amd64.s: out[r] = Σ_j codes[r·stride+j]·q[j]
// for r < n and j < w, a positive multiple of 64.
//
//go:noescape
func dotCodesVNNI(q *int8, codes *uint8, stride, w int, out *int32, n int)

// scanCodesVNNI is the int8 scan on AVX512-VNNI (VPDPBUSD): exact int32
// sums whatever the query's range, so the query keeps 7 bits plus sign
// (queryMaxWide) instead of the 6 the VPMADDUBSW kernels can take.
func scanCodesVNNI(q []int8, codes []uint8, stride int, out []int32) {
	n, w := len(out), len(q)
	if n == 0 {
		return
	}
	if w == 0 {
		clear(out)
		return
	}
	if w%64 != 0 || stride < w {
		panic("vector: int8 query not a multiple of 64 bytes")
	}
	codes = codes[:(n-1)*stride+w]
	dotCodesVNNI(unsafe.SliceData(q), unsafe.SliceData(codes), stride, w, unsafe.SliceData(out), n)
}

// gatherCodesVNNI is kernel_vnni_amd64.s: out[i] = Σ_j codes[ids[i]·stride+j]·q[j]
// for i < n and j < w, a positive multiple of 64, every row prefetched first.
//
//go:noescape
func gatherCodesVNNI(q *int8, codes *uint8, stride, w int, ids *uint32, out *int32, n int)

// gatherVNNI scores the rows ids of codes against q (gatherGeneric's
// contract) with gatherCodesVNNI.
func gatherVNNI(q []int8, codes []uint8, stride int, ids []uint32, out []int32) {
	n, w := len(ids), len(q)
	out = out[:n]
	if n == 0 {
		return
	}
	if w%64 != 0 || stride < w || w == 0 {
		panic("vector: int8 query not a positive multiple of 64 bytes")
	}
	rows := uint32(len(codes) / stride)
	for _, id := range ids {
		if id >= rows {
			panic("vector: gather of a row past the codes")
		}
	}
	gatherCodesVNNI(unsafe.SliceData(q), unsafe.SliceData(codes), stride, w, unsafe.SliceData(ids), unsafe.SliceData(out), n)
}
