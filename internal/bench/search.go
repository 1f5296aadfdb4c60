package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/index/qdrant"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
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
	// Progress, when set, is told how the build goes.
	Progress func(string)
}

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
	// CPU time of the searching thread: the steadier figure on a shared
	// machine (it leaves out the time other processes hold the core).
	CPUP50MS   float64 `json:"cpu_p50_ms"`
	CPUP99MS   float64 `json:"cpu_p99_ms"`
	KeywordP50 float64 `json:"keyword_p50_ms"`
	VectorP50  float64 `json:"vector_p50_ms"`
	BuildS     float64 `json:"build_s"`
	StartupS   float64 `json:"startup_s"` // reopening the store: loading vectors without re-embedding
	Corpus     string  `json:"corpus"`
	Backend    string  `json:"backend"`
	// FirstMS is the first search after the store opened: with Qdrant it
	// fetches the KB's term statistics (one facet call), cached after.
	FirstMS float64 `json:"first_ms"`
	// With SearchOptions.Store: the same run on that store, and its p50
	// minus the embedded store's.
	Other      *SearchReport `json:"other,omitempty"`
	AddedP50MS float64       `json:"added_p50_ms,omitempty"`
}

// Search builds a KB of o.Chunks chunks in a temporary data directory
// (texts recombined from the sentences of the shared SciFact and AFQMC
// corpora, random unit vectors), then times hybrid searches of the
// datasets' queries.
func Search(ctx context.Context, o SearchOptions) (*SearchReport, error) {
	def(&o.Chunks, 100_000)
	def(&o.Dim, 384)
	def(&o.Queries, 500)
	dir, err := os.MkdirTemp("", "kefu-bench-search-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	open := func() (kefu.Store, error) { return index.Open(dir, index.Options{}) }
	rep, err := searchOn(ctx, o, "embedded", open)
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
	other, err := searchOn(ctx, o, "qdrant "+o.Store, openQ)
	if err != nil {
		return nil, err
	}
	rep.Other, rep.AddedP50MS = other, other.P50MS-rep.P50MS
	return rep, nil
}

// searchOn builds the benchmark KB in the store open returns, reopens it
// and times the searches; the same seeds give every store the same chunks,
// queries and query vectors.
func searchOn(ctx context.Context, o SearchOptions, backend string, open func() (kefu.Store, error)) (*SearchReport, error) {
	n, dim, queries, procs, progress := o.Chunks, o.Dim, o.Queries, o.Procs, o.Progress
	sentences, qs, err := searchCorpus()
	if err != nil {
		return nil, err
	}
	st, err := open()
	if err != nil {
		return nil, err
	}
	if err := st.CreateKB(ctx, &kefu.KB{Name: "bench", Model: "bench@random", Dim: dim, Settings: kefu.DefaultSettings()}); err != nil {
		st.Close()
		return nil, err
	}
	rng := rand.New(rand.NewPCG(7, 11))
	t0 := time.Now()
	const perDoc = 50
	for d := 0; d*perDoc < n; d++ {
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
		if err := st.PutDocument(ctx, doc, chunks, vecs); err != nil {
			st.Close()
			return nil, err
		}
		if progress != nil && d%100 == 0 {
			progress(fmt.Sprintf("built %d/%d chunks", d*perDoc, n))
		}
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	build := time.Since(t0)
	t0 = time.Now()
	st, err = open()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	startup := time.Since(t0)

	r := &retrieve.Retriever{Index: st, KBs: st}
	kb, err := st.KB(ctx, "bench")
	if err != nil {
		return nil, err
	}
	if procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	var lat, cpu, kw, vec []float64
	var first float64
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < queries+20; i++ {
		q := kefu.Query{Text: qs[i%len(qs)], K: 10, Mode: kefu.ModeHybrid}
		v := synth.RandomUnit(rng, dim)
		start, c0 := time.Now(), threadCPU()
		c, err := r.CandidatesWith(ctx, kb, q, kb.Settings.Fusion, v)
		if err != nil {
			return nil, err
		}
		if _, err := r.Rank(ctx, kb, c, q, kb.Settings.Fusion); err != nil {
			return nil, err
		}
		if i == 0 {
			first = ms(time.Since(start))
		}
		if i < 20 {
			continue // warm-up
		}
		lat, cpu = append(lat, ms(time.Since(start))), append(cpu, ms(threadCPU()-c0))
		kw = append(kw, ms(c.Timings[kefu.TimingKeyword]))
		vec = append(vec, ms(c.Timings[kefu.TimingVector]))
	}
	return &SearchReport{
		Chunks: n, Dim: dim, Queries: queries, Procs: runtime.GOMAXPROCS(0),
		P50MS: pct(lat, 50), P90MS: pct(lat, 90), P99MS: pct(lat, 99), CPUP50MS: pct(cpu, 50), CPUP99MS: pct(cpu, 99),
		KeywordP50: pct(kw, 50), VectorP50: pct(vec, 50),
		BuildS: build.Seconds(), StartupS: startup.Seconds(),
		Corpus: "sentences of scifact + afqmc_faq_zh recombined; queries of both datasets", Backend: backend, FirstMS: first,
	}, nil
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
