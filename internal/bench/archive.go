package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/archive"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/internal/bench/synth"
	"github.com/kefu-dev/kefu/internal/text"
)

// ArchiveOptions configure Archive. Zero fields take the defaults.
type ArchiveOptions struct {
	Chunks   int // chunks in the KB, default 100000
	Dim      int // vector dimensions, default 384
	PerDoc   int // chunks per document, default 20
	Progress func(string)
}

// ArchiveReport is the result of Archive: a KB exported to a file and
// imported from it into another store, against writing the same content
// into a store directly (the baseline: what an import cannot beat).
type ArchiveReport struct {
	Chunks        int     `json:"chunks"`
	Dim           int     `json:"dim"`
	Documents     int     `json:"documents"`
	SourceBytes   int64   `json:"source_bytes"`
	ArchiveBytes  int64   `json:"archive_bytes"`
	UnpackedBytes int64   `json:"unpacked_bytes"`
	Ratio         float64 `json:"compression_ratio"` // unpacked / archive
	VectorBytes   int64   `json:"vector_bytes"`      // of the unpacked bytes
	BuildS        float64 `json:"build_s"`           // the baseline: PutDocuments from memory
	ExportS       float64 `json:"export_s"`
	ImportS       float64 `json:"import_s"`
	ExportMBs     float64 `json:"export_mb_s"` // unpacked MB (10^6 bytes) per second
	ImportMBs     float64 `json:"import_mb_s"`
	ImportVsBuild float64 `json:"import_vs_build"` // import time over the baseline's
	// Peak live Go heap added while building, exporting and importing:
	// the build's and the import's include the store's own in-memory
	// indexes, which the import cannot avoid either.
	BuildHeapMB  float64 `json:"build_heap_mb"`
	ExportHeapMB float64 `json:"export_heap_mb"`
	ImportHeapMB float64 `json:"import_heap_mb"`
	Corpus       string  `json:"corpus"`
}

// Archive builds a KB of o.Chunks chunks (texts recombined from the
// sentences of the shared SciFact and AFQMC corpora, each document's
// source bytes kept, random unit vectors) in a temporary data directory,
// exports it to a file and imports that into an empty store.
func Archive(ctx context.Context, o ArchiveOptions) (*ArchiveReport, error) {
	def(&o.Chunks, 100_000)
	def(&o.Dim, 384)
	def(&o.PerDoc, 20)
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	sentences, _, err := searchCorpus()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "kefu-bench-archive-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	src, err := index.Open(filepath.Join(tmp, "src"), index.Options{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := src.CreateKB(ctx, &kefu.KB{Name: "bench", Model: "bench@random", Dim: o.Dim, Settings: kefu.DefaultSettings()}); err != nil {
		return nil, err
	}
	rep := &ArchiveReport{Chunks: o.Chunks, Dim: o.Dim, Corpus: "sentences of scifact + afqmc_faq_zh recombined, 3–6 per chunk; random unit vectors"}
	rng := rand.New(rand.NewPCG(7, 13))
	peak := heapPeak()
	t0 := time.Now()
	for d := 0; d*o.PerDoc < o.Chunks; d++ {
		m := min(o.PerDoc, o.Chunks-d*o.PerDoc)
		up := kefu.DocumentUpdate{Doc: &kefu.Document{ID: fmt.Sprintf("doc-%d.txt", d), KB: "bench", Source: fmt.Sprintf("doc-%d.txt", d), Format: "txt"}}
		var source strings.Builder
		for i := range m {
			var b strings.Builder
			for range 3 + rng.IntN(4) {
				b.WriteString(sentences[rng.IntN(len(sentences))])
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "(%d-%d)", d, i) // no two chunks alike
			t := b.String()
			source.WriteString(t + "\n\n")
			up.Chunks = append(up.Chunks, kefu.Chunk{Kind: kefu.KindPassage, Title: fmt.Sprintf("Document %d", d), Text: t, Lang: text.Lang(t)})
			up.Vectors = append(up.Vectors, [][]float32{synth.RandomUnit(rng, o.Dim)})
		}
		if err := src.PutDocuments(ctx, []kefu.DocumentUpdate{up}); err != nil {
			return nil, err
		}
		if err := src.PutSource(ctx, "bench", up.Doc.ID, []byte(source.String())); err != nil {
			return nil, err
		}
		rep.Documents++
		rep.SourceBytes += int64(source.Len())
		if d%100 == 0 {
			progress(fmt.Sprintf("built %d/%d chunks", d*o.PerDoc, o.Chunks))
		}
	}
	rep.BuildS = time.Since(t0).Seconds()
	rep.BuildHeapMB = peak()

	file := filepath.Join(tmp, "bench.kefu")
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	progress("exporting")
	peak = heapPeak()
	t0 = time.Now()
	sum, err := archive.Export(ctx, f, src, "bench", archive.ExportOptions{})
	if err == nil {
		err = f.Sync()
	}
	rep.ExportS = time.Since(t0).Seconds()
	rep.ExportHeapMB = peak()
	f.Close()
	if err != nil {
		return nil, err
	}
	rep.ArchiveBytes, rep.UnpackedBytes = sum.Bytes, sum.Unpacked
	rep.VectorBytes = int64(sum.Vectors) * int64(o.Dim) * 4
	rep.Ratio = float64(sum.Unpacked) / float64(sum.Bytes)

	dst, err := index.Open(filepath.Join(tmp, "dst"), index.Options{})
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	f, err = os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	progress("importing")
	peak = heapPeak()
	t0 = time.Now()
	res, err := archive.Import(ctx, dst, f, archive.ImportOptions{Model: "bench@random", Progress: func(c archive.Counts) {
		progress(fmt.Sprintf("imported %d/%d chunks", c.Chunks, o.Chunks))
	}})
	rep.ImportS = time.Since(t0).Seconds()
	rep.ImportHeapMB = peak()
	if err != nil {
		return nil, err
	}
	if res.Counts.Chunks != o.Chunks {
		return nil, fmt.Errorf("imported %d chunks of %d", res.Counts.Chunks, o.Chunks)
	}
	mb := float64(sum.Unpacked) / 1e6
	rep.ExportMBs, rep.ImportMBs = mb/rep.ExportS, mb/rep.ImportS
	rep.ImportVsBuild = rep.ImportS / rep.BuildS
	return rep, nil
}

// heapPeak samples the live Go heap (as of the last collection) every 20
// ms until the returned function is called, which returns the largest
// sample over the live heap at the start, in MB.
func heapPeak() func() float64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	start := live()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := live(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		return float64(int64(peak.Load())-int64(start)) / 1e6
	}
}
