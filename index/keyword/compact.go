package keyword

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/kefu-dev/kefu"
)

// Compaction. scorch writes a segment per batch, and its merger keeps up
// to ten segments per tier, so a KB built by many batches ends with a dozen
// of them; every search pays its per-term work in each (dictionary lookups,
// document frequencies, typo automata, a MaxScore threshold that starts
// again). Once writes pause, an index merges its segments into one, as
// Lucene's forceMerge after bulk indexing: at 100k chunks, 12 segments
// merged in about a second took hybrid search's p99 from 12.3-12.4 to
// 7.0-9.0 ms (BENCHMARKS.md, "Compaction").

// DefaultCompactAfter is Options.CompactAfter's default.
const DefaultCompactAfter = 2 * time.Second

// compactSegments is the count of segments from which the small ones are
// merged even when they hold less than a tenth of the largest: into one
// segment beside it, so that a bulk ingest with pauses does not rewrite the
// whole index every few batches.
const compactSegments = 6

// merge is what compactIfWorth merges.
type merge int

const (
	mergeNone  merge = iota
	mergeAll         // every segment into one
	mergeSmall       // every segment but the largest into one
)

// compactor merges an index's segments in the background once writes
// pause, then warms the postings cache (warm).
type compactor struct {
	ix     *Index
	delay  time.Duration
	kick   chan struct{} // a write happened (buffered, 1)
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when loop returns

	mu   sync.Mutex
	idle chan struct{} // closed while no compaction (or warming) is due or running
}

func newCompactor(ix *Index, delay time.Duration) *compactor {
	ctx, cancel := context.WithCancel(context.Background())
	c := &compactor{ix: ix, delay: delay, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), idle: make(chan struct{})}
	close(c.idle)
	if delay < 0 {
		close(c.done)
		return c
	}
	go c.loop()
	return c
}

// wrote tells the compactor that a write happened: a compaction is due
// once writes pause for the delay.
func (c *compactor) wrote() {
	if c.delay < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.idle:
		c.idle = make(chan struct{})
	default:
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// settle marks the compactor idle unless another write is already due.
func (c *compactor) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.kick) > 0 {
		return
	}
	select {
	case <-c.idle:
	default:
		close(c.idle)
	}
}

func (c *compactor) loop() {
	defer close(c.done)
	defer c.settle()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		}
		t := time.NewTimer(c.delay)
	pause:
		for {
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-c.kick:
				t.Reset(c.delay)
			case <-t.C:
				break pause
			}
		}
		if err := c.ix.compactIfWorth(c.ctx); err != nil && c.ctx.Err() == nil {
			slog.Warn("keyword index compaction failed; its segments stay as they were", "err", err)
		}
		if err := c.ix.warm(c.ctx); err != nil && c.ctx.Err() == nil {
			slog.Warn("keyword index: warming the postings cache failed; searches decode as they go", "err", err)
		}
		c.settle()
	}
}

// stop ends the compactor, cancelling a compaction in progress (the index
// keeps its segments as they were), and waits for it.
func (c *compactor) stop() {
	c.cancel()
	<-c.done
}

// WaitCompacted waits until no compaction is due or running (or ctx ends),
// the postings cache warmed after it (warm), and returns the number of
// segments then. For benchmarks and tests: searches need not wait.
func (ix *Index) WaitCompacted(ctx context.Context) (int, error) {
	c := ix.compactor
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return ix.Segments()
}

// Segments returns the number of segments the index has now.
func (ix *Index) Segments() (int, error) {
	sizes, err := ix.segmentSizes()
	return len(sizes), err
}

// segmentSizes returns the live chunks of each segment.
func (ix *Index) segmentSizes() ([]uint64, error) {
	sn, err := ix.snapshot()
	if err != nil {
		return nil, err
	}
	defer sn.close()
	sizes := make([]uint64, len(sn.segs))
	for i, s := range sn.segs {
		sizes[i] = s.ss.Count()
	}
	return sizes, nil
}

// compactIfWorth merges the index's segments as worthCompacting says.
// Merging everything only once the other segments hold a tenth of the
// largest makes the rewrites geometric: a chunk is rewritten about ten
// times at most however the index grows.
func (ix *Index) compactIfWorth(ctx context.Context) error {
	return ix.forceMerge(ctx, func(sizes []uint64) (mergeplan.MergePlanOptions, bool) {
		switch worthCompacting(sizes) {
		case mergeAll:
			return allMergeOptions(len(sizes)), true
		case mergeSmall:
			return smallMergeOptions(slices.Max(sizes), len(sizes)), true
		}
		return mergeplan.MergePlanOptions{}, false
	})
}

// worthCompacting says what to merge of segments of these sizes (live
// chunks): all of them when the segments other than the largest hold a
// tenth of its chunks or more; from compactSegments on, the others into
// one; else nothing.
func worthCompacting(sizes []uint64) merge {
	if len(sizes) < 2 {
		return mergeNone
	}
	var largest, rest uint64
	for _, n := range sizes {
		if n > largest {
			largest, n = n, largest
		}
		rest += n
	}
	switch {
	case rest*10 >= largest:
		return mergeAll
	case len(sizes) >= compactSegments:
		return mergeSmall
	}
	return mergeNone
}

// Compact merges the index's segments into one and returns when done.
// Searches and writes go on meanwhile, on the segments as they were.
func (ix *Index) Compact(ctx context.Context) error {
	return ix.forceMerge(ctx, func(sizes []uint64) (mergeplan.MergePlanOptions, bool) {
		return allMergeOptions(len(sizes)), len(sizes) > 1
	})
}

// mergeSmall merges the segments smaller than half the largest (which
// holds over ten times their chunks) into one.
func (ix *Index) mergeSmall(ctx context.Context) error {
	return ix.forceMerge(ctx, func(sizes []uint64) (mergeplan.MergePlanOptions, bool) {
		return smallMergeOptions(slices.Max(sizes), len(sizes)), len(sizes) > 2
	})
}

// allMergeOptions is the merge plan that makes n segments one: bleve's
// single-segment plan, but in one task (with its ten segments a task, 23
// segments end as 3).
func allMergeOptions(n int) mergeplan.MergePlanOptions {
	opts := mergeplan.SingleSegmentMergePlanOptions
	opts.SegmentsPerMergeTask = n
	return opts
}

// smallMergeOptions is the merge plan of mergeSmall for n segments whose
// largest holds largest chunks: only segments under half of it take part,
// all in one task.
func smallMergeOptions(largest uint64, n int) mergeplan.MergePlanOptions {
	opts := allMergeOptions(n)
	opts.MaxSegmentSize = int64(min(largest, mergeplan.MaxSegmentSizeLimit))
	return opts
}

// forceMerge merges what plan picks from the sizes of the persisted
// segments (false: nothing), planning again for up to four rounds: writes
// and scorch's own merger change the segments meanwhile, and a write
// between rounds must not be chased forever.
func (ix *Index) forceMerge(ctx context.Context, plan func(sizes []uint64) (mergeplan.MergePlanOptions, bool)) error {
	s := ix.adv.(*scorch.Scorch) // newIndex checked it
	for range 4 {
		if err := ix.waitPersisted(ctx); err != nil {
			return err
		}
		sizes, err := ix.segmentSizes()
		if err != nil {
			return err
		}
		opts, ok := plan(sizes)
		if !ok {
			return nil
		}
		if err := s.ForceMerge(ctx, &opts); err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "keyword: merge segments: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// waitPersisted waits until scorch has written every segment of the index
// to disk: a forced merge plans over the persisted segments only. It looks
// at the segments themselves: scorch's num_root_memorysegments was seen at
// 0 with a segment still in memory, which the merges then left alone.
func (ix *Index) waitPersisted(ctx context.Context) error {
	for {
		inMemory, err := ix.inMemorySegments()
		if err != nil || inMemory == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// inMemorySegments counts the segments of the index not yet on disk.
func (ix *Index) inMemorySegments() (int, error) {
	sn, err := ix.snapshot()
	if err != nil {
		return 0, err
	}
	defer sn.close()
	n := 0
	for _, sv := range sn.segs {
		if _, ok := sv.ss.Segment().(segment.PersistedSegment); !ok {
			n++
		}
	}
	return n, nil
}
