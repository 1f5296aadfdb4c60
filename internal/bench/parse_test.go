package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestParseChunk(t *testing.T) {
	root := testenv.Shared(t, "data/demo")
	res, err := ParseChunk(context.Background(), []string{root}, ingest.ApproxCounter{})
	if err != nil {
		t.Fatal(err)
	}
	ups, _ := ingest.Walk(root)
	var bytes int64
	for _, u := range ups {
		bytes += u.Size
	}
	// Every demo file is one document: 114 help pages and the shop FAQ.
	if res.Files != len(ups) || res.Docs != len(ups) || res.Failed != 0 || res.Bytes != bytes || res.Chunks <= res.Docs || res.Seconds <= 0 || res.MBPerSec() <= 0 {
		t.Errorf("bench %+v (want %d files of %d bytes)", res, len(ups), bytes)
	}
	if _, err := ParseChunk(context.Background(), []string{filepath.Join(root, "missing")}, nil); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("missing path: %v", err)
	}
}
