package bench

import (
	"context"
	"runtime"
	"time"

	"github.com/coder/hnsw"

	"github.com/kefu-dev/kefu/index/vector"
)

// CoderReport is github.com/coder/hnsw on the vectors and queries of an
// HNSW run.
type CoderReport struct {
	Version string  `json:"version"`
	M       int     `json:"m"`
	BuildS  float64 `json:"build_s"` // one goroutine: its Add is not safe for concurrent use
	// HeapBytes is the Go heap the graph adds (after a GC); the vectors
	// are the benchmark's own slices, not copied.
	HeapBytes uint64    `json:"heap_bytes"`
	Sweep     []EfPoint `json:"ef_sweep"`
}

// benchCoder builds a coder/hnsw graph of the rows of flat (M links a
// node on every layer, its design; EfSearch efConstruction while adding,
// as the library uses EfSearch for both) and measures recall@10 and
// latency at each ef on one core. Its distance is 1 − vector.Dot, the same
// SIMD kernel kefu scores with, so the comparison is of the graphs and
// their code, not of the distance function (the library's CosineDistance
// would also compute norms).
func benchCoder(ctx context.Context, flat, qflat []float32, dim, m, efc int, efs []int, exact [][]vector.Result) (*CoderReport, error) {
	rep := &CoderReport{Version: "v0.6.1", M: m}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := hnsw.NewGraph[uint32]()
	g.M, g.EfSearch = m, efc
	g.Distance = func(a, b []float32) float32 { return 1 - vector.Dot(a, b) }
	n := len(flat) / dim
	t0 := time.Now()
	for i := range n {
		g.Add(hnsw.MakeNode(uint32(i), flat[i*dim:(i+1)*dim:(i+1)*dim]))
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	rep.BuildS = time.Since(t0).Seconds()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	rep.HeapBytes = after.HeapInuse - min(after.HeapInuse, before.HeapInuse)

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	nq := len(qflat) / dim
	for _, ef := range efs {
		g.EfSearch = ef
		rep.Sweep = append(rep.Sweep, timeQueries(nq, func(i int) []vector.Result {
			nodes := g.Search(qflat[i*dim:(i+1)*dim], 10)
			got := make([]vector.Result, len(nodes))
			for j, nd := range nodes {
				got[j] = vector.Result{Label: nd.Key}
			}
			return got
		}, exact, ef))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return rep, nil
}
