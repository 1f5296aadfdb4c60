// Package vector is kefu's vector index: SIMD dot-product kernels, exact
// float32 search, int8-quantised search with float32 rescoring, and an HNSW
// graph for large knowledge bases, all over unit vectors grouped under
// uint32 labels (chunk ordinals), with filters applied inside the search and
// a crash-safe, checksummed file format.
//
// The kernels use Go's simd/archsimd package (GOEXPERIMENT=simd, amd64) with
// AVX-512 and AVX2 paths chosen at run time, and on CPUs with AVX512-VNNI
// an assembly int8 kernel (kernel_vnni_amd64.s: VPDPBUSD, which archsimd
// does not offer); other builds and CPUs use the pure-Go kernels in
// generic.go. Kernel reports which set is in use, Kernels those the CPU can
// run, and UseKernel switches sets for benchmarks.
//
// Search modes (Options.Mode):
//   - flat: exact scan of the float32 rows, memory-bound (kernel_simd.go).
//   - int8: scan of per-vector-scaled int8 codes (quant.go), a quarter of
//     the bytes, then float32 rescoring of the best max(Rescore, 4k) labels.
//   - hnsw: graph search (hnsw.go); deleted rows stay as tombstones until
//     Add reuses them.
//   - auto (default): flat below Int8Min vectors, int8 below HNSWMin, HNSW
//     from HNSWMin on (the graph is dropped when deletes bring the index
//     under HNSWMin/2).
//
// Graphs are built in the background (build.go): the Add that crosses
// HNSWMin, the Delete that compacts and Load of a file without a graph
// start a goroutine and return; searches use the int8 scan until the graph
// is ready, and the vectors added or deleted meanwhile are reflected in it
// when it goes into use. Building reports a build in progress, WaitBuilt
// waits for it, and Close stops it.
//
// Filters: an allow-list of labels is checked inside every scan and graph
// traversal (disallowed nodes are traversed, never returned); when it admits
// few rows the search scores just those rows instead.
//
// The package holds the product's vector search only: the measurements of
// `kefu-bench vector` and `kefu-bench hnsw` live in internal/bench, and
// use SearchExact, SearchInt8, FromRows, SumStreams and UseKernel from
// here. It imports the root (kefu) and internal/atomicfile, no other stage.
package vector
