package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestBenchParseChunk(t *testing.T) {
	root := testenv.Shared(t, "data/demo")
	res, err := BenchParseChunk(context.Background(), []string{root}, wordCounter{})
	if err != nil {
		t.Fatal(err)
	}
	ups, _ := Walk(root)
	var bytes int64
	for _, u := range ups {
		bytes += u.Size
	}
	// Every demo file is one document: 114 help pages and the shop FAQ.
	if res.Files != len(ups) || res.Docs != len(ups) || res.Failed != 0 || res.Bytes != bytes || res.Chunks <= res.Docs || res.Seconds <= 0 || res.MBPerSec() <= 0 {
		t.Errorf("bench %+v (want %d files of %d bytes)", res, len(ups), bytes)
	}
	if _, err := BenchParseChunk(context.Background(), []string{filepath.Join(root, "missing")}, nil); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("missing path: %v", err)
	}
}

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
