package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// benchFiles reads the files under root into memory.
func benchFiles(b *testing.B, root string) (names []string, data [][]byte, total int64) {
	ups, _ := Walk(root)
	for _, u := range ups {
		p := root
		if st, _ := os.Stat(root); st.IsDir() {
			p = filepath.Join(root, filepath.FromSlash(u.Name))
		}
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		names, data, total = append(names, u.Name), append(data, d), total+int64(len(d))
	}
	return names, data, total
}

func benchParseChunk(b *testing.B, root string, counter kefu.TokenCounter) {
	names, data, total := benchFiles(b, testenv.Shared(b, root))
	ch := &Chunker{Counter: counter, MaxTokens: kefu.DefaultChunkSize}
	b.SetBytes(total)
	b.ReportAllocs()
	chunks := 0
	for b.Loop() {
		chunks = 0
		for i := range names {
			docs, err := Parse(context.Background(), names[i], data[i], Limits{})
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range docs {
				chunks += len(ch.Chunk(d))
			}
		}
	}
	b.ReportMetric(float64(chunks), "chunks/op")
}

// Parse+chunk throughput (MB/s is the source bytes) on the demo folder
// and on SciFact's corpus as JSONL records.
func BenchmarkParseChunkDemo(b *testing.B) { benchParseChunk(b, "data/demo", ApproxCounter{}) }
func BenchmarkParseChunkSciFact(b *testing.B) {
	benchParseChunk(b, "data/eval/scifact/corpus.jsonl", ApproxCounter{})
}

// PDF parse throughput (MB/s is the PDF bytes) on the fidelity fixtures,
// by producer: Chromium's Type 0 and Type 3 fonts, LibreOffice's simple ones.
func BenchmarkParsePDF(b *testing.B) {
	for _, producer := range []string{"chromium", "libreoffice"} {
		b.Run(producer, func(b *testing.B) {
			paths, _ := filepath.Glob("testdata/pdf/*." + producer + ".pdf")
			var data [][]byte
			var total int64
			for _, p := range paths {
				d, err := os.ReadFile(p)
				if err != nil {
					b.Fatal(err)
				}
				data, total = append(data, d), total+int64(len(d))
			}
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				for i, d := range data {
					if _, err := Parse(context.Background(), paths[i], d, Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
