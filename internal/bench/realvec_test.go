package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// The real dataset embeds what its cache lacks and nothing else: a second
// call reads the same vectors back, and a damaged cache file is embedded
// again rather than read.
func TestRealVectorsCache(t *testing.T) {
	testenv.Model(t, "use-lite-en")
	ort := testenv.RequireORT(t)
	dir := t.TempDir()
	o := RealOptions{ORTLib: ort, Max: 40, Queries: 5, CacheDir: dir}
	ctx := context.Background()
	first, err := RealVectors(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if first.N != 40 || first.Dim != 512 || first.Embedded != 45 || len(first.Vecs) != 40*512 || len(first.QVecs) != 5*512 {
		t.Fatalf("first run: n %d dim %d embedded %d", first.N, first.Dim, first.Embedded)
	}
	total := 0
	for _, n := range first.Sources {
		total += n
	}
	if total < 200_000 {
		t.Fatalf("sources hold %d texts, want ≥ 200k: %v", total, first.Sources)
	}
	for i := range first.N + first.Queries {
		v := append(first.Vecs, first.QVecs...)[i*512 : (i+1)*512]
		var n2 float64
		for _, x := range v {
			n2 += float64(x) * float64(x)
		}
		if math.Abs(n2-1) > 1e-3 {
			t.Fatalf("vector %d has norm² %v", i, n2)
		}
	}
	again, err := RealVectors(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Embedded != 0 || !slices.Equal(again.Vecs, first.Vecs) || !slices.Equal(again.QVecs, first.QVecs) {
		t.Fatalf("second run embedded %d texts or read other vectors", again.Embedded)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.f32"))
	if len(files) != 2 {
		t.Fatalf("cache files %v, want one for the texts and one for the queries", files)
	}
	b, _ := os.ReadFile(files[0])
	b[7] ^= 1
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := RealVectors(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if third.Embedded == 0 || !slices.EqualFunc(third.Vecs, first.Vecs, func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-6 }) {
		t.Fatalf("damaged cache: embedded %d texts again; the same vectors: %v", third.Embedded, slices.Equal(third.Vecs, first.Vecs))
	}
}
