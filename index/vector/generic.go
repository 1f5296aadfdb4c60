package vector

// The pure-Go kernels: the fallback on builds without GOEXPERIMENT=simd and
// on CPUs without AVX2, and the reference the SIMD kernels are tested against.

// dotGeneric is the dot product with four accumulators. Their order of
// summation differs from a single running sum only by rounding.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// scanGeneric sets out[r] to the dot product of q with row r of rows, a
// row-major matrix of len(out) rows of len(q) floats.
func scanGeneric(q, rows []float32, out []float32) {
	dim := len(q)
	for r := range out {
		out[r] = dotGeneric(q, rows[r*dim:(r+1)*dim])
	}
}

// scanCodesGeneric sets out[r] to the integer dot product of the int8 query
// q with row r of codes (stride bytes a row, each byte an int8 code plus
// 128); the caller removes the offset (128·Σq).
func scanCodesGeneric(q []int8, codes []uint8, stride int, out []int32) {
	for r := range out {
		row := codes[r*stride : r*stride+len(q)]
		var s int32
		for i, c := range row {
			s += int32(c) * int32(q[i])
		}
		out[r] = s
	}
}

// gatherWith returns the gather kernel of a set without one of its own: it
// sets out[i] to the integer dot product of q with row ids[i] of codes (the
// rows an HNSW hop scores), one row at a time with code; len(out) ≥ len(ids).
func gatherWith(code func(q []int8, codes []uint8, stride int, out []int32)) func(q []int8, codes []uint8, stride int, ids []uint32, out []int32) {
	return func(q []int8, codes []uint8, stride int, ids []uint32, out []int32) {
		for i, id := range ids {
			code(q, codes[int(id)*stride:int(id)*stride+stride], stride, out[i:i+1])
		}
	}
}

// readGeneric sums buf with eight accumulators: the memory-bandwidth probe
// when no SIMD kernel is available.
func readGeneric(buf []float32) float32 {
	var s [8]float32
	i := 0
	for ; i+8 <= len(buf); i += 8 {
		b := (*[8]float32)(buf[i : i+8])
		s[0] += b[0]
		s[1] += b[1]
		s[2] += b[2]
		s[3] += b[3]
		s[4] += b[4]
		s[5] += b[5]
		s[6] += b[6]
		s[7] += b[7]
	}
	for ; i < len(buf); i++ {
		s[0] += buf[i]
	}
	return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7]
}

// readStreamsGeneric sums buf read as streams equal parts side by side, 64
// bytes of each in turn.
func readStreamsGeneric(buf []float32, streams int) float32 {
	if streams < 2 || streams > 8 {
		return readGeneric(buf)
	}
	part := len(buf) / streams &^ 15
	var sum float32
	for i := 0; i < part; i += 16 {
		for s := range streams {
			sum += readGeneric(buf[s*part+i : s*part+i+16])
		}
	}
	return sum + readGeneric(buf[streams*part:])
}
