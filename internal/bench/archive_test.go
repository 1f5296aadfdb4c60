package bench

import (
	"context"
	"encoding/json"
	"testing"
)

// The archive benchmark runs on a small KB: every figure is filled in and
// the import brought back every chunk.
func TestArchiveRuns(t *testing.T) {
	rep, err := Archive(context.Background(), ArchiveOptions{Chunks: 300, Dim: 32})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	t.Logf("%s", b)
	if rep.Documents != 15 || rep.VectorBytes != 300*32*4 || rep.UnpackedBytes < rep.VectorBytes+rep.SourceBytes || !(rep.Ratio > 1) ||
		!(rep.ExportMBs > 0) || !(rep.ImportMBs > 0) || !(rep.BuildS > 0) {
		t.Fatalf("report %+v", rep)
	}
}
