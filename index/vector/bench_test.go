package vector

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kefu-dev/kefu/internal/bench/synth"
)

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
	cl := synth.NewClusters(384, max(n/100, 1), 1, 1)
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
	cl := synth.NewClusters(384, 2, 1, 1)
	v := make([]float32, 768)
	cl.Fill(v)
	x, y := v[:384], v[384:]
	for _, ks := range kernelSets {
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
	synth.NewClusters(384, 1000, 1, 1).Fill(qs)
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
	synth.NewClusters(dim, n/100, 1, 3).Fill(flat)
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

var sink float32

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
