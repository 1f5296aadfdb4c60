package vector

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The exported benchmarks run on small inputs: every field is filled and
// the quality figures (not the timings) meet their bounds.
func TestBenchVectorRuns(t *testing.T) {
	rep, err := BenchVector(context.Background(), BenchVectorOptions{N: 3000, Dim: 64, Queries: 10, ProbeBytes: 1 << 22, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	t.Logf("%s", b)
	if rep.Int8RecallAt10 < 0.99 || rep.ChromemAgreement < 0.99 {
		t.Fatalf("int8 recall %.3f, chromem agreement %.3f", rep.Int8RecallAt10, rep.ChromemAgreement)
	}
	for name, v := range map[string]float64{"dot": rep.DotSpeedupVsNaive, "share": rep.ScanBandwidthShare,
		"chromem": rep.ScanSpeedupVsChromem, "int8": rep.Int8SpeedupVsF32, "load": rep.LoadMs} {
		if !(v > 0) {
			t.Fatalf("%s = %v", name, v)
		}
	}
	if rep.FileBytes < 3000*64*4 {
		t.Fatalf("file of %d bytes", rep.FileBytes)
	}
}

func TestBenchHNSWRuns(t *testing.T) {
	rep, err := BenchHNSW(context.Background(), BenchHNSWOptions{N: 5000, Dim: 48, Queries: 50})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	t.Logf("%s", b)
	if rep.RecallAt10 < 0.95 || rep.N != 5000 || rep.MemoryBytes < 5000*48*4 || rep.GraphBytes == 0 || !(rep.P50Ms > 0) {
		t.Fatalf("report %+v", rep)
	}
}

var benchData = map[int]*Index{}

// benchIndex returns a shared int8-mode index of n 384-d vectors.
func benchIndex(b *testing.B, n int) *Index {
	if ix := benchData[n]; ix != nil {
		return ix
	}
	ix, err := New(Options{Dim: 384, Mode: ModeInt8})
	if err != nil {
		b.Fatal(err)
	}
	cl := NewClusters(384, max(n/100, 1), 1, 1)
	v := make([]float32, 384)
	for i := range n {
		cl.Fill(v)
		if err := ix.Add(uint32(i), v); err != nil {
			b.Fatal(err)
		}
	}
	benchData[n] = ix
	return ix
}

func BenchmarkDot(b *testing.B) {
	cl := NewClusters(384, 2, 1, 1)
	v := make([]float32, 768)
	cl.Fill(v)
	x, y := v[:384], v[384:]
	for _, ks := range kernelSets() {
		b.Run(ks.name, func(b *testing.B) {
			for b.Loop() {
				sink = ks.dot(x, y)
			}
		})
	}
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			sink = dotNaive(x, y)
		}
	})
}

func BenchmarkScan(b *testing.B) {
	ix := benchIndex(b, 100_000)
	q := ix.row(7)
	s := ix.getScratch()
	b.Run("flat", func(b *testing.B) {
		b.SetBytes(int64(len(ix.vecs) * 4))
		for b.Loop() {
			ix.searchFlat(q, 10, nil, s)
		}
	})
	b.Run("int8", func(b *testing.B) {
		b.SetBytes(int64(len(ix.codes)))
		for b.Loop() {
			ix.searchInt8(q, 10, nil, s)
		}
	})
}

func BenchmarkHNSWSearch(b *testing.B) {
	ix := benchIndex(b, 100_000)
	g := ix.g.Load()
	if g == nil {
		g = newGraph(&ix.rowData, ix.opts)
		g.insertMany(liveRows(ix.labels, 0, len(ix.labels)), ix.opts.Workers, nil, nil)
		ix.g.Store(g)
	}
	qs := make([]float32, 100*384)
	NewClusters(384, 1000, 1, 1).Fill(qs)
	s := ix.getScratch()
	i := 0
	for b.Loop() {
		ix.searchHNSW(g, qs[i*384:(i+1)*384], 10, nil, s)
		i = (i + 1) % 100
	}
}

func BenchmarkLoad(b *testing.B) {
	ix := benchIndex(b, 100_000)
	path := filepath.Join(b.TempDir(), "v.idx")
	if err := ix.Save(path); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	for b.Loop() {
		if _, err := Load(path, Options{Mode: ModeInt8}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCrossHNSWMin times the Add that reaches HNSWMin (which used to
// build the whole graph) against the background build it starts, and the
// searches served meanwhile: stall/build is the share of the build the
// writer, and so the store's KB lock, waits for.
func BenchmarkCrossHNSWMin(b *testing.B) {
	const n, dim = 20_000, 128
	flat := make([]float32, n*dim)
	NewClusters(dim, n/100, 1, 3).Fill(flat)
	for b.Loop() {
		b.StopTimer()
		ix, err := New(Options{Dim: dim, HNSWMin: n, Int8Min: n / 4})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n - 1 {
			if err := ix.Add(uint32(i), flat[i*dim:(i+1)*dim]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		t0 := time.Now()
		err = ix.Add(n-1, flat[(n-1)*dim:])
		stall := time.Since(t0)
		if err != nil || !ix.Building() {
			b.Fatalf("Add: %v, building %v", err, ix.Building())
		}
		var lat []time.Duration
		for i := 0; ix.Building(); i = (i + 1) % n {
			t := time.Now()
			ix.Search(flat[i*dim:(i+1)*dim], 10, nil)
			lat = append(lat, time.Since(t))
		}
		if err := ix.WaitBuilt(context.Background()); err != nil {
			b.Fatal(err)
		}
		build := time.Since(t0)
		b.ReportMetric(ms(stall), "stall_ms")
		b.ReportMetric(ms(build), "build_ms")
		b.ReportMetric(stall.Seconds()/build.Seconds(), "stall/build")
		if len(lat) > 0 {
			b.ReportMetric(ms(medianOf(lat)), "search_during_build_ms")
		}
		ix.Close()
	}
}
