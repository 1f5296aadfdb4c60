package keyword

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	lev "github.com/blevesearch/vellum/levenshtein"
	"github.com/go-ego/gse"
	"github.com/kefu-dev/kefu"
)

// benchChunks is the size of the search benchmark's index
// (KEFU_BENCH_CHUNKS, default 100k).
func benchChunks() int {
	if n, err := strconv.Atoi(os.Getenv("KEFU_BENCH_CHUNKS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// mixedCorpus makes n realistic chunks, half English passages cut from
// SciFact abstracts (about 100 words, with title), half Chinese support
// passages and FAQ entries built from AFQMC questions with some English
// product words; and the queries of both test splits.
func mixedCorpus(tb testing.TB, n int) ([]Doc, []string) {
	sf, af := scifactData(tb), afqmc(tb)
	rng := rand.New(rand.NewPCG(7, 8))
	var zhQ []string
	for _, id := range slices.Sorted(maps.Keys(af.queries)) {
		zhQ = append(zhQ, af.queries[id])
	}
	for _, d := range af.corpus {
		zhQ = append(zhQ, d.Text)
	}
	en := strings.Fields("app iPhone Android order ID VIP PDF email SMS Wi-Fi App Store QR code")
	headings := []string{"账户与安全", "支付与还款", "退款与售后", "发票", "物流配送", "会员权益", "Billing > Invoices", "Account > Security"}
	docs := make([]Doc, n)
	for i := range docs {
		d := Doc{ID: fmt.Sprintf("c%07d", i), DocID: fmt.Sprintf("d%06d", i/10), Kind: "passage"}
		if i%2 == 0 {
			src := sf.corpus[(i/2)%len(sf.corpus)]
			words := strings.Fields(src.Text)
			start := 0
			if len(words) > 100 {
				start = rng.IntN(len(words) - 100)
			}
			d.Title, d.Body, d.Lang = src.Title, strings.Join(words[start:min(start+100, len(words))], " "), "en"
		} else {
			var b strings.Builder
			for range 4 + rng.IntN(5) {
				b.WriteString(zhQ[rng.IntN(len(zhQ))])
				if rng.IntN(3) == 0 {
					b.WriteString(" " + en[rng.IntN(len(en))] + " ")
				}
				b.WriteString("。")
			}
			d.Headings, d.Lang = headings[rng.IntN(len(headings))], "zh"
			if rng.IntN(5) == 0 {
				d.Kind, d.Questions = "faq", zhQ[rng.IntN(len(zhQ))]+"\n"+zhQ[rng.IntN(len(zhQ))]
			}
			d.Body = b.String()
		}
		docs[i] = d
	}
	var queries []string
	for q := range sf.qrels["test"] {
		queries = append(queries, sf.queries[q])
	}
	for q := range af.qrels["test"] {
		queries = append(queries, af.queries[q])
	}
	slices.Sort(queries)
	rng.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
	return docs, queries
}

var (
	benchOnce    sync.Once
	benchIx      *Index
	benchQueries []string
)

func benchIndex(b *testing.B) (*Index, []string) {
	b.Helper()
	benchOnce.Do(func() {
		n := benchChunks()
		docs, queries := mixedCorpus(b, n)
		ix, err := Open("", Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < n; i += 5000 {
			if err := ix.Apply(docs[i:min(i+5000, n)], nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		segs := settle(b, ix)
		b.Logf("indexed %d mixed chunks in %v (%.0f docs/s); %d segments after merging, %.0f MB on disk",
			n, took.Round(time.Millisecond), float64(n)/took.Seconds(), segs, float64(dirSize(ix.tmp))/1e6)
		benchIx, benchQueries = ix, queries
	})
	if benchIx == nil {
		b.Fatal("benchmark index failed to build earlier")
	}
	return benchIx, benchQueries
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// settle waits (at most a minute) until bleve's background merges stop
// changing the segments, so that they do not compete with the timed
// searches, and returns the number of segments.
func settle(tb testing.TB, ix *Index) int {
	last, stable := -1, 0
	for range 120 {
		sn, err := ix.snapshot()
		if err != nil {
			tb.Fatal(err)
		}
		n := len(sn.segs)
		sn.close()
		if n == last {
			if stable++; stable == 4 {
				break
			}
		} else {
			last, stable = n, 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	return last
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// runLatency runs search over the queries b.N times and reports the
// percentiles of the wall-clock latency and of the CPU time of the search's
// thread. On a shared machine the CPU time is the steadier figure: it leaves
// out the time other processes hold the cores.
func runLatency(b *testing.B, queries []string, search func(ctx context.Context, q string) ([]kefu.Scored, error)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	wall := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0, c0 := time.Now(), threadCPU()
		if _, err := search(ctx, queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		cpu = append(cpu, threadCPU()-c0)
		wall = append(wall, time.Since(t0))
	}
	b.StopTimer()
	pct := func(lat []time.Duration, p float64) float64 {
		slices.Sort(lat)
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(wall, 0.50), "p50_ms")
	b.ReportMetric(pct(wall, 0.99), "p99_ms")
	b.ReportMetric(pct(cpu, 0.50), "cpu_p50_ms")
	b.ReportMetric(pct(cpu, 0.99), "cpu_p99_ms")
}

// BenchmarkSearch measures the keyword side of a hybrid search: 50
// candidates (the retriever's default max(4k, 50)) from 100k mixed chunks.
// Baseline in the same run: bleve's own BM25 search on the same index.
func BenchmarkSearch(b *testing.B) {
	ix, queries := benchIndex(b)
	b.Run("kefu", func(b *testing.B) {
		runLatency(b, queries, func(ctx context.Context, q string) ([]kefu.Scored, error) { return ix.Search(ctx, q, 50, nil) })
	})
	b.Run("kefu_filtered", func(b *testing.B) {
		f := &kefu.Filter{Meta: map[string]string{"lang": "zh"}, Kinds: []kefu.ChunkKind{kefu.KindFAQ}}
		runLatency(b, queries, func(ctx context.Context, q string) ([]kefu.Scored, error) { return ix.Search(ctx, q, 50, f) })
	})
	b.Run("bleve_native", func(b *testing.B) {
		runLatency(b, queries, func(ctx context.Context, q string) ([]kefu.Scored, error) { return bleveSearch(ctx, ix, q, 50) })
	})
}

// BenchmarkApply measures indexing throughput in batches of 1000 mixed
// chunks (analysis on all cores, in-memory index).
func BenchmarkApply(b *testing.B) {
	docs, _ := mixedCorpus(b, 20_000)
	ix, err := Open("", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	_, _ = segmenter() // the dictionary loads once per process, not per batch
	c0 := processCPU()
	b.ResetTimer()
	for i := range b.N {
		at := (i * 1000) % len(docs)
		if err := ix.Apply(docs[at:at+1000], nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "docs/s")
	// The CPU time includes bleve's background persisting and merging.
	b.ReportMetric(float64(b.N*1000)/(processCPU()-c0).Seconds(), "docs/cpu_s")
}

// processCPU is the CPU time the process has used, all threads.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTerms measures the analyzer alone on a mixed passage.
func BenchmarkTerms(b *testing.B) {
	text := "怎么申请退款？在订单页面点击申请退款，审核通过后原路退回。Open the order page and click Request refund; the money returns within 3-5 business days."
	_ = Terms(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		_ = Terms(text)
	}
}

// BenchmarkLoadSegmenter measures what the first Chinese text costs a
// process: loading gse's dictionary. heap_MB is the live heap it adds.
func BenchmarkLoadSegmenter(b *testing.B) {
	var keep *gse.Segmenter
	var before, after runtime.MemStats
	for b.Loop() {
		keep = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := loadSegmenter()
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		keep = s
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heap_MB")
	runtime.KeepAlive(keep)
}

// BenchmarkSoundIndex measures building the pinyin index of the
// vocabulary that typo correction of Chinese queries reads (typos.go:
// sounds), which warm builds again after every start or merge (else the
// first search with an unknown Chinese word would). The index is
// KEFU_KEYWORD_INDEX, a copy of a large store's keyword folder, or the
// benchmark corpus (KEFU_BENCH_CHUNKS); the first build, in a fresh
// process, is reported apart from the loop's:
//
//	KEFU_KEYWORD_INDEX=/tmp/kw1m go test -run '^$' -bench SoundIndex -benchtime 5x ./index/keyword/
func BenchmarkSoundIndex(b *testing.B) {
	ix := largeIndex(b)
	if ix == nil {
		ix, _ = benchIndex(b)
	}
	sn, err := ix.snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer sn.close()
	ix.soundIx.Store(nil)
	start := time.Now()
	words := len(ix.sounds(sn).words)
	first := time.Since(start)
	for b.Loop() {
		ix.soundIx.Store(nil) // as a change of the index does
		words = len(ix.sounds(sn).words)
	}
	b.ReportMetric(float64(first.Microseconds())/1e3, "first_ms")
	b.ReportMetric(float64(words), "sounds")
}

// BenchmarkTypoAutomataBuilders measures building the Levenshtein automata
// builders of typo correction (distances 1 and 2), which Preload does at
// start rather than the first misspelt Latin word:
//
//	go test -run '^$' -bench TypoAutomataBuilders -benchtime 5x ./index/keyword/
func BenchmarkTypoAutomataBuilders(b *testing.B) {
	for b.Loop() {
		for _, d := range []uint8{1, 2} {
			if _, err := lev.NewLevenshteinAutomatonBuilder(d, true); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDocFreqsForgotten measures what forgetting the cached document
// frequencies and bounds costs the searches that follow: 100 questions
// asked with the cache kept, then the same 100 right after every term was
// forgotten (as the cache once did at its bound; it now forgets the least
// recently searched term). On a copy of a large store's keyword folder,
// with the benchmark's questions (kefu-bench search --queries-out):
//
//	KEFU_QUERIES=/tmp/benchq.txt KEFU_KEYWORD_INDEX=/tmp/kw1m go test -run '^$' -bench DocFreqsForgotten -benchtime 3x ./index/keyword/
func BenchmarkDocFreqsForgotten(b *testing.B) {
	ix := largeIndex(b)
	var qs []string
	if ix == nil {
		ix, qs = benchIndex(b)
	} else if err := ix.warm(b.Context()); err != nil {
		b.Fatal(err)
	}
	if f := os.Getenv("KEFU_QUERIES"); f != "" {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		qs = strings.Split(strings.TrimSpace(string(raw)), "\n")
	}
	if len(qs) == 0 {
		_, qs = mixedCorpus(b, 1000)
	}
	qs = qs[:min(100, len(qs))]
	ctx := b.Context()
	pass := func() time.Duration {
		start := time.Now()
		for _, q := range qs {
			if _, _, err := ix.SearchHits(ctx, q, 50, nil); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	pass()
	var kept, forgotten time.Duration
	for b.Loop() {
		kept += pass()
		sn, err := ix.snapshot()
		if err != nil {
			b.Fatal(err)
		}
		mask := fieldMask(ix.scoredFields(sn))
		for i := range sn.segs {
			sn.segTermsOf(i, mask).m.Purge()
		}
		sn.close()
		forgotten += pass()
	}
	b.ReportMetric(float64(kept.Microseconds())/1e3/float64(b.N), "kept_ms")
	b.ReportMetric(float64(forgotten.Microseconds())/1e3/float64(b.N), "forgotten_ms")
}
