package vector

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Graph builds run in the background, so that the Add that crosses HNSWMin,
// the Delete that compacts and Load of a file without a graph return at
// once; until the graph is ready, searches use the int8 scan (exact after
// rescoring, just slower).
//
// A build reads the rows without copying them. startBuild freezes the rows
// that exist (frozenTo): while the build runs, no Add or Delete changes
// them, because Add reuses only free rows at or above frozenTo (rows freed
// below it wait in held), Delete only marks labels, which the build reads
// from its own copy, and a compaction first stops the build. Add appends
// new rows past frozenTo, which the build does not read. The journal of
// what changed meanwhile is therefore implicit: the rows appended (every
// row from frozenTo on) and the labels deleted (ix.labels, which searches
// of the finished graph check anyway).
//
// The goroutine links the frozen rows in a private graph, then takes mu:
// if few rows were appended meanwhile (swapTail), it links them too and
// publishes the graph, a critical section as short as an Add of that many
// vectors; otherwise it freezes the rows again and links the new ones
// outside the lock, round after round, until the tail is short.
//
// Memory: a build copies the labels (4 bytes a row, again in each later
// round) and holds the new graph (layer 0 takes (2M+1)·4 bytes a row, the
// upper layers and levels about 10 more: some 140 bytes a row at M 16);
// vectors and codes are shared with the index, not copied. A graph being
// rebuilt after a compaction replaces the old one, dropped at once, so two
// graphs never coexist. Rows freed during a build are not reused until it
// ends, so under churn the arrays grow by the rows added meanwhile.

// swapTail is the most rows the goroutine links while holding mu, when
// writers (and, behind a waiting writer, the store's searches) wait: as
// long as an Add of that many vectors, some 40 ms at 1M rows (whose build
// took about 20 minutes on two cores, 2.4 ms of CPU an insert).
const swapTail = 16

// testHold, when set by a test, makes a build started then wait on it (or
// its stop) before each time it takes mu.
var testHold chan struct{}

// build is a graph build in progress.
type build struct {
	workers  int
	hold     chan struct{}
	stop     atomic.Bool   // checked between inserts
	stopped  chan struct{} // closed with stop set
	stopOnce sync.Once
	done     chan struct{} // closed when the goroutine has ended
	rounds   int           // freezes after the first (tests), under mu
}

// Building reports whether a graph is being built. Searches meanwhile use
// the int8 scan.
func (ix *Index) Building() bool { return ix.building.Load() }

// WaitBuilt waits until no graph build is in progress, or ctx ends. It is
// for tests, benchmarks and shutdown; searches need not wait.
func (ix *Index) WaitBuilt(ctx context.Context) error {
	for {
		ix.mu.Lock()
		b := ix.bld
		ix.mu.Unlock()
		if b == nil {
			return nil
		}
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops a build in progress and waits for its goroutine to end. The
// index stays usable, but builds no graph any more: searches of an index
// closed before its graph was ready use the int8 scan. Close leaves a graph
// already in use in place.
func (ix *Index) Close() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.closed = true
	ix.stopBuild()
}

// startBuild starts a build of a graph over the rows, unless one runs or
// the index is closed. mu is held.
func (ix *Index) startBuild() {
	if ix.closed || ix.bld != nil {
		return
	}
	ix.g.Store(nil)
	b := &build{workers: ix.opts.Workers, hold: testHold, stopped: make(chan struct{}), done: make(chan struct{})}
	g := newGraph(nil, ix.opts)
	d := ix.freeze()
	ix.bld = b
	ix.building.Store(true)
	go ix.runBuild(b, g, d)
}

// freeze returns a view of the rows for a build and keeps them unchanged
// until the build ends: the free rows move to held. mu is held.
func (ix *Index) freeze() *rowData {
	n := len(ix.labels)
	ix.frozenTo = n
	ix.held = append(ix.held, ix.free...)
	ix.free = ix.free[:0]
	d := &rowData{dim: ix.dim, stride: ix.stride, vecs: ix.vecs[: n*ix.dim : n*ix.dim],
		scales: ix.scales[:n:n], labels: slices.Clone(ix.labels)}
	if ix.codes != nil {
		d.codes = ix.codes[: n*ix.stride : n*ix.stride]
	}
	return d
}

// runBuild is a build's goroutine: it links the live rows of d into g,
// then catches up with the rows added meanwhile and publishes g. Free rows
// get nodes without links (linking them would waste work, and a dead first
// node would leave the next ones nothing to link to); Add links them when
// it reuses them.
func (ix *Index) runBuild(b *build, g *graph, d *rowData) {
	defer close(b.done)
	from := 0
	for {
		to := len(d.labels)
		g.d = d
		g.grow(to)
		g.insertMany(liveRows(d.labels, from, to), b.workers, &b.stop, nil)
		if b.hold != nil {
			select {
			case <-b.hold:
			case <-b.stopped:
			}
		}
		ix.mu.Lock()
		if !b.stop.Load() {
			if n := len(ix.labels); n-to > swapTail {
				d, from = ix.freeze(), to
				b.rounds++
				ix.mu.Unlock()
				continue
			}
			g.d = &ix.rowData
			n := len(ix.labels)
			g.grow(n)
			g.insertMany(liveRows(ix.labels, to, n), 1, nil, nil)
			ix.g.Store(g)
		}
		ix.endBuild()
		ix.mu.Unlock()
		return
	}
}

// endBuild returns the held rows to the free list. mu is held.
func (ix *Index) endBuild() {
	ix.free = append(ix.free, ix.held...)
	ix.held, ix.frozenTo, ix.bld = nil, 0, nil
	ix.building.Store(false)
}

// stopBuild stops the build in progress, if any, and waits for its
// goroutine, releasing mu meanwhile. mu is held.
func (ix *Index) stopBuild() {
	b := ix.bld
	if b == nil {
		return
	}
	b.stopOnce.Do(func() {
		b.stop.Store(true)
		close(b.stopped)
	})
	ix.mu.Unlock()
	<-b.done
	ix.mu.Lock()
}

// liveRows returns the rows in [from, to) that hold a label.
func liveRows(labels []uint32, from, to int) []uint32 {
	var rows []uint32
	for r := from; r < to; r++ {
		if labels[r] != noLabel {
			rows = append(rows, uint32(r))
		}
	}
	return rows
}
