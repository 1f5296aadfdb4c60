// Package vector is kefu's vector index: SIMD dot-product kernels, exact
// float32 search, int8-quantised search with float32 rescoring, and an HNSW
// graph for large knowledge bases, all over unit vectors grouped under
// uint32 labels (chunk ordinals), with filters applied inside the search and
// a crash-safe, checksummed file format.
//
// The kernels use Go's simd/archsimd package (GOEXPERIMENT=simd, amd64) with
// AVX-512 and AVX2 paths chosen at run time; other builds and CPUs use the
// pure-Go kernels in generic.go. Kernel reports which one is in use.
package vector
