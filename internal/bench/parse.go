package bench

import (
	"context"
	"os"
	"time"

	"github.com/kefu-dev/kefu"
)

// ParseBench is the outcome of BenchParseChunk.
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

// BenchParseChunk parses and chunks the files under paths (files or
// folders, walked as Walk does) with the default limits and a budget of
// kefu.DefaultChunkSize tokens by counter (nil: ApproxCounter), and times
// it. Files are read into memory first: reading is not timed, nor is
// embedding.
func BenchParseChunk(ctx context.Context, paths []string, counter kefu.TokenCounter) (*ParseBench, error) {
	type file struct {
		name string
		data []byte
	}
	var files []file
	res := &ParseBench{}
	for _, root := range paths {
		ups, _ := Walk(root)
		if _, err := os.Stat(root); err != nil {
			return nil, kefu.Errorf(kefu.ENOTFOUND, "%s: %v", root, err)
		}
		for _, up := range ups {
			data, err := readUpload(up, DefaultLimits().MaxFileBytes)
			if err != nil {
				res.Failed++
				continue
			}
			files = append(files, file{up.Name, data})
			res.Bytes += int64(len(data))
		}
	}
	res.Files = len(files)
	ch := &Chunker{Counter: counter, MaxTokens: kefu.DefaultChunkSize}
	start := time.Now()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		docs, err := Parse(ctx, f.name, f.data, DefaultLimits())
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
