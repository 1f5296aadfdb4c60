//go:build goexperiment.simd && amd64

#include "textflag.h"

// The int8 scan's kernel on AVX512-VNNI. Go 1.26's simd/archsimd offers no
// VPDPBUSD (its dot products of bytes are VPMADDUBSW, which saturates
// int16 pairs, and VPMADDWD), so this one kernel is assembly: one VPDPBUSD
// multiplies 64 unsigned codes by 64 signed query bytes and adds each
// group of four products into an int32 lane, with no intermediate
// saturation and one instruction where the archsimd kernel needs two.
//
// Rows are read one after the other (the order the hardware prefetcher
// follows best, see scanAVX512) with one accumulator each, four rows a
// round, and the four accumulators are reduced together: the horizontal
// sums cost a fraction of a row's VPDPBUSDs. The query is the memory
// operand, read from L1.

// func dotCodesVNNI(q *int8, codes *uint8, stride, w int, out *int32, n int)
// out[r] = Σ_j codes[r*stride+j]·q[j] for r < n, j < w; w a positive
// multiple of 64.
TEXT ·dotCodesVNNI(SB), NOSPLIT, $0-48
	MOVQ q+0(FP), SI
	MOVQ codes+8(FP), DI
	MOVQ stride+16(FP), BX
	MOVQ w+24(FP), CX
	MOVQ out+32(FP), DX
	MOVQ n+40(FP), R8

four:
	CMPQ R8, $4
	JLT  one
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

	XORQ AX, AX
row0:
	VMOVDQU64 (DI)(AX*1), Z0
	VPDPBUSD  (SI)(AX*1), Z0, Z4
	ADDQ      $64, AX
	CMPQ      AX, CX
	JLT       row0
	ADDQ      BX, DI

	XORQ AX, AX
row1:
	VMOVDQU64 (DI)(AX*1), Z1
	VPDPBUSD  (SI)(AX*1), Z1, Z5
	ADDQ      $64, AX
	CMPQ      AX, CX
	JLT       row1
	ADDQ      BX, DI

	XORQ AX, AX
row2:
	VMOVDQU64 (DI)(AX*1), Z2
	VPDPBUSD  (SI)(AX*1), Z2, Z6
	ADDQ      $64, AX
	CMPQ      AX, CX
	JLT       row2
	ADDQ      BX, DI

	XORQ AX, AX
row3:
	VMOVDQU64 (DI)(AX*1), Z3
	VPDPBUSD  (SI)(AX*1), Z3, Z7
	ADDQ      $64, AX
	CMPQ      AX, CX
	JLT       row3
	ADDQ      BX, DI

	// Sixteen lanes to four in each accumulator, then the four together.
	VEXTRACTI64X4 $1, Z4, Y8
	VPADDD        Y8, Y4, Y4
	VEXTRACTI64X4 $1, Z5, Y9
	VPADDD        Y9, Y5, Y5
	VEXTRACTI64X4 $1, Z6, Y10
	VPADDD        Y10, Y6, Y6
	VEXTRACTI64X4 $1, Z7, Y11
	VPADDD        Y11, Y7, Y7
	VEXTRACTI128  $1, Y4, X8
	VPADDD        X8, X4, X4
	VEXTRACTI128  $1, Y5, X9
	VPADDD        X9, X5, X5
	VEXTRACTI128  $1, Y6, X10
	VPADDD        X10, X6, X6
	VEXTRACTI128  $1, Y7, X11
	VPADDD        X11, X7, X7
	VPHADDD       X5, X4, X4
	VPHADDD       X7, X6, X6
	VPHADDD       X6, X4, X4
	VMOVDQU       X4, (DX)
	ADDQ          $16, DX
	SUBQ          $4, R8
	JMP           four

one:
	TESTQ R8, R8
	JEQ   done
	VPXORD Z4, Z4, Z4
	XORQ   AX, AX
rowN:
	VMOVDQU64 (DI)(AX*1), Z0
	VPDPBUSD  (SI)(AX*1), Z0, Z4
	ADDQ      $64, AX
	CMPQ      AX, CX
	JLT       rowN
	ADDQ      BX, DI
	VEXTRACTI64X4 $1, Z4, Y8
	VPADDD        Y8, Y4, Y4
	VEXTRACTI128  $1, Y4, X8
	VPADDD        X8, X4, X4
	VPHADDD       X4, X4, X4
	VPHADDD       X4, X4, X4
	VMOVD         X4, (DX)
	ADDQ          $4, DX
	DECQ          R8
	JMP           one

done:
	VZEROUPPER
	RET

// func gatherCodesVNNI(q *int8, codes *uint8, stride, w int, ids *uint32, out *int32, n int)
// out[i] = Σ_j codes[ids[i]*stride+j]·q[j] for i < n, j < w: the rows an
// HNSW hop scores, scattered over the index. Every line of every row is
// prefetched first, so their cache misses overlap instead of each row's
// waiting for the one before.
TEXT ·gatherCodesVNNI(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), SI
	MOVQ codes+8(FP), DI
	MOVQ stride+16(FP), BX
	MOVQ w+24(FP), CX
	MOVQ ids+32(FP), R9
	MOVQ out+40(FP), DX
	MOVQ n+48(FP), R8

	XORQ R10, R10
prefetch:
	CMPQ   R10, R8
	JGE    score
	MOVL   (R9)(R10*4), R11
	IMULQ  BX, R11
	ADDQ   DI, R11
	XORQ   AX, AX
prefetchRow:
	PREFETCHT0 (R11)(AX*1)
	ADDQ       $64, AX
	CMPQ       AX, CX
	JLT        prefetchRow
	INCQ       R10
	JMP        prefetch

score:
	XORQ R10, R10
scoreRow:
	CMPQ   R10, R8
	JGE    gdone
	MOVL   (R9)(R10*4), R11
	IMULQ  BX, R11
	ADDQ   DI, R11
	VPXORD Z4, Z4, Z4
	XORQ   AX, AX
scoreLoop:
	VMOVDQU64 (R11)(AX*1), Z0
	VPDPBUSD  (SI)(AX*1), Z0, Z4
	ADDQ      $64, AX
	CMPQ      AX, CX
	JLT       scoreLoop
	VEXTRACTI64X4 $1, Z4, Y8
	VPADDD        Y8, Y4, Y4
	VEXTRACTI128  $1, Y4, X8
	VPADDD        X8, X4, X4
	VPHADDD       X4, X4, X4
	VPHADDD       X4, X4, X4
	VMOVD         X4, (DX)(R10*4)
	INCQ          R10
	JMP           scoreRow

gdone:
	VZEROUPPER
	RET
