package bench

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"

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
	// Data is "clusters" (default: Gaussian clusters of N synthetic
	// vectors) or "real" (RealVectors: sentences of the shared corpora
	// embedded with Real.Model, at most N of them when N is set; the
	// queries are SciFact's claims, Queries of them when set).
	Data string
	Real RealOptions
	// Coder also builds github.com/coder/hnsw over the same vectors and
	// measures it at the same ef values: the second Go HNSW library.
	Coder bool
}

// EfPoint is the recall and latency of one EfSearch value.
type EfPoint struct {
	EfSearch   int     `json:"ef_search"`
	RecallAt10 float64 `json:"recall_at_10"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	// CPU time of the searching thread, per query: the steadier figure on
	// a shared machine.
	CPUP50Ms float64 `json:"cpu_p50_ms"`
	CPUP99Ms float64 `json:"cpu_p99_ms"`
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
	// Coder is github.com/coder/hnsw on the same vectors and queries.
	Coder       *CoderReport `json:"coder_hnsw,omitempty"`
	BuildS      float64      `json:"build_s"`      // from vector.FromRows (bookkeeping, quantisation) to the graph's going into use
	MemoryBytes int64        `json:"memory_bytes"` // vectors + graph + bookkeeping (Index.MemoryBytes)
	GraphBytes  int64        `json:"graph_bytes"`
	HeapBytes   uint64       `json:"heap_bytes"` // Go heap in use after the build
	Data        string       `json:"data"`
}

// HNSW builds an HNSW index over clustered synthetic unit vectors and
// measures its recall and latency against the exact scan.
func HNSW(ctx context.Context, o HNSWOptions) (*HNSWReport, error) {
	var flat, qflat []float32
	var data string
	switch o.Data {
	case "", "clusters":
		def(&o.N, 1_000_000)
		def(&o.Dim, 384)
		def(&o.Queries, 200)
		def(&o.Clusters, max(o.N/500, 1))
		def(&o.Spread, 1)
		cl := synth.NewClusters(o.Dim, o.Clusters, o.Spread, o.Seed)
		qflat = make([]float32, o.Queries*o.Dim)
		cl.Fill(qflat)
		flat = make([]float32, o.N*o.Dim)
		cl.Fill(flat)
		data = fmt.Sprintf("%d unit vectors around %d Gaussian clusters (isotropic noise of norm %.2g), queries from the same clusters", o.N, o.Clusters, o.Spread)
	case "real":
		ro := o.Real
		ro.Max, ro.Queries = o.N, o.Queries
		set, err := RealVectors(ctx, ro)
		if err != nil {
			return nil, err
		}
		o.N, o.Dim, flat = set.N, set.Dim, set.Vecs
		o.Queries = min(cmp.Or(o.Queries, set.Queries), set.Queries)
		qflat = set.QVecs[:o.Queries*o.Dim]
		data = fmt.Sprintf("%d texts of the shared corpora embedded with %s (%d-d): %s; queries: %d SciFact claims", set.N, set.Model, set.Dim, realSources(set.Sources), o.Queries)
	default:
		return nil, kefu.Errorf(kefu.EINVALID, "bench hnsw: data %q is neither clusters nor real", o.Data)
	}
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
		EfSearch: opts.EfSearch, Workers: opts.Workers, BuildS: time.Since(t0).Seconds(), Data: data}
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
		return timeQueries(o.Queries, func(i int) []vector.Result {
			return ix.Search(qflat[i*o.Dim:(i+1)*o.Dim], 10, nil)
		}, exact, ef)
	}
	for _, ef := range o.EfSweep {
		rep.Sweep = append(rep.Sweep, point(ef))
	}
	p := point(rep.EfSearch)
	rep.RecallAt10, rep.P50Ms, rep.P99Ms = p.RecallAt10, p.P50Ms, p.P99Ms
	if o.Coder && ctx.Err() == nil {
		runtime.GOMAXPROCS(runtime.NumCPU())
		efs := append(slices.Clone(o.EfSweep), rep.EfSearch)
		if rep.Coder, err = benchCoder(ctx, flat, qflat, o.Dim, rep.M, rep.EfConstruction, efs, exact); err != nil {
			return nil, err
		}
	}
	return rep, ctx.Err()
}

// realSources says what the real dataset holds.
func realSources(src map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(src)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, src[k]))
	}
	return strings.Join(parts, ", ")
}

// timeQueries runs search for each query on this thread and returns its
// recall@10 against exact and the percentiles of wall and CPU time.
func timeQueries(n int, search func(i int) []vector.Result, exact [][]vector.Result, ef int) EfPoint {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lat, cpu := make([]float64, n), make([]float64, n)
	var rec float64
	for i := range n {
		t0, c0 := time.Now(), threadCPU()
		got := search(i)
		cpu[i], lat[i] = ms(threadCPU()-c0), ms(time.Since(t0))
		rec += vector.Recall(got, exact[i])
	}
	return EfPoint{EfSearch: ef, RecallAt10: rec / float64(n), P50Ms: pct(lat, 50), P99Ms: pct(lat, 99),
		CPUP50Ms: pct(cpu, 50), CPUP99Ms: pct(cpu, 99)}
}
