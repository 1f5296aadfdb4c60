package keyword

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMeasureLongPostings times the keyword side alone on a large index
// built elsewhere (KEFU_KEYWORD_INDEX: a copy of a store's
// kbs/NAME/keyword folder, e.g. the one `kefu-bench search --chunks
// 1000000 --dir DIR` builds; the test merges its segments). It loads the
// segmenter, as a server does at start, then asks SciFact's and
// afqmc_faq_zh's first 600 queries (sorted) twice, for k 50, and logs
// each pass's wall p50/p90/p99 and process CPU, the first pass's slowest
// queries with their second pass and the postings they decoded, the second
// pass's slowest with their terms' document frequencies, the first query's
// time beside its second, the postings cache's size and the terms whose
// document frequencies are cached. KEFU_QUERIES=FILE asks its lines
// instead (`kefu-bench search --queries-out FILE` writes the benchmark's).
// KEFU_WARM=1 warms the cache first (as the compactor does
// after a start); KEFU_OUT=FILE writes every hit with its score, matched
// and heading counts and masks, to compare two builds' results with cmp
// (BENCHMARKS.md, "Long postings at a million chunks").
func TestMeasureLongPostings(t *testing.T) {
	measuring(t)
	dir := os.Getenv("KEFU_KEYWORD_INDEX")
	if dir == "" {
		t.Skip("set KEFU_KEYWORD_INDEX to a copy of a large store's keyword folder")
	}
	ix, err := Open(dir, Options{CompactAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if err := Preload(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("KEFU_WARM") != "" {
		start := time.Now()
		if err := ix.warm(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("warmed in %v: cache %d MB", time.Since(start), postings.bytesUsed()>>20)
	}
	var qs []string
	if f := os.Getenv("KEFU_QUERIES"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		qs = strings.Split(strings.TrimSpace(string(b)), "\n")
	} else {
		for _, ds := range []*beir{scifactData(t), afqmc(t)} {
			for _, q := range ds.queries {
				qs = append(qs, q)
			}
		}
		slices.Sort(qs)
		qs = qs[:min(600, len(qs))]
	}
	type timed struct {
		q       string
		d       time.Duration
		i       int   // place in the pass
		decoded int64 // bytes the search added to the postings cache
	}
	var (
		first, last []timed
		out         strings.Builder
	)
	for pass := range 2 {
		first, last = last, nil
		out.Reset()
		cpu0 := processCPU()
		for i, q := range qs {
			used, start := postings.bytesUsed(), time.Now()
			hits, _, err := ix.SearchHits(ctx, q, 50, nil)
			if err != nil {
				t.Fatal(err)
			}
			last = append(last, timed{q, time.Since(start), i, postings.bytesUsed() - used})
			fmt.Fprintf(&out, "%q", q)
			for _, h := range hits {
				fmt.Fprintf(&out, " %s:%v:%d:%d:%x:%x", h.ChunkID, h.Score, h.Head, h.Matched, h.HeadMatch, h.BodyMatch)
			}
			out.WriteString("\n")
		}
		cpu := processCPU() - cpu0
		ds := make([]time.Duration, len(last))
		for i, x := range last {
			ds[i] = x.d
		}
		slices.Sort(ds)
		t.Logf("pass %d: %d queries, CPU %v, p50 %v, p90 %v, p99 %v", pass+1, len(ds), cpu, ds[len(ds)/2], ds[len(ds)*9/10], ds[len(ds)*99/100])
	}
	// The first pass's slowest queries against their second pass: the
	// start-up, collections and decoding that make the two differ.
	byTime := func(a, b timed) int { return int(b.d - a.d) }
	slow := slices.SortedFunc(slices.Values(first), byTime)
	for _, x := range slow[:min(10, len(slow))] {
		t.Logf("first pass #%d: %v (second pass %v), %d KB decoded: %.50q", x.i, x.d, last[x.i].d, x.decoded>>10, x.q)
	}
	t.Logf("first query after opening: %v (second pass %v), %d KB decoded", first[0].d, last[0].d, first[0].decoded>>10)
	slices.SortFunc(last, byTime)
	for _, x := range last[:min(10, len(last))] {
		_, info, err := ix.SearchHits(ctx, x.q, 50, nil)
		if err != nil {
			t.Fatal(err)
		}
		df := 0
		for _, qt := range info.Terms {
			df += qt.DF
		}
		t.Logf("%v: %d terms, Σdf %d: %.60q", x.d, len(info.Terms), df, x.q)
	}
	t.Logf("postings cache: %d MB", postings.bytesUsed()>>20)
	if sn, err := ix.snapshot(); err == nil {
		st := sn.segTermsOf(0, fieldMask(ix.scoredFields(sn)))
		t.Logf("document frequencies cached in segment 0: %d terms (at most %d)", st.m.Len(), dfCacheTerms)
		sn.close()
	}
	if f := os.Getenv("KEFU_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
