package vector

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/bench/synth"
)

// Every test closes its indexes, so no build goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// holdBuilds makes the builds started until the test ends wait before each
// locked step until release is called (or they are stopped).
func holdBuilds(t *testing.T) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	testHold = hold
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(func() {
		testHold = nil
		release()
	})
	return release
}

// best is label's best score for q in the corpus, computed without the
// package's kernels.
func (c *corpus) best(q []float32, label uint32) (float32, bool) {
	vs, ok := c.vecs[label]
	if !ok {
		return 0, false
	}
	b := -2.0
	for _, v := range vs {
		d, _ := refDot(q, v)
		b = max(b, d)
	}
	return float32(b), true
}

// validHits checks that every hit is a live label scored by its best vector.
func validHits(c *corpus, q []float32, got []Result) (bad Result, ok bool) {
	for _, g := range got {
		b, live := c.best(q, g.Label)
		if !live || abs32(g.Score-b) > 1e-5 {
			return g, false
		}
	}
	return Result{}, true
}

func wait(t *testing.T, ix *Index) {
	t.Helper()
	if err := ix.WaitBuilt(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// checkLinked verifies the graph in use: structure, and a layer-0 link for
// every live row, so that no row added during its build was left out.
func checkLinked(t *testing.T, ix *Index) *graph {
	t.Helper()
	g := ix.g.Load()
	if g == nil {
		t.Fatalf("no graph in use (mode %s, building %v)", ix.Mode(), ix.Building())
	}
	if g.d != &ix.rowData {
		t.Fatal("the graph in use reads a frozen view of the rows")
	}
	if err := g.check(); err != nil {
		t.Fatal(err)
	}
	if len(g.levels) != len(ix.labels) {
		t.Fatalf("graph of %d nodes over %d rows", len(g.levels), len(ix.labels))
	}
	for r, lab := range ix.labels {
		if lab != noLabel && ix.live > 1 && len(g.neighbours(uint32(r), 0)) == 0 {
			t.Fatalf("live row %d (label %d) has no links", r, lab)
		}
	}
	return g
}

// The Add that reaches HNSWMin returns with the graph still being built;
// searches meanwhile are exact, vectors added and deleted meanwhile are
// reflected in the graph when it goes into use, and deleted labels are
// never returned in any phase. With a few adds the build links them under
// its lock; with many it takes another round over a new frozen view.
func TestBuildInBackground(t *testing.T) {
	for _, during := range []int{10, 300} {
		t.Run("adds"+strconv.Itoa(during), func(t *testing.T) {
			release := holdBuilds(t)
			const dim, hnswMin = 32, 3000
			cl := synth.NewClusters(dim, 30, 0.7, 21)
			// Int8Min above HNSWMin: the search during the build is the
			// exact scan, so results must match brute force exactly.
			ix := mustNew(t, Options{Dim: dim, HNSWMin: hnswMin, Int8Min: 1 << 30, M: 8, EfConstruction: 64, EfSearch: 64})
			c := newCorpus(dim)
			qs := vectors(cl, 30)
			exact := func(stage string) {
				t.Helper()
				for _, q := range qs {
					sameRanking(t, ix.Search(q, 10, nil), c.exact(q, 10, nil))
				}
			}
			vs := vectors(cl, hnswMin+during)
			for i := range hnswMin - 1 {
				c.add(t, ix, uint32(i), vs[i])
			}
			if ix.Building() || ix.Mode() != ModeFlat {
				t.Fatalf("below HNSWMin: building %v, mode %s", ix.Building(), ix.Mode())
			}
			c.add(t, ix, hnswMin-1, vs[hnswMin-1])
			if !ix.Building() || ix.g.Load() != nil || ix.Mode() != ModeFlat {
				t.Fatalf("Add reaching HNSWMin returned with building %v, mode %s", ix.Building(), ix.Mode())
			}
			exact("build started")

			// Writes during the build: new labels, deleted old ones (rows
			// the build is linking) and deleted new ones.
			for i := hnswMin; i < hnswMin+during; i++ {
				c.add(t, ix, uint32(i), vs[i])
			}
			var deleted []uint32
			for l := uint32(0); l < hnswMin; l += 13 {
				deleted = append(deleted, l)
			}
			deleted = append(deleted, hnswMin, hnswMin+uint32(during)-1)
			for _, l := range deleted {
				c.del(ix, l)
			}
			// A label re-added during the build takes a row freed past
			// the frozen ones, never one the build is linking.
			c.add(t, ix, 13, vectors(cl, 1)...)
			deleted = slices.DeleteFunc(deleted, func(l uint32) bool { return l == 13 })
			if !ix.Building() || len(ix.labels) != hnswMin+during || ix.heads[13] < hnswMin {
				t.Fatalf("during the build: building %v, %d rows, label 13 in row %d", ix.Building(), len(ix.labels), ix.heads[13])
			}
			exact("writes during the build")
			for _, q := range qs {
				for _, l := range deleted {
					if r := ix.Search(q, 1, single(l)); len(r) != 0 {
						t.Fatalf("deleted label %d found during the build", l)
					}
				}
			}

			ix.mu.Lock()
			b := ix.bld
			ix.mu.Unlock()
			release()
			wait(t, ix)
			if want := min(during/swapTail, 1); b.rounds != want {
				t.Fatalf("%d catch-up rounds, want %d", b.rounds, want)
			}
			if ix.Building() || ix.Mode() != ModeHNSW {
				t.Fatalf("after the build: building %v, mode %s", ix.Building(), ix.Mode())
			}
			checkLinked(t, ix)
			checkRecall(t, ix, c, qs, 0.95, deleted)
			// Every vector added during the build is found by itself.
			for i := hnswMin + 1; i < hnswMin+during-1; i++ {
				if r := ix.Search(vs[i], 1, nil); len(r) != 1 || r[0].Label != uint32(i) {
					t.Fatalf("vector of label %d added during the build finds %v", i, r)
				}
			}
			// The rows held during the build are reused afterwards.
			rows := len(ix.labels)
			for i := range len(deleted) - 2 {
				c.add(t, ix, uint32(100_000+i), vectors(cl, 1)...)
			}
			if len(ix.labels) != rows {
				t.Fatalf("rows grew from %d to %d although free rows existed", rows, len(ix.labels))
			}
			checkLinked(t, ix)
			checkRecall(t, ix, c, qs, 0.95, deleted)
		})
	}
}

// checkRecall requires recall@10 against brute force and no deleted label.
func checkRecall(t *testing.T, ix *Index, c *corpus, qs [][]float32, want float64, deleted []uint32) {
	t.Helper()
	var sum float64
	for _, q := range qs {
		got := ix.Search(q, 10, nil)
		if bad, ok := validHits(c, q, got); !ok {
			t.Fatalf("hit %v is deleted or misscored", bad)
		}
		sum += Recall(got, c.exact(q, 10, nil))
		for _, l := range deleted {
			if r := ix.Search(q, 1, single(l)); len(r) != 0 {
				t.Fatalf("deleted label %d found", l)
			}
		}
	}
	if r := sum / float64(len(qs)); r < want {
		t.Fatalf("recall@10 %.3f < %.2f", r, want)
	}
}

// A compaction during a build stops it and builds again over the compacted
// rows; a compaction with a graph in use drops it and builds anew, and the
// searches in between use the int8 scan.
func TestCompactionRebuildsInBackground(t *testing.T) {
	release := holdBuilds(t)
	const dim = 24
	cl := synth.NewClusters(dim, 20, 0.7, 22)
	ix := mustNew(t, Options{Dim: dim, HNSWMin: 2000, Int8Min: 500, M: 8, EfConstruction: 64, EfSearch: 64})
	c := newCorpus(dim)
	fill(t, ix, c, cl, 3000)
	qs := vectors(cl, 30)
	first := ix.bld
	if first == nil {
		t.Fatal("no build after crossing HNSWMin")
	}
	var deleted []uint32
	for l := uint32(0); l < 3000; l += 3 { // a third: compacts
		c.del(ix, l)
		deleted = append(deleted, l)
	}
	if len(ix.labels) >= 3000 || !ix.Building() || ix.bld == first || ix.Mode() != ModeInt8 {
		t.Fatalf("after compacting during a build: %d rows, building %v (same build %v), mode %s",
			len(ix.labels), ix.Building(), ix.bld == first, ix.Mode())
	}
	select {
	case <-first.done:
	default:
		t.Fatal("the stopped build's goroutine still runs")
	}
	checkRecall(t, ix, c, qs, 0.99, deleted)
	release()
	wait(t, ix)
	checkLinked(t, ix)
	checkRecall(t, ix, c, qs, 0.95, deleted)

	// Compaction with the graph in use: 1000 of the 2000 rows freed.
	testHold = nil
	for l := uint32(1); l < 3000; l += 3 {
		c.del(ix, l)
		deleted = append(deleted, l)
	}
	if len(ix.labels) >= 2000 || ix.g.Load() != nil && ix.Building() {
		t.Fatalf("after compacting: %d rows, graph %v, building %v", len(ix.labels), ix.g.Load() != nil, ix.Building())
	}
	checkRecall(t, ix, c, qs, 0.99, deleted) // int8 or the new graph
	wait(t, ix)
	checkLinked(t, ix)
	checkRecall(t, ix, c, qs, 0.95, deleted)
}

// Close during a build stops it and leaves no goroutine; the closed index
// still searches and takes writes, but builds no graph.
func TestCloseDuringBuild(t *testing.T) {
	defer goleak.VerifyNone(t)
	cl := synth.NewClusters(16, 10, 0.7, 23)
	vs := vectors(cl, 2200)
	o := Options{Dim: 16, HNSWMin: 2000, Int8Min: 500, M: 8, EfConstruction: 64}
	t.Run("held", func(t *testing.T) {
		holdBuilds(t)
		ix := mustNew(t, o)
		c := newCorpus(16)
		for i := range 2000 {
			c.add(t, ix, uint32(i), vs[i])
		}
		if !ix.Building() {
			t.Fatal("no build")
		}
		ix.Close()
		if ix.Building() || ix.g.Load() != nil {
			t.Fatalf("after Close: building %v, graph %v", ix.Building(), ix.g.Load() != nil)
		}
		for i := 2000; i < 2200; i++ {
			c.add(t, ix, uint32(i), vs[i])
		}
		c.del(ix, 5)
		if ix.Building() || ix.Mode() != ModeInt8 {
			t.Fatalf("closed index: building %v, mode %s", ix.Building(), ix.Mode())
		}
		checkRecall(t, ix, c, vs[:20], 0.99, []uint32{5})
		ix.Close() // twice is harmless
	})
	t.Run("running", func(t *testing.T) {
		ix := mustNew(t, o)
		for i := range 2000 {
			if err := ix.Add(uint32(i), vs[i]); err != nil {
				t.Fatal(err)
			}
		}
		ix.Close() // most likely while linking; at worst after
		if ix.Building() {
			t.Fatal("building after Close")
		}
	})
	t.Run("auto drop", func(t *testing.T) {
		// Deletes that bring an auto index under HNSWMin/2 stop its build.
		holdBuilds(t)
		ix := mustNew(t, o)
		for i := range 2000 {
			if err := ix.Add(uint32(i), vs[i]); err != nil {
				t.Fatal(err)
			}
		}
		b := ix.bld
		for l := range uint32(1001) {
			ix.Delete(l)
		}
		if ix.Building() || ix.Mode() != ModeInt8 {
			t.Fatalf("under HNSWMin/2: building %v, mode %s", ix.Building(), ix.Mode())
		}
		<-b.done
	})
}

// A file saved during a build holds no graph, and Load builds one in the
// background; a file saved after it holds the graph, which Load takes.
func TestSaveLoadAroundBuild(t *testing.T) {
	release := holdBuilds(t)
	const dim = 20
	cl := synth.NewClusters(dim, 20, 0.7, 24)
	o := Options{Dim: dim, HNSWMin: 2500, Int8Min: 1000, M: 8, EfConstruction: 64, EfSearch: 64}
	ix := mustNew(t, o)
	c := newCorpus(dim)
	fill(t, ix, c, cl, 2800)
	for l := uint32(0); l < 2800; l += 11 {
		c.del(ix, l)
	}
	if !ix.Building() {
		t.Fatal("no build")
	}
	dir := t.TempDir()
	during := filepath.Join(dir, "during.idx")
	if err := ix.Save(during); err != nil {
		t.Fatal(err)
	}
	if fileFlags(t, during)&flagGraph != 0 {
		t.Fatal("file saved during the build holds a graph")
	}
	back, err := Load(during, o)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if !back.Building() || back.Len() != ix.Len() || back.Mode() != ModeInt8 {
		t.Fatalf("loaded during the build: building %v, Len %d of %d, mode %s", back.Building(), back.Len(), ix.Len(), back.Mode())
	}
	qs := vectors(cl, 30)
	checkRecall(t, back, c, qs, 0.99, []uint32{0, 11, 2794})
	release()
	wait(t, ix)
	wait(t, back)
	checkLinked(t, back)
	checkRecall(t, back, c, qs, 0.95, nil)

	after := filepath.Join(dir, "after.idx")
	if err := ix.Save(after); err != nil {
		t.Fatal(err)
	}
	if fileFlags(t, after)&flagGraph == 0 {
		t.Fatal("file saved after the build holds no graph")
	}
	again, err := Load(after, o)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Building() || again.Mode() != ModeHNSW {
		t.Fatalf("loaded with its graph: building %v, mode %s", again.Building(), again.Mode())
	}
	for _, q := range qs {
		if a, b := ix.Search(q, 10, nil), again.Search(q, 10, nil); !slices.Equal(a, b) {
			t.Fatalf("saved %v, loaded %v", a, b)
		}
	}
}

func fileFlags(t *testing.T, path string) uint32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < headerSize {
		t.Fatalf("read %s: %v", path, err)
	}
	return binary.LittleEndian.Uint32(b[28:])
}

// Searches under a read lock, writes under the write lock (as the store
// does), builds, a compaction and saves, all at once: run with -race. Every
// hit of every search is a live label scored by its best vector.
func TestConcurrentSearchWriteBuild(t *testing.T) {
	release := holdBuilds(t)
	const dim, n = 16, 2400
	cl := synth.NewClusters(dim, 20, 0.7, 25)
	vs := vectors(cl, 2*n)
	qs := vectors(cl, 50)
	ix := mustNew(t, Options{Dim: dim, HNSWMin: 1200, Int8Min: 400, M: 8, EfConstruction: 48, EfSearch: 48})
	c := newCorpus(dim)
	var mu sync.RWMutex
	var stop atomic.Bool
	var searches, duringBuild atomic.Int64
	sawBuild := make(chan struct{})
	var sawOnce sync.Once
	errs := make(chan string, 4)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := w; !stop.Load(); i++ {
				q := qs[i%len(qs)]
				mu.RLock()
				building := ix.Building()
				got := ix.Search(q, 10, nil)
				bad, ok := validHits(c, q, got)
				_ = ix.Mode()
				_ = ix.MemoryBytes()
				mu.RUnlock()
				if !ok {
					errs <- "hit " + strconv.Itoa(int(bad.Label)) + " is deleted or misscored"
					return
				}
				searches.Add(1)
				if building && duringBuild.Add(1) >= 20 {
					sawOnce.Do(func() { close(sawBuild) })
				}
			}
		})
	}
	write := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
	}
	path := filepath.Join(t.TempDir(), "v.idx")
	next := 0
	addSome := func(k int) {
		for range k {
			write(func() { c.add(t, ix, uint32(next), vs[next]) })
			next++
		}
	}
	addSome(n) // crosses HNSWMin: a held build
	<-sawBuild // searches ran during it
	for l := 0; l < n; l += 7 {
		write(func() { c.del(ix, uint32(l)) })
	}
	addSome(200)
	write(func() {
		if err := ix.Save(path); err != nil {
			t.Error(err)
		}
	})
	release()
	for l := 1; l < n; l += 2 { // compacts, with or without a graph
		write(func() { c.del(ix, uint32(l)) })
		if l%50 == 1 {
			addSome(5)
		}
	}
	write(func() {
		if err := ix.Save(path); err != nil {
			t.Error(err)
		}
	})
	if err := ix.WaitBuilt(t.Context()); err != nil {
		t.Fatal(err)
	}
	addSome(100) // inline inserts into the graph in use
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	t.Logf("%d searches, %d during a build", searches.Load(), duringBuild.Load())
	checkLinked(t, ix)
	checkRecall(t, ix, c, qs, 0.95, nil)
}

// FromRows indexes rows as labels 0..n-1 like a loaded file without a
// graph: the graph is built in the background, and SearchExact and
// SearchInt8 answer as the reference scan does whatever the mode.
func TestFromRows(t *testing.T) {
	const n, dim = 3000, 24
	flat := make([]float32, n*dim)
	synth.NewClusters(dim, 30, 0.7, 26).Fill(flat)
	c := newCorpus(dim)
	for i := range n {
		c.vecs[uint32(i)] = [][]float32{flat[i*dim : (i+1)*dim]}
	}
	ix, err := FromRows(Options{Dim: dim, Mode: ModeHNSW}, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.WaitBuilt(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != n || ix.Labels() != n || ix.Mode() != ModeHNSW || ix.GraphBytes() == 0 || ix.Options().M != DefaultM {
		t.Fatalf("len %d, labels %d, mode %s, graph %d bytes, options %+v", ix.Len(), ix.Labels(), ix.Mode(), ix.GraphBytes(), ix.Options())
	}
	qs := make([]float32, 20*dim)
	synth.NewClusters(dim, 30, 0.7, 26).Fill(qs)
	var graph, int8 float64
	for i := range 20 {
		q := qs[i*dim : (i+1)*dim]
		want := c.exact(q, 10, nil)
		sameRanking(t, ix.SearchExact(q, 10, nil), want)
		int8 += Recall(ix.SearchInt8(q, 10, nil), want)
		graph += Recall(ix.Search(q, 10, nil), want)
	}
	if int8/20 < 0.99 || graph/20 < 0.95 {
		t.Errorf("recall@10: int8 %.3f, graph %.3f", int8/20, graph/20)
	}
	flatIx, err := FromRows(Options{Dim: dim, Mode: ModeFlat}, flat[:10*dim])
	if err != nil {
		t.Fatal(err)
	}
	if flatIx.SearchInt8(qs[:dim], 3, nil) != nil || len(flatIx.SearchExact(qs[:dim], 3, nil)) != 3 {
		t.Error("a flat index keeps no codes: only SearchExact answers")
	}
	if _, err := FromRows(Options{Dim: dim}, flat[:dim+1]); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("a partial row: %v", err)
	}
	bad := slices.Clone(flat[:dim])
	bad[3] = float32(math.NaN())
	if _, err := FromRows(Options{Dim: dim}, bad); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("a NaN component: %v", err)
	}
}
