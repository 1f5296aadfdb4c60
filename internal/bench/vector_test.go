package bench

import (
	"context"
	"encoding/json"
	"testing"
)

// The vector benchmarks run on small inputs: every field is filled and
// the quality figures (not the timings) meet their bounds.
func TestVectorRuns(t *testing.T) {
	rep, err := Vector(context.Background(), VectorOptions{N: 3000, Dim: 64, Queries: 10, ProbeBytes: 1 << 22, Dir: t.TempDir()})
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

func TestHNSWRuns(t *testing.T) {
	rep, err := HNSW(context.Background(), HNSWOptions{N: 5000, Dim: 48, Queries: 50, EfSweep: []int{16}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	t.Logf("%s", b)
	if rep.RecallAt10 < 0.95 || rep.N != 5000 || rep.MemoryBytes < 5000*48*4 || rep.GraphBytes == 0 || !(rep.P50Ms > 0) || !(rep.BuildS > 0) {
		t.Fatalf("report %+v", rep)
	}
	// A smaller ef finds no more than the default one.
	if len(rep.Sweep) != 1 || rep.Sweep[0].EfSearch != 16 || rep.Sweep[0].RecallAt10 > rep.RecallAt10 {
		t.Fatalf("sweep %+v against ef %d's recall %.3f", rep.Sweep, rep.EfSearch, rep.RecallAt10)
	}
}
