package bench

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/ingest"
)

// ParseBench is the outcome of ParseChunk.
type ParseBench struct {
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	Docs    int     `json:"docs"`
	Chunks  int     `json:"chunks"`
	Failed  int     `json:"failed"` // files or members refused
	Seconds float64 `json:"seconds"`
}

// MBPerSec is the parse+chunk throughput in megabytes (10⁶ bytes) of
// source per second.
func (b *ParseBench) MBPerSec() float64 {
	if b.Seconds <= 0 {
		return 0
	}
	return float64(b.Bytes) / 1e6 / b.Seconds
}

// ParseChunk parses and chunks the files under paths (files or folders,
// walked as ingest.Walk does) with the default limits and a budget of
// kefu.DefaultChunkSize tokens by counter (nil: ingest.ApproxCounter), and
// times it. Files are read into memory first: reading is not timed, nor is
// embedding.
func ParseChunk(ctx context.Context, paths []string, counter kefu.TokenCounter) (*ParseBench, error) {
	type file struct {
		name string
		data []byte
	}
	var files []file
	res := &ParseBench{}
	for _, root := range paths {
		ups, _ := ingest.Walk(root)
		if _, err := os.Stat(root); err != nil {
			return nil, kefu.Errorf(kefu.ENOTFOUND, "%s: %v", root, err)
		}
		for _, up := range ups {
			data, err := readAll(up)
			if err != nil || int64(len(data)) > ingest.DefaultLimits().MaxFileBytes {
				res.Failed++
				continue
			}
			files = append(files, file{up.Name, data})
			res.Bytes += int64(len(data))
		}
	}
	res.Files = len(files)
	ch := &ingest.Chunker{Counter: counter, MaxTokens: kefu.DefaultChunkSize}
	start := time.Now()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		docs, err := ingest.Parse(ctx, f.name, f.data, ingest.DefaultLimits())
		if err != nil {
			res.Failed++
			continue
		}
		for _, d := range docs {
			if d.Err != nil {
				res.Failed++
				continue
			}
			res.Docs++
			res.Chunks += len(ch.Chunk(d))
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// readAll reads an upload whole.
func readAll(up kefu.Upload) ([]byte, error) {
	rc, err := up.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
