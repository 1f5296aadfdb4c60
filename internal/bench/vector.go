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

	"github.com/kefu-dev/kefu/index/vector"
	"github.com/kefu-dev/kefu/internal/bench/synth"
)

// The benchmarks behind `kefu-bench vector` and `kefu-bench hnsw`. Every
// figure they report as a ratio compares two measurements of the same run,
// so a busy machine shifts both sides alike.

// VectorOptions configure Vector. Zero fields take the defaults.
type VectorOptions struct {
	N        int    // vectors, default 100000
	Dim      int    // default 384
	Queries  int    // default 50
	Clusters int    // default N/100
	Seed     uint64 // data
	// ProbeBytes is the buffer of the memory-bandwidth probe, default 1 GiB:
	// 32 times the L3 of a Zen 5 CCD (the VM's CPUID reports 512 MiB, the
	// whole socket's, of which one core reaches its CCD's 32 MiB).
	ProbeBytes int
	// Dir holds the temporary index file of the load measurement (default
	// the system's temporary directory).
	Dir         string
	SkipChromem bool // leave out the chromem-go baseline (slow to fill)
}

// VectorReport is Vector's result. Times are medians over the queries
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

	// MemReadGBs is the read bandwidth of one core, measured the way
	// STREAM-class tools do: a ProbeBytes buffer (far larger than the
	// last-level cache) summed with 64-byte loads as 1, 2, 4 and 8
	// independent streams (vector.SumStreams), in passes of the scan's
	// size over its windows in turn, as many passes of each before every
	// round of scans as the round has queries; the best pass of the best
	// stream count. The
	// scan does more work on the same kind of loads (one stream, a
	// multiply-add per load), so its share of this cannot exceed 1 but by
	// noise.
	MemReadGBs float64 `json:"mem_read_gb_s"`
	// MemReadStreamsGBs is the best pass of each stream count.
	MemReadStreamsGBs  map[int]float64 `json:"mem_read_streams_gb_s"`
	ScanMs             float64         `json:"scan_ms"`              // exact float32 search of N×Dim, k=10, median
	ScanGBs            float64         `json:"scan_gb_s"`            // N·Dim·4 bytes / ScanMs
	ScanBestGBs        float64         `json:"scan_best_gb_s"`       // the fastest query's
	ScanBandwidthShare float64         `json:"scan_bandwidth_share"` // ScanBestGBs / MemReadGBs: best against best
	ScanMedianShare    float64         `json:"scan_median_share"`    // ScanGBs / MemReadGBs

	ChromemMs            float64 `json:"chromem_ms,omitempty"` // chromem-go QueryEmbedding, k=10
	ScanSpeedupVsChromem float64 `json:"scan_speedup_vs_chromem,omitempty"`
	ChromemAgreement     float64 `json:"chromem_agreement,omitempty"` // share of top-10 labels both return

	Int8Ms           float64 `json:"int8_ms"` // int8 scan + rescoring, k=10
	Int8GBs          float64 `json:"int8_gb_s"`
	Int8SpeedupVsF32 float64 `json:"int8_speedup_vs_f32"`
	Int8RecallAt10   float64 `json:"int8_recall_at_10"` // against the exact search
	Int8Rescored     int     `json:"int8_rescored"`     // labels rescored per query
	// Int8Prev* are the int8 scan with the kernel set before the one in
	// use (avx512's VPMADDUBSW when avx512-vnni is in use), same queries,
	// same rounds.
	Int8PrevKernel    string  `json:"int8_prev_kernel,omitempty"`
	Int8PrevMs        float64 `json:"int8_prev_ms,omitempty"`
	Int8SpeedupVsPrev float64 `json:"int8_speedup_vs_prev,omitempty"`

	FileBytes int64   `json:"file_bytes"`
	SaveMs    float64 `json:"save_ms"`
	LoadMs    float64 `json:"load_ms"` // Load of the saved index (file in the page cache)
	Data      string  `json:"data"`
}

// Vector measures the kernels and the exact and int8 scans against their
// baselines.
func Vector(ctx context.Context, o VectorOptions) (*VectorReport, error) {
	def(&o.N, 100_000)
	def(&o.Dim, 384)
	def(&o.Queries, 50)
	def(&o.Clusters, max(o.N/100, 1))
	def(&o.ProbeBytes, 1<<30)
	rep := &VectorReport{Kernel: vector.Kernel(), N: o.N, Dim: o.Dim, Queries: o.Queries,
		Data: fmt.Sprintf("%d unit vectors around %d Gaussian clusters (noise norm 1), queries from the same clusters", o.N, o.Clusters)}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	cl := synth.NewClusters(o.Dim, o.Clusters, 1, o.Seed)
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
			s += vector.Dot(a, b)
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

	ix, err := vector.New(vector.Options{Dim: o.Dim, Mode: vector.ModeInt8})
	if err != nil {
		return nil, err
	}
	for i := range o.N {
		if err := ix.Add(uint32(i), flat[i*o.Dim:(i+1)*o.Dim]); err != nil {
			return nil, err
		}
	}
	rep.Int8Rescored = max(ix.Options().Rescore, 40)

	// Exact and int8 scans, in rounds that each start with a pass of the
	// bandwidth probe per stream count; the first round warms up.
	exact := make([][]vector.Result, len(queries))
	var scan, int8, prev []time.Duration
	read := map[int]time.Duration{}
	kernels := vector.Kernels()
	if len(kernels) > 1 {
		rep.Int8PrevKernel = kernels[len(kernels)-2]
	}
	defer vector.UseKernel(rep.Kernel)
	var rec float64
	win := min(o.N*o.Dim, len(probe)) // floats a probe pass reads: the scan's
	windows := len(probe) / win
	for round := range 6 {
		if round == 1 {
			scan, int8, prev, rec = scan[:0], int8[:0], prev[:0], 0
		}
		// Each probe pass reads as many bytes as a scan, from the next
		// window of the buffer (the one read longest ago, far out of
		// every cache), and there are as many passes as scans: on a
		// shared machine a long pass is likelier to be interrupted than a
		// short one, so best against best needs passes of equal length
		// and equal number.
		for _, streams := range []int{1, 2, 4, 8} {
			for j := range queries {
				w := (round*len(queries) + j) % windows
				t0 := time.Now()
				sink = vector.SumStreams(probe[w*win:(w+1)*win], streams)
				if d := time.Since(t0); read[streams] == 0 || d < read[streams] {
					read[streams] = d
				}
			}
		}
		for i, q := range queries {
			t0 := time.Now()
			exact[i] = ix.SearchExact(q, 10, nil)
			t1 := time.Now()
			got := ix.SearchInt8(q, 10, nil)
			t2 := time.Now()
			scan, int8 = append(scan, t1.Sub(t0)), append(int8, t2.Sub(t1))
			rec += vector.Recall(got, exact[i])
			if rep.Int8PrevKernel != "" {
				if err := vector.UseKernel(rep.Int8PrevKernel); err != nil {
					return nil, err
				}
				t0 := time.Now()
				ix.SearchInt8(q, 10, nil)
				prev = append(prev, time.Since(t0))
				if err := vector.UseKernel(rep.Kernel); err != nil {
					return nil, err
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	probe = nil
	bytes := float64(o.N * o.Dim * 4)
	rep.MemReadStreamsGBs = map[int]float64{}
	for streams, d := range read {
		gbs := float64(4*win) / 1e9 / d.Seconds()
		rep.MemReadStreamsGBs[streams] = gbs
		rep.MemReadGBs = max(rep.MemReadGBs, gbs)
	}
	rep.ScanMs = ms(medianOf(scan))
	rep.ScanGBs = bytes / 1e9 / medianOf(scan).Seconds()
	rep.ScanBestGBs = bytes / 1e9 / slices.Min(scan).Seconds()
	rep.ScanBandwidthShare = rep.ScanBestGBs / rep.MemReadGBs
	rep.ScanMedianShare = rep.ScanGBs / rep.MemReadGBs
	rep.Int8Ms = ms(medianOf(int8))
	rep.Int8GBs = bytes / 4 / 1e9 / medianOf(int8).Seconds()
	rep.Int8SpeedupVsF32 = rep.ScanMs / rep.Int8Ms
	rep.Int8RecallAt10 = rec / float64(5*len(queries))
	if len(prev) > 0 {
		rep.Int8PrevMs = ms(medianOf(prev))
		rep.Int8SpeedupVsPrev = rep.Int8PrevMs / rep.Int8Ms
	}

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
	var loaded []*vector.Index
	rep.LoadMs = ms(median(3, func() {
		back, err := vector.Load(path, vector.Options{Mode: vector.ModeAuto})
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
func benchChromem(ctx context.Context, rep *VectorReport, ix *vector.Index, flat []float32, queries [][]float32, exact [][]vector.Result) error {
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
	for round := range 2 {
		times, scan, agree = times[:0], scan[:0], 0
		for i, q := range queries {
			t0 := time.Now()
			res, err := col.QueryEmbedding(ctx, q, 10, nil, nil)
			t1 := time.Now()
			ix.SearchExact(q, 10, nil)
			times, scan = append(times, t1.Sub(t0)), append(scan, time.Since(t1))
			if err != nil {
				return err
			}
			got := make([]vector.Result, len(res))
			for j, r := range res {
				l, _ := strconv.Atoi(r.ID)
				got[j] = vector.Result{Label: uint32(l), Score: r.Similarity}
			}
			agree += vector.Recall(got, exact[i])
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
