package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/philippgille/chromem-go"
)

// The benchmarks behind `kefu bench vector` and `kefu bench hnsw`. Every
// figure they report as a ratio compares two measurements of the same run,
// so a busy machine shifts both sides alike.

// BenchVectorOptions configure BenchVector. Zero fields take the defaults.
type BenchVectorOptions struct {
	N        int    // vectors, default 100000
	Dim      int    // default 384
	Queries  int    // default 50
	Clusters int    // default N/100
	Seed     uint64 // data
	// ProbeBytes is the buffer of the memory-bandwidth probe, default 1 GiB:
	// far larger than any cache.
	ProbeBytes int
	// Dir holds the temporary index file of the load measurement (default
	// the system's temporary directory).
	Dir         string
	SkipChromem bool // leave out the chromem-go baseline (slow to fill)
}

// VectorReport is BenchVector's result. Times are medians over the queries
// (or repetitions); scans run on one core (GOMAXPROCS 1), queries one
// after another.
type VectorReport struct {
	Kernel  string `json:"kernel"`
	N       int    `json:"n"`
	Dim     int    `json:"dim"`
	Queries int    `json:"queries"`

	DotNs             float64 `json:"dot_ns"`       // Dot, Dim dims
	DotNaiveNs        float64 `json:"dot_naive_ns"` // for i := range a { s += a[i]*b[i] }
	DotSpeedupVsNaive float64 `json:"dot_speedup_vs_naive"`

	// MemReadGBs is the read bandwidth of one core: a loop of 64-byte
	// loads (the kernel's widest vectors) summing a ProbeBytes buffer, one
	// pass before each round of scans, median of 5 rounds.
	MemReadGBs         float64 `json:"mem_read_gb_s"`
	ScanMs             float64 `json:"scan_ms"`   // exact float32 search of N×Dim, k=10
	ScanGBs            float64 `json:"scan_gb_s"` // N·Dim·4 bytes / ScanMs
	ScanBandwidthShare float64 `json:"scan_bandwidth_share"`

	ChromemMs            float64 `json:"chromem_ms,omitempty"` // chromem-go QueryEmbedding, k=10
	ScanSpeedupVsChromem float64 `json:"scan_speedup_vs_chromem,omitempty"`
	ChromemAgreement     float64 `json:"chromem_agreement,omitempty"` // share of top-10 labels both return

	Int8Ms           float64 `json:"int8_ms"` // int8 scan + rescoring, k=10
	Int8GBs          float64 `json:"int8_gb_s"`
	Int8SpeedupVsF32 float64 `json:"int8_speedup_vs_f32"`
	Int8RecallAt10   float64 `json:"int8_recall_at_10"` // against the exact search
	Int8Rescored     int     `json:"int8_rescored"`     // labels rescored per query

	FileBytes int64   `json:"file_bytes"`
	SaveMs    float64 `json:"save_ms"`
	LoadMs    float64 `json:"load_ms"` // Load of the saved index (file in the page cache)
	Data      string  `json:"data"`
}

// BenchVector measures the kernels and the exact and int8 scans against
// their baselines.
func BenchVector(ctx context.Context, o BenchVectorOptions) (*VectorReport, error) {
	def(&o.N, 100_000)
	def(&o.Dim, 384)
	def(&o.Queries, 50)
	def(&o.Clusters, max(o.N/100, 1))
	def(&o.ProbeBytes, 1<<30)
	rep := &VectorReport{Kernel: Kernel(), N: o.N, Dim: o.Dim, Queries: o.Queries,
		Data: fmt.Sprintf("%d unit vectors around %d Gaussian clusters (noise norm 1), queries from the same clusters", o.N, o.Clusters)}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	cl := NewClusters(o.Dim, o.Clusters, 1, o.Seed)
	flat := make([]float32, o.N*o.Dim)
	cl.Fill(flat)
	qflat := make([]float32, o.Queries*o.Dim)
	cl.Fill(qflat)
	queries := make([][]float32, o.Queries)
	for i := range queries {
		queries[i] = qflat[i*o.Dim : (i+1)*o.Dim]
	}

	// Dot product: the two loops alternate, so load from other processes
	// falls on both.
	a, b := flat[:o.Dim], flat[o.Dim:2*o.Dim]
	simd, naive := alternate(7, func(n int) float32 {
		var s float32
		for range n {
			s += Dot(a, b)
		}
		return s
	}, func(n int) float32 {
		var s float32
		for range n {
			s += dotNaive(a, b)
		}
		return s
	})
	rep.DotNs, rep.DotNaiveNs = simd, naive
	rep.DotSpeedupVsNaive = rep.DotNaiveNs / rep.DotNs

	probe := make([]float32, o.ProbeBytes/4)
	for i := range probe {
		probe[i] = 1
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	ix, err := New(Options{Dim: o.Dim, Mode: ModeInt8})
	if err != nil {
		return nil, err
	}
	for i := range o.N {
		if err := ix.Add(uint32(i), flat[i*o.Dim:(i+1)*o.Dim]); err != nil {
			return nil, err
		}
	}
	rep.Int8Rescored = max(ix.opts.Rescore, 40)

	// Exact and int8 scans, in rounds that each start with a pass of the
	// bandwidth probe; the first round warms up.
	s := ix.getScratch()
	exact := make([][]Result, len(queries))
	var scan, int8, read []time.Duration
	var rec float64
	for round := range 6 {
		if round == 1 {
			scan, int8, read, rec = scan[:0], int8[:0], read[:0], 0
		}
		t0 := time.Now()
		sink = readKernel(probe)
		read = append(read, time.Since(t0))
		for i, q := range queries {
			t0 := time.Now()
			exact[i] = ix.searchFlat(q, 10, nil, s)
			t1 := time.Now()
			got := ix.searchInt8(q, 10, nil, s)
			t2 := time.Now()
			scan, int8 = append(scan, t1.Sub(t0)), append(int8, t2.Sub(t1))
			rec += recall10(got, exact[i])
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	probe = nil
	bytes := float64(o.N * o.Dim * 4)
	rep.MemReadGBs = float64(o.ProbeBytes) / 1e9 / medianOf(read).Seconds()
	rep.ScanMs = ms(medianOf(scan))
	rep.ScanGBs = bytes / 1e9 / medianOf(scan).Seconds()
	rep.ScanBandwidthShare = rep.ScanGBs / rep.MemReadGBs
	rep.Int8Ms = ms(medianOf(int8))
	rep.Int8GBs = bytes / 4 / 1e9 / medianOf(int8).Seconds()
	rep.Int8SpeedupVsF32 = rep.ScanMs / rep.Int8Ms
	rep.Int8RecallAt10 = rec / float64(5*len(queries))

	// Save and load.
	dir := o.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	tmp, err := os.MkdirTemp(dir, "kefu-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "vectors.idx")
	t0 := time.Now()
	if err := ix.Save(path); err != nil {
		return nil, err
	}
	rep.SaveMs = ms(time.Since(t0))
	if st, err := os.Stat(path); err == nil {
		rep.FileBytes = st.Size()
	}
	var loadErr error
	var loaded []*Index
	rep.LoadMs = ms(median(3, func() {
		back, err := Load(path, Options{Mode: ModeAuto})
		if err != nil {
			loadErr = err
			return
		}
		loaded = append(loaded, back)
	}))
	for _, back := range loaded {
		back.Close() // stops the background graph build when N ≥ HNSWMin
	}
	if loadErr != nil {
		return nil, loadErr
	}

	if !o.SkipChromem {
		if err := benchChromem(ctx, rep, ix, flat, queries, exact); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// benchChromem runs the same queries through chromem-go's query path (a
// collection of documents with precomputed embeddings, QueryEmbedding),
// each followed by the exact scan of ix again for the ratio.
func benchChromem(ctx context.Context, rep *VectorReport, ix *Index, flat []float32, queries [][]float32, exact [][]Result) error {
	dim := rep.Dim
	db := chromem.NewDB()
	col, err := db.CreateCollection("bench", nil, func(context.Context, string) ([]float32, error) {
		return nil, fmt.Errorf("bench: no embedding function")
	})
	if err != nil {
		return err
	}
	docs := make([]chromem.Document, rep.N)
	for i := range docs {
		docs[i] = chromem.Document{ID: strconv.Itoa(i), Embedding: slices.Clone(flat[i*dim : (i+1)*dim]), Content: "x"}
	}
	if err := col.AddDocuments(ctx, docs, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	docs = nil
	var times, scan []time.Duration
	var agree float64
	s := ix.getScratch()
	for round := range 2 {
		times, scan, agree = times[:0], scan[:0], 0
		for i, q := range queries {
			t0 := time.Now()
			res, err := col.QueryEmbedding(ctx, q, 10, nil, nil)
			t1 := time.Now()
			ix.searchFlat(q, 10, nil, s)
			times, scan = append(times, t1.Sub(t0)), append(scan, time.Since(t1))
			if err != nil {
				return err
			}
			got := make([]Result, len(res))
			for j, r := range res {
				l, _ := strconv.Atoi(r.ID)
				got[j] = Result{Label: uint32(l), Score: r.Similarity}
			}
			agree += recall10(got, exact[i])
		}
		if round == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	rep.ChromemMs = ms(medianOf(times))
	rep.ScanSpeedupVsChromem = rep.ChromemMs / ms(medianOf(scan))
	rep.ChromemAgreement = agree / float64(len(queries))
	return nil
}

// BenchHNSWOptions configure BenchHNSW. Zero fields take the defaults.
type BenchHNSWOptions struct {
	N              int     // vectors, default 1000000
	Dim            int     // default 384
	Queries        int     // default 200
	Clusters       int     // default N/500 (2000 at 1M)
	Spread         float64 // noise norm around the centres, default 1
	M              int     // default DefaultM
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

// HNSWReport is BenchHNSW's result. Queries run one after another on one
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
	BuildS         float64   `json:"build_s"`
	MemoryBytes    int64     `json:"memory_bytes"` // vectors + graph + bookkeeping (Index.MemoryBytes)
	GraphBytes     int64     `json:"graph_bytes"`
	HeapBytes      uint64    `json:"heap_bytes"` // Go heap in use after the build
	Data           string    `json:"data"`
}

// BenchHNSW builds an HNSW index over clustered synthetic unit vectors and
// measures its recall and latency against the exact scan.
func BenchHNSW(ctx context.Context, o BenchHNSWOptions) (*HNSWReport, error) {
	def(&o.N, 1_000_000)
	def(&o.Dim, 384)
	def(&o.Queries, 200)
	def(&o.Clusters, max(o.N/500, 1))
	def(&o.Spread, 1)
	opts := Options{Dim: o.Dim, Mode: ModeHNSW, M: o.M, EfConstruction: o.EfConstruction, EfSearch: o.EfSearch, Workers: o.Workers, Seed: o.Seed}
	ix, err := New(opts)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	rep := &HNSWReport{N: o.N, Dim: o.Dim, Queries: o.Queries, M: ix.opts.M, EfConstruction: ix.opts.EfConstruction,
		EfSearch: ix.opts.EfSearch, Workers: ix.opts.Workers,
		Data: fmt.Sprintf("%d unit vectors around %d Gaussian clusters (isotropic noise of norm %.2g), queries from the same clusters", o.N, o.Clusters, o.Spread)}
	cl := NewClusters(o.Dim, o.Clusters, o.Spread, o.Seed)
	qflat := make([]float32, o.Queries*o.Dim)
	cl.Fill(qflat)

	// Rows are written first, then quantised and linked in one parallel
	// background build, as when Load finds no graph; build_s runs from the
	// start of the quantisation to the graph's going into use.
	flat := make([]float32, o.N*o.Dim)
	cl.Fill(flat)
	ix.g.Store(nil)
	ix.vecs = flat
	ix.labels = make([]uint32, o.N)
	ix.scales = make([]float32, o.N)
	for i := range ix.labels {
		ix.labels[i] = uint32(i)
	}
	ix.relink()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	ix.configure(nil)
	if err := ix.WaitBuilt(ctx); err != nil {
		return nil, err
	}
	rep.BuildS = time.Since(t0).Seconds()
	g := ix.g.Load()
	if g == nil {
		return nil, fmt.Errorf("vector: bench: no graph after the build")
	}
	rep.MemoryBytes, rep.GraphBytes = ix.MemoryBytes(), g.memoryBytes()
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	rep.HeapBytes = mem.HeapInuse
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := ix.getScratch()
	exact := make([][]Result, o.Queries)
	exactT := make([]time.Duration, o.Queries)
	for i := range exact {
		t0 := time.Now()
		exact[i] = ix.searchFlat(qflat[i*o.Dim:(i+1)*o.Dim], 10, nil, s)
		exactT[i] = time.Since(t0)
		if i%16 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	rep.ExactMs = ms(medianOf(exactT))
	point := func(ef int) EfPoint {
		ix.opts.EfSearch = ef
		lat := make([]time.Duration, o.Queries)
		var rec float64
		for i := range o.Queries {
			q := qflat[i*o.Dim : (i+1)*o.Dim]
			t0 := time.Now()
			got := ix.Search(q, 10, nil)
			lat[i] = time.Since(t0)
			rec += recall10(got, exact[i])
		}
		slices.Sort(lat)
		return EfPoint{EfSearch: ef, RecallAt10: rec / float64(o.Queries), P50Ms: ms(lat[len(lat)/2]), P99Ms: ms(lat[min(len(lat)-1, len(lat)*99/100)])}
	}
	for _, ef := range o.EfSweep {
		rep.Sweep = append(rep.Sweep, point(ef))
	}
	p := point(rep.EfSearch)
	rep.RecallAt10, rep.P50Ms, rep.P99Ms = p.RecallAt10, p.P50Ms, p.P99Ms
	return rep, ctx.Err()
}

// recall10 is the share of want's labels that got holds.
func recall10(got, want []Result) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, w := range want {
		if slices.ContainsFunc(got, func(g Result) bool { return g.Label == w.Label }) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// alternate times f(n) and g(n) in turn, reps times each, with n grown
// until a run of both takes 40 ms, and returns their median ns per call.
func alternate(reps int, f, g func(n int) float32) (fns, gns float64) {
	n := 100
	for {
		t0 := time.Now()
		sink = f(n) + g(n)
		if d := time.Since(t0); d > 40*time.Millisecond || n > 1<<30 {
			break
		}
		n *= 2
	}
	fs, gs := make([]time.Duration, reps), make([]time.Duration, reps)
	for i := range reps {
		t0 := time.Now()
		sink = f(n)
		t1 := time.Now()
		sink = g(n)
		fs[i], gs[i] = t1.Sub(t0), time.Since(t1)
	}
	return float64(medianOf(fs).Nanoseconds()) / float64(n), float64(medianOf(gs).Nanoseconds()) / float64(n)
}

var sink float32

// median runs f reps times and returns the median duration.
func median(reps int, f func()) time.Duration {
	ds := make([]time.Duration, reps)
	for i := range ds {
		t0 := time.Now()
		f()
		ds[i] = time.Since(t0)
	}
	return medianOf(ds)
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
