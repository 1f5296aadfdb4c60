package keyword

import (
	"context"
	"math"
	"reflect"
	"testing"

	"github.com/kefu-dev/kefu"
)

// Pruning must change nothing: for SciFact's queries, the top k (10, and
// the 50 hybrid search asks for) of a pruned search are the first k of the
// full ranking (k large enough that nothing is pruned), scores, matched
// terms and term masks included, and the query terms' document frequencies
// are the same. The test also checks that pruning happened, so it tests
// something.
func TestPruningIsExact(t *testing.T) {
	ds, ix := scifact(t)
	checkPruning(t, ds, ix)
	// Chinese FAQ matching: words and single characters, many common ones.
	zh := afqmc(t)
	zix := buildIndex(t, zh, Options{}, true)
	defer zix.Close()
	checkPruning(t, zh, zix)
}

func checkPruning(t *testing.T, ds *beir, ix *Index) {
	t.Helper()
	ctx := context.Background()
	before := ix.pruned.Load()
	n := 0
	for id, q := range ds.queries {
		if n++; n > 300 {
			break
		}
		full, fullInfo, err := ix.SearchHits(ctx, q, MaxK, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{10, 50} {
			top, info, err := ix.SearchHits(ctx, q, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(top) != min(k, len(full)) {
				t.Fatalf("query %s, k %d: %d hits, full ranking %d", id, k, len(top), len(full))
			}
			for i, h := range top {
				f := full[i]
				if h.ChunkID != f.ChunkID || math.Abs(h.Score-f.Score) > 1e-9 || h.Matched != f.Matched || h.Head != f.Head ||
					i < kefu.MaskedHits && (h.HeadMatch != f.HeadMatch || h.BodyMatch != f.BodyMatch) {
					t.Fatalf("query %s, k %d, rank %d: pruned %+v, full %+v", id, k, i+1, h, f)
				}
			}
			if !reflect.DeepEqual(info, fullInfo) {
				t.Fatalf("query %s, k %d: pruned search's terms %+v, full %+v", id, k, info, fullInfo)
			}
		}
	}
	if ix.pruned.Load() == before {
		t.Fatal("no search pruned: the test proves nothing")
	}
	t.Logf("%d of %d searches pruned", ix.pruned.Load()-before, 3*n)
}

func TestGallop(t *testing.T) {
	docs := []uint32{2, 4, 4, 7, 9, 15, 20, 21, 30}
	for _, c := range []struct {
		lo     int
		target uint32
		want   int
	}{{0, 0, 0}, {0, 2, 0}, {0, 3, 1}, {0, 4, 1}, {2, 5, 3}, {0, 16, 6}, {3, 21, 7}, {0, 30, 8}, {0, 31, 9}, {9, 1, 9}, {5, 9, 5}} {
		if got := gallop(docs, c.lo, c.target); got != c.want {
			t.Errorf("gallop(lo %d, %d) = %d, want %d", c.lo, c.target, got, c.want)
		}
	}
}
