package keyword

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
)

// An index written in many batches, compacted, has one segment, and
// searches score exactly as before, against the reference BM25F.
func TestCompactKeepsScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// On disk, every batch is persisted as its own segment before Apply
	// returns (an ephemeral index may persist several as one).
	ix, err := Open(t.TempDir(), Options{CompactAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live := map[string]Doc{}
	docs := randomDocs(rng, 2400, "c")
	for i := 0; i < len(docs); i += 300 {
		apply(t, ix, docs[i:i+300], nil, nil)
	}
	var deletes []string
	for _, d := range docs[:200] {
		deletes = append(deletes, d.ID)
	}
	apply(t, ix, nil, deletes, nil)
	for _, d := range docs[200:] {
		live[d.ID] = d
	}
	before, err := ix.Segments()
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{"退款", "refund invoice 退款 花呗", "warranty warranty label", "订单 parcel account 客服 快递"}
	want := map[string][]float64{}
	for _, q := range queries {
		for _, h := range search(t, ix, q, len(live), nil) {
			want[q] = append(want[q], h.Score)
		}
	}
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := ix.Segments()
	if err != nil {
		t.Fatal(err)
	}
	if after != 1 {
		t.Fatalf("segments: %d after the writes, %d compacted; want 1", before, after)
	}
	t.Logf("segments: %d after the writes (scorch's own merger may already have merged some), 1 compacted", before)
	var ref []refDoc
	for _, d := range live {
		ref = append(ref, refDoc{id: d.ID, fields: [numFields][]string{Terms(d.Title), Terms(d.Headings), Terms(d.Questions), Terms(d.Body)}})
	}
	for _, q := range queries {
		exact := refBM25F(ref, Terms(q), ix.opts.K1, ix.opts.B, ix.weights)
		got := search(t, ix, q, len(live), nil)
		if len(got) != len(want[q]) || len(got) != len(exact) {
			t.Fatalf("%q: %d hits after compaction, %d before, %d in the reference", q, len(got), len(want[q]), len(exact))
		}
		for i, h := range got {
			if h.Score != want[q][i] || math.Abs(h.Score-exact[h.ChunkID]) > 1e-9*exact[h.ChunkID] {
				t.Fatalf("%q: hit %d (%s) scores %.12f, before compaction %.12f, reference %.12f", q, i, h.ChunkID, h.Score, want[q][i], exact[h.ChunkID])
			}
		}
	}
	if n, _ := ix.Count(); n != uint64(len(live)) {
		t.Fatalf("Count = %d after compaction, want %d", n, len(live))
	}
}

// Once writes pause, an index merges its segments by itself; the same
// writes to an index that never compacts leave several.
func TestCompactionAfterWritesPause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	segments := func(after time.Duration) int {
		rng := rand.New(rand.NewPCG(5, 6))
		ix, err := Open(t.TempDir(), Options{CompactAfter: after})
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		for i := range 4 {
			apply(t, ix, randomDocs(rng, 100, fmt.Sprintf("b%d-", i)), nil, nil)
		}
		n, err := ix.WaitCompacted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := ix.Count(); c != 400 {
			t.Fatalf("Count = %d, want 400", c)
		}
		return n
	}
	never, paused := segments(-1), segments(20*time.Millisecond)
	if paused != 1 {
		t.Fatalf("segments: %d after a pause (%d never compacting), want 1", paused, never)
	}
	t.Logf("segments: %d never compacting (scorch alone), 1 after a pause", never)
}

// A small write to a large index leaves it two segments rather than
// rewriting all of it; a large enough rest merges everything, many small
// segments merge among themselves.
func TestWorthCompacting(t *testing.T) {
	for _, c := range []struct {
		sizes []uint64
		want  merge
	}{
		{nil, mergeNone},
		{[]uint64{100_000}, mergeNone},
		{[]uint64{100_000, 20}, mergeNone},
		{[]uint64{20, 100_000, 9_000}, mergeNone},
		{[]uint64{100_000, 10_000}, mergeAll},
		{[]uint64{4_000, 6_000, 100_000}, mergeAll},
		{[]uint64{100_000, 1, 1, 1, 1, 1}, mergeSmall},
		{[]uint64{100_000, 3_000, 3_000, 3_000, 3_000, 3_000}, mergeAll},
		{[]uint64{0, 0}, mergeAll},
	} {
		if got := worthCompacting(c.sizes); got != c.want {
			t.Errorf("worthCompacting(%v) = %v, want %v", c.sizes, got, c.want)
		}
	}
}

// mergeSmall's plan, as scorch's planner makes it, merges every small
// segment in one task and leaves the largest out.
func TestSmallMergePlanLeavesTheLargest(t *testing.T) {
	segs := []mergeplan.Segment{fakeSegment{1, 90_000}}
	for i := range 7 {
		segs = append(segs, fakeSegment{uint64(i + 2), int64(100 + 300*i)})
	}
	opts := smallMergeOptions(90_000, len(segs))
	plan, err := mergeplan.Plan(segs, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Tasks) != 1 {
		t.Fatalf("%d merge tasks, want 1", len(plan.Tasks))
	}
	var ids []uint64
	for _, s := range plan.Tasks[0].Segments {
		ids = append(ids, s.Id())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("merged segments %v, want the seven small ones (2-8), not the largest (1)", ids)
	}
}

// fakeSegment is a segment of live chunks and as many bytes, for the
// merge planner.
type fakeSegment struct {
	id   uint64
	size int64
}

func (f fakeSegment) Id() uint64          { return f.id }
func (f fakeSegment) FullSize() int64     { return f.size }
func (f fakeSegment) LiveSize() int64     { return f.size }
func (f fakeSegment) HasVector() bool     { return false }
func (f fakeSegment) FileSize() int64     { return f.size }
func (f fakeSegment) LiveFileSize() int64 { return f.size }

// Merging the small segments keeps every chunk and leaves at most two
// segments (scorch's own merger may meanwhile fold them all into one).
func TestMergeSmallKeepsEveryChunk(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	ix := openMem(t, Options{CompactAfter: -1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apply(t, ix, randomDocs(rng, 3000, "big"), nil, nil)
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		apply(t, ix, randomDocs(rng, 10, fmt.Sprintf("s%d-", i)), nil, nil)
	}
	if err := ix.mergeSmall(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := ix.Segments(); err != nil || n > 2 {
		sz, _ := ix.segmentSizes()
		t.Errorf("%d segments after merging the small ones (%v), want at most 2: %v", n, err, sz)
	}
	if n, _ := ix.Count(); n != 3060 {
		t.Fatalf("Count = %d, want 3060", n)
	}
}

// Closing an index while its compaction is due neither blocks nor loses
// writes: the reopened index holds every chunk.
func TestCloseWhileCompactionDue(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	ix, err := Open(dir, Options{CompactAfter: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		apply(t, ix, randomDocs(rng, 200, string(rune('a'+i))), nil, nil)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(dir, Options{CompactAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if n, _ := ix.Count(); n != 1600 {
		t.Fatalf("Count = %d after reopening, want 1600", n)
	}
}
