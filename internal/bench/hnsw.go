package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/kefu-dev/kefu/index/vector"
	"github.com/kefu-dev/kefu/internal/bench/synth"
)

// HNSWOptions configure HNSW. Zero fields take the defaults.
type HNSWOptions struct {
	N              int     // vectors, default 1000000
	Dim            int     // default 384
	Queries        int     // default 200
	Clusters       int     // default N/500 (2000 at 1M)
	Spread         float64 // noise norm around the centres, default 1
	M              int     // default vector.DefaultM
	EfConstruction int
	EfSearch       int
	Workers        int // build goroutines, default GOMAXPROCS
	Seed           uint64
	// EfSweep lists more EfSearch values to report recall and latency for.
	EfSweep []int
}

// EfPoint is the recall and latency of one EfSearch value.
type EfPoint struct {
	EfSearch   int     `json:"ef_search"`
	RecallAt10 float64 `json:"recall_at_10"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
}

// HNSWReport is HNSW's result. Queries run one after another on one
// core (GOMAXPROCS 1); the build uses Workers goroutines.
type HNSWReport struct {
	N              int       `json:"n"`
	Dim            int       `json:"dim"`
	Queries        int       `json:"queries"`
	M              int       `json:"m"`
	EfConstruction int       `json:"ef_construction"`
	EfSearch       int       `json:"ef_search"`
	Workers        int       `json:"build_workers"`
	RecallAt10     float64   `json:"recall_at_10"` // against the exact scan of the same index
	P50Ms          float64   `json:"p50_ms"`
	P99Ms          float64   `json:"p99_ms"`
	ExactMs        float64   `json:"exact_ms"` // median exact scan, for scale
	Sweep          []EfPoint `json:"ef_sweep,omitempty"`
	BuildS         float64   `json:"build_s"`      // from vector.FromRows (bookkeeping, quantisation) to the graph's going into use
	MemoryBytes    int64     `json:"memory_bytes"` // vectors + graph + bookkeeping (Index.MemoryBytes)
	GraphBytes     int64     `json:"graph_bytes"`
	HeapBytes      uint64    `json:"heap_bytes"` // Go heap in use after the build
	Data           string    `json:"data"`
}

// HNSW builds an HNSW index over clustered synthetic unit vectors and
// measures its recall and latency against the exact scan.
func HNSW(ctx context.Context, o HNSWOptions) (*HNSWReport, error) {
	def(&o.N, 1_000_000)
	def(&o.Dim, 384)
	def(&o.Queries, 200)
	def(&o.Clusters, max(o.N/500, 1))
	def(&o.Spread, 1)
	cl := synth.NewClusters(o.Dim, o.Clusters, o.Spread, o.Seed)
	qflat := make([]float32, o.Queries*o.Dim)
	cl.Fill(qflat)
	flat := make([]float32, o.N*o.Dim)
	cl.Fill(flat)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// The rows are indexed at once and the graph built in the background,
	// as when Load finds no graph.
	t0 := time.Now()
	ix, err := vector.FromRows(vector.Options{Dim: o.Dim, Mode: vector.ModeHNSW, M: o.M, EfConstruction: o.EfConstruction,
		EfSearch: o.EfSearch, Workers: o.Workers, Seed: o.Seed}, flat)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	if err := ix.WaitBuilt(ctx); err != nil {
		return nil, err
	}
	opts := ix.Options()
	rep := &HNSWReport{N: o.N, Dim: o.Dim, Queries: o.Queries, M: opts.M, EfConstruction: opts.EfConstruction,
		EfSearch: opts.EfSearch, Workers: opts.Workers, BuildS: time.Since(t0).Seconds(),
		Data: fmt.Sprintf("%d unit vectors around %d Gaussian clusters (isotropic noise of norm %.2g), queries from the same clusters", o.N, o.Clusters, o.Spread)}
	if ix.Mode() != vector.ModeHNSW {
		return nil, fmt.Errorf("bench hnsw: no graph after the build")
	}
	rep.MemoryBytes, rep.GraphBytes = ix.MemoryBytes(), ix.GraphBytes()
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	rep.HeapBytes = mem.HeapInuse
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	exact := make([][]vector.Result, o.Queries)
	exactT := make([]time.Duration, o.Queries)
	for i := range exact {
		t0 := time.Now()
		exact[i] = ix.SearchExact(qflat[i*o.Dim:(i+1)*o.Dim], 10, nil)
		exactT[i] = time.Since(t0)
		if i%16 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	rep.ExactMs = ms(medianOf(exactT))
	point := func(ef int) EfPoint {
		ix.SetEfSearch(ef)
		lat := make([]float64, o.Queries)
		var rec float64
		for i := range o.Queries {
			q := qflat[i*o.Dim : (i+1)*o.Dim]
			t0 := time.Now()
			got := ix.Search(q, 10, nil)
			lat[i] = ms(time.Since(t0))
			rec += vector.Recall(got, exact[i])
		}
		return EfPoint{EfSearch: ef, RecallAt10: rec / float64(o.Queries), P50Ms: pct(lat, 50), P99Ms: pct(lat, 99)}
	}
	for _, ef := range o.EfSweep {
		rep.Sweep = append(rep.Sweep, point(ef))
	}
	p := point(rep.EfSearch)
	rep.RecallAt10, rep.P50Ms, rep.P99Ms = p.RecallAt10, p.P50Ms, p.P99Ms
	return rep, ctx.Err()
}
