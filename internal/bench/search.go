package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/index/qdrant"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
	"github.com/kefu-dev/kefu/index/vector"
	"github.com/kefu-dev/kefu/internal/atomicfile"
	"github.com/kefu-dev/kefu/internal/bench/synth"
	"github.com/kefu-dev/kefu/internal/text"
	"github.com/kefu-dev/kefu/retrieve"
)

// SearchOptions configure Search. Zero fields take the defaults.
type SearchOptions struct {
	Chunks     int    // chunks in the benchmark KB, default 100000
	Dim        int    // vector dimensions, default 384
	Queries    int    // queries timed, default 500
	Procs      int    // GOMAXPROCS while timing; 0 leaves it
	CPUProfile string // write a CPU profile of the timed searches here
	// Store, when set, times the same KB and queries on another store
	// beside the embedded one: qdrant://HOST:PORT, or "inprocess" for the
	// in-process Qdrant of the tests (index/qdrant/qdranttest).
	Store string
	// Dir, when set, keeps the embedded store's KB there instead of in a
	// temporary folder: a later run with the same Dir adds only the chunks
	// it lacks (the chunks of a document depend only on its number), so a
	// large KB is built once, or in steps, and measured by a fresh process.
	Dir string
	// VectorMode is the embedded store's vector search (vector.Options.Mode):
	// "" or auto as in the product, int8 to time a KB past HNSWMin without
	// waiting for its graph.
	VectorMode string
	// Repeat asks the timed searches a second time, in the same order and
	// with the same vectors, and reports that pass apart (SearchReport.
	// Repeat): the difference is what a search spends on terms it meets
	// for the first time.
	Repeat bool
	// Progress, when set, is told how the build goes.
	Progress func(string)
}

// warmups is the untimed searches before a pass's timed ones.
const warmups = 20

// searchTimes are one search's wall and process CPU time and its phases'
// times (the two sides, loading the hits' chunks, fusion and confidence),
// in milliseconds.
type searchTimes struct{ wall, cpu, keyword, vector, load, fuse float64 }

// The phases of searchTimes, for pctOf.
func wallOf(t searchTimes) float64    { return t.wall }
func cpuOf(t searchTimes) float64     { return t.cpu }
func keywordOf(t searchTimes) float64 { return t.keyword }
func vectorOf(t searchTimes) float64  { return t.vector }
func loadOf(t searchTimes) float64    { return t.load }
func fuseOf(t searchTimes) float64    { return t.fuse }

// pctOf is the p-th percentile of one phase of ts.
func pctOf(ts []searchTimes, p float64, phase func(searchTimes) float64) float64 {
	xs := make([]float64, len(ts))
	for i, t := range ts {
		xs[i] = phase(t)
	}
	return pct(xs, p)
}

// timeSearch runs one hybrid search as the answerer does (candidates, then
// fusion and confidence) and times it.
func timeSearch(ctx context.Context, r *retrieve.Retriever, kb *kefu.KB, q kefu.Query, v []float32) (searchTimes, error) {
	start, c0 := time.Now(), processCPU()
	c, err := r.CandidatesWith(ctx, kb, q, kb.Settings.Fusion, v)
	if err != nil {
		return searchTimes{}, err
	}
	res, err := r.Rank(ctx, kb, c, q, kb.Settings.Fusion)
	if err != nil {
		return searchTimes{}, err
	}
	return searchTimes{wall: ms(time.Since(start)), cpu: ms(processCPU() - c0),
		keyword: ms(c.Timings[kefu.TimingKeyword]), vector: ms(c.Timings[kefu.TimingVector]),
		load: ms(c.Timings[kefu.TimingLoad]), fuse: ms(res.Timings[kefu.TimingFuse])}, nil
}

// PassReport is the latency of the timed searches asked again.
type PassReport struct {
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	CPUP99MS   float64 `json:"cpu_p99_ms"`
	KeywordP50 float64 `json:"keyword_p50_ms"`
	KeywordP99 float64 `json:"keyword_p99_ms"`
	// Slowest are the first pass's slowest searches beside their second
	// pass: what a fresh process pays that a warm one does not.
	Slowest []SlowSearch `json:"slowest_first_pass,omitempty"`
}

// SlowSearch is a search of the first pass, its wall, keyword-side,
// vector-side, chunk-loading and fusion milliseconds (the two sides run
// side by side: with one core, each side's time holds what the other ran
// meanwhile), and the same search's on the
// second pass.
type SlowSearch struct {
	Query     string  `json:"query"`
	FirstMS   float64 `json:"first_ms"`
	KeywordMS float64 `json:"keyword_ms"`
	VectorMS  float64 `json:"vector_ms"`
	LoadMS    float64 `json:"load_ms"`
	FuseMS    float64 `json:"fuse_ms"`
	SecondMS  float64 `json:"second_ms"`
	Keyword2  float64 `json:"second_keyword_ms"`
	Vector2   float64 `json:"second_vector_ms"`
	Load2     float64 `json:"second_load_ms"`
	Fuse2     float64 `json:"second_fuse_ms"`
}

// slowestShown is how many of the first pass's slowest searches a report
// with a second pass lists.
const slowestShown = 10

// SearchReport is the result of Search: hybrid search latency with the
// query embedding excluded (vectors are given).
type SearchReport struct {
	Chunks  int     `json:"chunks"`
	Dim     int     `json:"dim"`
	Queries int     `json:"queries"`
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	P99MS   float64 `json:"p99_ms"`
	Procs   int     `json:"procs"` // GOMAXPROCS while timing
	// CPU time of the process per search (every thread: the keyword side
	// runs on a goroutine of its own, and the garbage collector's share
	// counts too): the steadier figure on a shared machine, as it leaves
	// out the time other processes hold the core. With Procs 1 nothing
	// else of the process runs meanwhile.
	CPUP50MS   float64 `json:"cpu_p50_ms"`
	CPUP99MS   float64 `json:"cpu_p99_ms"`
	KeywordP50 float64 `json:"keyword_p50_ms"`
	KeywordP99 float64 `json:"keyword_p99_ms"`
	VectorP50  float64 `json:"vector_p50_ms"`
	// LoadP99 and FuseP99 are the slowest of the rest: loading the kept
	// hits' chunks from the store, and fusion with the confidence.
	LoadP99 float64 `json:"load_p99_ms"`
	FuseP99 float64 `json:"fuse_p99_ms"`
	// Repeat is the second pass of SearchOptions.Repeat.
	Repeat *PassReport `json:"repeat,omitempty"`
	BuildS float64     `json:"build_s"`
	// Built is the chunks this run added (fewer than Chunks when it
	// continued a store kept in SearchOptions.Dir; 0 when it only opened it).
	Built    int     `json:"built"`
	StartupS float64 `json:"startup_s"` // reopening the store: loading vectors without re-embedding
	// BuildCPUS and StartupCPUS are the same phases in CPU time of the
	// whole process (every thread): steadier than wall time on a shared
	// machine.
	BuildCPUS   float64 `json:"build_cpu_s"`
	StartupCPUS float64 `json:"startup_cpu_s"`
	// VectorMode is the vector search the KB used while timed (flat, int8
	// or hnsw); GraphWaitS the time its graph took to be ready after the
	// store opened (0 when the snapshot held it).
	VectorMode string  `json:"vector_mode,omitempty"`
	GraphWaitS float64 `json:"graph_wait_s"`
	// KeywordSegments is the keyword index's segments while timed, after
	// CompactWaitS waiting for them to merge (a store built by an older
	// kefu merges them once reopened; see keyword.Index.Compact).
	KeywordSegments int     `json:"keyword_segments,omitempty"`
	CompactWaitS    float64 `json:"compact_wait_s,omitempty"`
	// DiskBytes is the store's size on disk (the embedded store: bbolt,
	// keyword and vector files).
	DiskBytes int64 `json:"disk_bytes,omitempty"`
	// RSS of the process after the store opened, and after the searches;
	// HWM the peak (VmHWM) of the process so far. Read them from a run that
	// only opened a kept store: one that built it holds the build's memory.
	// RSSBaseBytes is the RSS just before opening: the benchmark's own
	// corpus and queries, to subtract from the others.
	RSSBaseBytes  int64 `json:"rss_base_bytes,omitempty"`
	RSSOpenBytes  int64 `json:"rss_open_bytes,omitempty"`
	RSSAfterBytes int64 `json:"rss_after_bytes,omitempty"`
	HWMBytes      int64 `json:"hwm_bytes,omitempty"`
	// HeapBytes is the Go heap in use after the searches (after a GC).
	HeapBytes int64  `json:"heap_bytes,omitempty"`
	Corpus    string `json:"corpus"`
	Backend   string `json:"backend"`
	// FirstMS is the first search after the store opened: with Qdrant it
	// fetches the KB's term statistics (one facet call), cached after.
	FirstMS float64 `json:"first_ms"`
	// AfterWriteMS is the first search after a write of one document (taken
	// back after): with Qdrant, the node that wrote carries the KB's term
	// statistics across its write instead of fetching them again.
	AfterWriteMS float64 `json:"after_write_ms"`
	// With SearchOptions.Store: the same run on that store, and its p50
	// minus the embedded store's; Paired, both timed side by side.
	Other      *SearchReport `json:"other,omitempty"`
	AddedP50MS float64       `json:"added_p50_ms,omitempty"`
	Paired     *PairedReport `json:"paired,omitempty"`
}

// Search builds a KB of o.Chunks chunks in a temporary data directory
// (texts recombined from the sentences of the shared SciFact and AFQMC
// corpora, random unit vectors), then times hybrid searches of the
// datasets' queries.
func Search(ctx context.Context, o SearchOptions) (*SearchReport, error) {
	def(&o.Chunks, 100_000)
	def(&o.Dim, 384)
	def(&o.Queries, 500)
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kefu-bench-search-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	// The vector graph builds on every core, as nothing else runs beside
	// the build (the store's default leaves half to searches).
	open := func() (kefu.Store, error) {
		return index.Open(dir, index.Options{Vector: vector.Options{Mode: o.VectorMode, Workers: runtime.NumCPU()}})
	}
	rep, err := searchOn(ctx, o, "embedded", dir, open)
	if err != nil || o.Store == "" {
		return rep, err
	}
	url := o.Store
	if url == "inprocess" {
		srv, err := qdranttest.Start()
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		url = srv.URL()
	}
	qo, err := qdrant.ParseURL(url)
	if err != nil {
		return nil, err
	}
	qo.Prefix = fmt.Sprintf("kefubench%d", time.Now().UnixNano()%1e9)
	defer func() {
		// The benchmark's KB goes with the run.
		if s, err := qdrant.Open(context.Background(), qo); err == nil {
			s.DeleteKB(context.Background(), "bench")
			s.Close()
		}
	}()
	openQ := func() (kefu.Store, error) { return qdrant.Open(ctx, qo) }
	other, err := searchOn(ctx, o, "qdrant "+o.Store, "", openQ)
	if err != nil {
		return nil, err
	}
	rep.Other, rep.AddedP50MS = other, other.P50MS-rep.P50MS
	if rep.Paired, err = searchPaired(ctx, o, [2]func() (kefu.Store, error){open, openQ}); err != nil {
		return nil, err
	}
	return rep, nil
}

// searchOn builds the benchmark KB in the store open returns (in dir, when
// it is the embedded store kept there: continuing what an earlier run
// built), reopens it and times the searches; the same seeds give every
// store the same chunks, queries and query vectors.
func searchOn(ctx context.Context, o SearchOptions, backend, dir string, open func() (kefu.Store, error)) (*SearchReport, error) {
	n, dim, queries, procs, progress := o.Chunks, o.Dim, o.Queries, o.Procs, o.Progress
	sentences, qs, err := searchCorpus()
	if err != nil {
		return nil, err
	}
	const perDoc = 50
	done := 0 // chunks already in a kept store
	var marker string
	if o.Dir != "" && dir != "" {
		marker = filepath.Join(dir, "kefu-bench-search.json")
		if done, err = readSearchMarker(marker, dim); err != nil {
			return nil, err
		}
		if done > n {
			return nil, kefu.Errorf(kefu.EINVALID, "bench: %s holds %d chunks, more than --chunks %d", dir, done, n)
		}
	}
	st, err := open()
	if err != nil {
		return nil, err
	}
	if done == 0 {
		if err := st.CreateKB(ctx, &kefu.KB{Name: "bench", Model: "bench@random", Dim: dim, Settings: kefu.DefaultSettings()}); err != nil {
			st.Close()
			return nil, err
		}
	}
	t0, c0 := time.Now(), processCPU()
	// Documents go in 20 to a commit, as an ingest of many small files
	// does (PutDocuments).
	const docsPerCommit = 20
	var ups []kefu.DocumentUpdate
	for d := done / perDoc; d*perDoc < n; d++ {
		if err := ctx.Err(); err != nil {
			// Interrupted: what is committed stays, and Close saves the
			// vector snapshot, so a later run continues from here.
			st.Close()
			return nil, err
		}
		rng := rand.New(rand.NewPCG(7, uint64(d)))
		m := min(perDoc, n-d*perDoc)
		chunks := make([]kefu.Chunk, m)
		vecs := make([][][]float32, m)
		for i := range chunks {
			var b strings.Builder
			for j := 0; j < 3+rng.IntN(4); j++ {
				b.WriteString(sentences[rng.IntN(len(sentences))])
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "(%d-%d)", d, i) // no two chunks alike
			t := b.String()
			chunks[i] = kefu.Chunk{Kind: kefu.KindPassage, Title: fmt.Sprintf("Document %d", d), Text: t, Lang: text.Lang(t)}
			vecs[i] = [][]float32{synth.RandomUnit(rng, dim)}
		}
		doc := &kefu.Document{ID: fmt.Sprintf("doc-%d", d), KB: "bench", Source: fmt.Sprintf("doc-%d.txt", d)}
		ups = append(ups, kefu.DocumentUpdate{Doc: doc, Chunks: chunks, Vectors: vecs})
		if last := (d+1)*perDoc >= n; len(ups) == docsPerCommit || last {
			if err := st.PutDocuments(ctx, ups); err != nil {
				st.Close()
				return nil, err
			}
			ups = ups[:0]
			if marker != "" {
				if err := writeSearchMarker(marker, min((d+1)*perDoc, n), dim); err != nil {
					st.Close()
					return nil, err
				}
			}
			if progress != nil {
				progress(fmt.Sprintf("built %d/%d chunks in %.0f s", min((d+1)*perDoc, n), n, time.Since(t0).Seconds()))
			}
		}
	}
	if w, ok := st.(vectorWaiter); ok && done < n {
		// The snapshot saved at close must hold the graph, or the reopened
		// store builds it again while being timed.
		if _, err := w.WaitVectors(ctx, "bench"); err != nil {
			st.Close()
			return nil, err
		}
	}
	if w, ok := st.(compactWaiter); ok && done < n {
		// Likewise the keyword segments, merged once writes pause.
		if _, err := w.WaitCompacted(ctx, "bench"); err != nil {
			st.Close()
			return nil, err
		}
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	build, buildCPU := time.Since(t0), processCPU()-c0
	if done == n {
		build, buildCPU = 0, 0
	}
	runtime.GC()
	debug.FreeOSMemory()
	rssBase, _ := procStatus("VmRSS")
	t0, c0 = time.Now(), processCPU()
	st, err = open()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	startup, startupCPU := time.Since(t0), processCPU()-c0
	rep := &SearchReport{Chunks: n, Dim: dim, Queries: queries, BuildS: build.Seconds(), Built: n - done, StartupS: startup.Seconds(),
		BuildCPUS: buildCPU.Seconds(), StartupCPUS: startupCPU.Seconds(),
		Corpus: "sentences of scifact + afqmc_faq_zh recombined; queries of both datasets", Backend: backend}
	if err := waitReady(ctx, st, rep); err != nil {
		return nil, err
	}
	if dir != "" {
		rep.DiskBytes, rep.RSSBaseBytes = dirBytes(dir), rssBase
		rep.RSSOpenBytes, _ = procStatus("VmRSS")
	}

	r := &retrieve.Retriever{Index: st, KBs: st}
	kb, err := st.KB(ctx, "bench")
	if err != nil {
		return nil, err
	}
	if procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	var prof *os.File
	if o.CPUProfile != "" {
		if prof, err = os.Create(o.CPUProfile); err != nil {
			return nil, err
		}
		defer prof.Close()
	}
	var first []searchTimes // the timed searches' times
	type timedQuery struct {
		q kefu.Query
		v []float32
	}
	var timed []timedQuery // the timed searches, for SearchOptions.Repeat
	rng := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < queries+warmups; i++ {
		if i == warmups && prof != nil {
			// The profile holds the timed searches only: not the first,
			// which fetches Qdrant's term statistics, nor the warm-up.
			if err := pprof.StartCPUProfile(prof); err != nil {
				return nil, err
			}
			defer pprof.StopCPUProfile()
		}
		q := kefu.Query{Text: qs[i%len(qs)], K: 10, Mode: kefu.ModeHybrid}
		v := synth.RandomUnit(rng, dim)
		t, err := timeSearch(ctx, r, kb, q, v)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			rep.FirstMS = t.wall
		}
		if i < warmups {
			continue // warm-up
		}
		first = append(first, t)
		if o.Repeat {
			timed = append(timed, timedQuery{q, v})
		}
	}
	pprof.StopCPUProfile() // (when one runs) the second pass and the write below are not timed searches
	if o.Repeat {
		var second []searchTimes
		for _, tq := range timed {
			t, err := timeSearch(ctx, r, kb, tq.q, tq.v)
			if err != nil {
				return nil, err
			}
			second = append(second, t)
		}
		rep.Repeat = &PassReport{P50MS: pctOf(second, 50, wallOf), P99MS: pctOf(second, 99, wallOf), CPUP99MS: pctOf(second, 99, cpuOf),
			KeywordP50: pctOf(second, 50, keywordOf), KeywordP99: pctOf(second, 99, keywordOf)}
		order := make([]int, len(first))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(first[b].wall, first[a].wall) })
		for _, i := range order[:min(slowestShown, len(order))] {
			f, s := first[i], second[i]
			rep.Repeat.Slowest = append(rep.Repeat.Slowest, SlowSearch{Query: timed[i].q.Text, FirstMS: f.wall, KeywordMS: f.keyword, VectorMS: f.vector, LoadMS: f.load, FuseMS: f.fuse,
				SecondMS: s.wall, Keyword2: s.keyword, Vector2: s.vector, Load2: s.load, Fuse2: s.fuse})
		}
	}
	if rep.AfterWriteMS, err = searchAfterWrite(ctx, st, r, qs[0], dim); err != nil {
		return nil, err
	}
	rep.Procs = runtime.GOMAXPROCS(0)
	rep.P50MS, rep.P90MS, rep.P99MS = pctOf(first, 50, wallOf), pctOf(first, 90, wallOf), pctOf(first, 99, wallOf)
	rep.CPUP50MS, rep.CPUP99MS = pctOf(first, 50, cpuOf), pctOf(first, 99, cpuOf)
	rep.KeywordP50, rep.KeywordP99, rep.VectorP50 = pctOf(first, 50, keywordOf), pctOf(first, 99, keywordOf), pctOf(first, 50, vectorOf)
	rep.LoadP99, rep.FuseP99 = pctOf(first, 99, loadOf), pctOf(first, 99, fuseOf)
	if dir != "" {
		rep.RSSAfterBytes, _ = procStatus("VmRSS")
		rep.HWMBytes, _ = procStatus("VmHWM")
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		rep.HeapBytes = int64(m.HeapInuse)
	}
	return rep, nil
}

// searchAfterWrite writes one document into the benchmark KB, times the
// search that follows, and deletes the document again.
func searchAfterWrite(ctx context.Context, st kefu.Store, r *retrieve.Retriever, query string, dim int) (float64, error) {
	rng := rand.New(rand.NewPCG(7, 1<<40))
	t := "A document written while the knowledge base is searched."
	doc := &kefu.Document{ID: "bench-write", KB: "bench", Source: "bench-write.txt"}
	up := kefu.DocumentUpdate{Doc: doc, Chunks: []kefu.Chunk{{Kind: kefu.KindPassage, Title: "Write", Text: t, Lang: text.Lang(t)}},
		Vectors: [][][]float32{{synth.RandomUnit(rng, dim)}}}
	if err := st.PutDocuments(ctx, []kefu.DocumentUpdate{up}); err != nil {
		return 0, err
	}
	kb, err := st.KB(ctx, "bench")
	if err != nil {
		return 0, err
	}
	q := kefu.Query{Text: query, K: 10, Mode: kefu.ModeHybrid}
	start := time.Now()
	c, err := r.CandidatesWith(ctx, kb, q, kb.Settings.Fusion, synth.RandomUnit(rng, dim))
	if err == nil {
		_, err = r.Rank(ctx, kb, c, q, kb.Settings.Fusion)
	}
	took := ms(time.Since(start))
	if err != nil {
		return 0, err
	}
	return took, st.DeleteDocument(ctx, "bench", doc.ID)
}

// waitReady waits for the benchmark KB's vector graph and keyword
// segments of a store just opened, and notes in rep what they were and
// how long they took.
func waitReady(ctx context.Context, st kefu.Store, rep *SearchReport) error {
	if w, ok := st.(vectorWaiter); ok {
		t0 := time.Now()
		mode, err := w.WaitVectors(ctx, "bench")
		if err != nil {
			return err
		}
		rep.VectorMode, rep.GraphWaitS = mode, time.Since(t0).Seconds()
	}
	if w, ok := st.(compactWaiter); ok {
		t0 := time.Now()
		segs, err := w.WaitCompacted(ctx, "bench")
		if err != nil {
			return err
		}
		rep.KeywordSegments, rep.CompactWaitS = segs, time.Since(t0).Seconds()
	}
	return nil
}

// vectorWaiter is a store that can wait for its vector graph (the embedded
// store, index.Store.WaitVectors).
type vectorWaiter interface {
	WaitVectors(ctx context.Context, kb string) (string, error)
}

// compactWaiter is a store that can wait for its keyword segments to merge
// (the embedded store, index.Store.WaitCompacted).
type compactWaiter interface {
	WaitCompacted(ctx context.Context, kb string) (int, error)
}

// searchMarker records how many chunks a kept benchmark store holds.
type searchMarker struct {
	Chunks int `json:"chunks"`
	Dim    int `json:"dim"`
}

// readSearchMarker returns the chunks a kept store holds (0 when new).
func readSearchMarker(path string, dim int) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var m searchMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("bench: %s: %w", path, err)
	}
	if m.Dim != dim {
		return 0, kefu.Errorf(kefu.EINVALID, "bench: %s holds %d-dimensional vectors, not %d", filepath.Dir(path), m.Dim, dim)
	}
	return m.Chunks, nil
}

func writeSearchMarker(path string, chunks, dim int) error {
	b, err := json.Marshal(searchMarker{Chunks: chunks, Dim: dim})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// procStatus reads a size field (VmRSS, VmHWM…) of /proc/self/status.
func procStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("bench: no %s in /proc/self/status", field)
}

// SearchQueries returns the texts of the n searches a Search pass times,
// in its order, for harnesses that time one side alone on the same
// queries (index/keyword's TestMeasureLongPostings, KEFU_QUERIES).
func SearchQueries(n int) ([]string, error) {
	_, qs, err := searchCorpus()
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		out[i] = qs[(i+warmups)%len(qs)]
	}
	return out, nil
}

// searchCorpus returns sentences and queries from the shared datasets.
func searchCorpus() (sentences, queries []string, err error) {
	for _, ds := range []string{"scifact", "afqmc_faq_zh"} {
		d, err := dataset(ds, "test")
		if err != nil {
			return nil, nil, err
		}
		for _, doc := range d.Corpus {
			sentences = append(sentences, text.Sentences(doc.Text)...)
		}
		for _, id := range d.QueryIDs() {
			queries = append(queries, d.Queries[id])
		}
	}
	rand.New(rand.NewPCG(3, 5)).Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
	return sentences, queries, nil
}
