package keyword

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
)

// Pruning must change nothing: for SciFact's queries, the top k (10, and
// the 50 hybrid search asks for) of a pruned search are the first k of the
// full ranking (k large enough that nothing is pruned), scores, matched
// terms and term masks included, and the query terms' document frequencies
// are the same. The test also checks that pruning happened, both with the
// candidates listed and without, so it tests something.
func TestPruningIsExact(t *testing.T) {
	ds, ix := scifact(t)
	pruned, listed := checkPruning(t, ds, ix)
	// Chinese FAQ matching: words and single characters, many common ones.
	zh := afqmc(t)
	zix := buildIndex(t, zh, Options{}, true)
	defer zix.Close()
	p, l := checkPruning(t, zh, zix)
	pruned, listed = pruned+p, listed+l
	// Both ways of scoring the candidates ran: the gate alone, over whole
	// lists, and the listed candidates found in each list.
	if listed == 0 || listed == pruned {
		t.Fatalf("%d of %d pruned searches listed their candidates: one way of scoring them is not tested", listed, pruned)
	}
}

// checkPruning returns how many searches pruned and how many of them
// listed their candidates.
func checkPruning(t *testing.T, ds *beir, ix *Index) (pruned, listed int64) {
	t.Helper()
	ctx := context.Background()
	before, beforeListed := ix.pruned.Load(), ix.listed.Load()
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
	pruned, listed = ix.pruned.Load()-before, ix.listed.Load()-beforeListed
	if pruned == 0 {
		t.Fatal("no search pruned: the test proves nothing")
	}
	t.Logf("%d of %d searches pruned, %d of them listing their candidates", pruned, 3*n, listed)
	return pruned, listed
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

// The bounds the pruning relies on, checked against the postings
// themselves: for every term of SciFact's and afqmc's queries, the union
// document frequency is the number of documents eachPosting finds in any
// field, and no document's BM25F pseudo-frequency exceeds maxTF. The bound
// is also close: on average within a factor the test logs.
func TestBoundsHoldForEveryDocument(t *testing.T) {
	_, sci := scifact(t)
	zh := afqmc(t)
	zix := buildIndex(t, zh, Options{}, true)
	defer zix.Close()
	for _, c := range []struct {
		ds *beir
		ix *Index
	}{{scifactData(t), sci}, {zh, zix}} {
		checkBounds(t, c.ds, c.ix)
	}
}

func checkBounds(t *testing.T, ds *beir, ix *Index) {
	t.Helper()
	ctx := context.Background()
	sn, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.close()
	s := new(scratch)
	s.prepare(sn.size())
	fields, err := ix.fieldParams(sn, s)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	terms, tight := 0, 0.0
	n := 0
	for _, q := range ds.queries {
		if n++; n > 200 {
			break
		}
		for _, qt := range ix.queryTerms(q) {
			if seen[qt.term] {
				continue
			}
			seen[qt.term] = true
			per := make([]termDF, len(sn.segs))
			df, err := sn.docFreqs(fieldMask(fields), []byte(qt.term), s, per)
			if err != nil {
				t.Fatal(err)
			}
			tf := map[uint64]float64{}
			read := 0
			for _, fp := range fields {
				err := eachPosting(ctx, sn, s, fp, []byte(qt.term), nil, &read, func(d, freq uint64, inv float64) {
					tf[d] += fp.weight * float64(freq) * inv
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if int(df.union) != len(tf) {
				t.Fatalf("term %q: union document frequency %d, postings in %d documents", qt.term, df.union, len(tf))
			}
			if len(tf) == 0 {
				continue
			}
			bound, top := maxTF(fields, per), 0.0
			for _, x := range tf {
				top = max(top, x)
			}
			if top > bound*(1+boundMargin) {
				t.Fatalf("term %q: a document's pseudo-frequency %v exceeds the bound %v", qt.term, top, bound)
			}
			terms++
			tight += bound / top
		}
	}
	if terms == 0 {
		t.Fatal("no query term in the index: the test proves nothing")
	}
	t.Logf("%d terms: the bound is %.2f× the largest pseudo-frequency on average", terms, tight/float64(terms))
}

// A deletion changes the cached document frequencies: the segment's
// deletions are part of their key.
func TestDocFreqsFollowDeletes(t *testing.T) {
	ix, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	docs := []Doc{
		{ID: "a", DocID: "a", Kind: "passage", Title: "refund policy", Body: "refund within seven days"},
		{ID: "b", DocID: "b", Kind: "passage", Title: "shipping", Body: "a refund is paid back to the card"},
		{ID: "c", DocID: "c", Kind: "passage", Title: "invoices", Body: "invoices are sent by mail"},
	}
	if err := ix.Apply(docs, nil, nil); err != nil {
		t.Fatal(err)
	}
	df := func() int {
		_, info, err := ix.SearchHits(context.Background(), "refund", 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		return info.Terms[0].DF
	}
	if got := df(); got != 2 {
		t.Fatalf("refund in %d chunks, want 2", got)
	}
	if err := ix.Apply(nil, []string{"a"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := df(); got != 1 {
		t.Fatalf("after deleting a: refund in %d chunks, want 1", got)
	}
}

// Typo correction keeps the words near a query word per segment
// (fuzzyCache): for misspellings of SciFact's query words, asked twice, it
// finds what the automaton finds in each dictionary of each segment, with
// the same counts.
func TestFuzzyMatchesEveryDictionary(t *testing.T) {
	ds, ix := scifact(t)
	sn, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.close()
	if len(sn.segs) < 2 {
		t.Fatalf("%d segment: the test needs several", len(sn.segs))
	}
	n, found := 0, 0
	for _, q := range ds.queries {
		for _, qt := range ix.queryTerms(q) {
			w := qt.term
			if len(w) < 6 || !hasLatinLetter([]byte(w)) || n >= 100 {
				continue
			}
			n++
			typo := w[:2] + w[3:] // a letter dropped
			dfa := typoDFA(typo)
			want := map[string]uint64{}
			// A typo that builds no automaton (too short once a letter is
			// dropped, or a rune cut in two) must get no corrections.
			for i := range sn.segs {
				for f := range textFields {
					d, err := sn.dict(i, f)
					if err != nil || d == nil || dfa == nil {
						continue
					}
					it := d.AutomatonIterator(dfa, nil, nil)
					for e, err := it.Next(); err == nil && e != nil; e, err = it.Next() {
						if e.Term != typo && !strings.HasPrefix(e.Term, bigramMark) && hasLatinLetter([]byte(e.Term)) {
							want[e.Term] += e.Count
						}
					}
				}
			}
			for range 2 {
				if got := ix.fuzzy(sn, typo); !slices.Equal(got, mostFrequent(want)) {
					t.Fatalf("%q: corrections %v, the dictionaries give %v", typo, got, mostFrequent(want))
				}
			}
			if len(want) > 0 {
				found++
			}
		}
	}
	if found == 0 {
		t.Fatal("no correction found: the test proves nothing")
	}
	t.Logf("%d misspellings, %d with corrections, over %d segments", n, found, len(sn.segs))
}

// Searches share the caches of document frequencies and near words, with
// every index of the process: run concurrently with each other and with
// another index's Apply and searches, each gets the results it gets alone.
// With -race (`go test -race -run Concurrent ./index/keyword`) the test
// also checks the caches' locking.
func TestConcurrentSearchesShareCaches(t *testing.T) {
	ix, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	words := []string{"refund", "shipping", "invoice", "coupon", "account", "password", "delivery", "payment", "退款", "发票", "快递", "优惠券"}
	doc := func(i int) Doc {
		id := fmt.Sprintf("c%03d", i)
		return Doc{ID: id, DocID: id, Kind: "passage", Title: words[i%len(words)] + " " + words[(i*7)%len(words)],
			Body: strings.Repeat(words[(i*3)%len(words)]+" ", 1+i%4) + words[(i*5)%len(words)]}
	}
	var docs []Doc
	for i := range 300 {
		docs = append(docs, doc(i))
	}
	if err := ix.Apply(docs, nil, nil); err != nil {
		t.Fatal(err)
	}
	queries := []string{"refund invoice", "shiping delivery", "退款 发票", "coupon pasword", "快递 account"}
	want := map[string][]Hit{}
	for _, q := range queries {
		h, _, err := ix.SearchHits(context.Background(), q, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[q] = h
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				q := queries[(g+i)%len(queries)]
				h, _, err := ix.SearchHits(context.Background(), q, 10, nil)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(h, want[q]) {
					errs <- fmt.Errorf("%q searched concurrently: %+v, alone %+v", q, h, want[q])
					return
				}
			}
		}()
	}
	// Another index of the process changes beside them: the caches are
	// shared by every index.
	other, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			if err := other.Apply([]Doc{doc(i)}, nil, nil); err != nil {
				errs <- err
				return
			}
			if _, _, err := other.SearchHits(context.Background(), queries[i%len(queries)], 10, nil); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A filtered search leaves nothing behind in the pooled per-search arrays:
// the same unfiltered searches give the same hits, matched and heading
// terms included, before and after filtered ones that exclude documents
// holding the query's words in their headings.
func TestFilteredSearchLeavesNoState(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ix := openMem(t, Options{})
	apply(t, ix, randomDocs(rng, 2000, "c"), nil, nil)
	ctx := context.Background()
	queries := []string{"退款 发票 花呗", "refund invoice order", "warranty label 快递 账号"}
	run := func() [][]Hit {
		var out [][]Hit
		for _, q := range queries {
			hits, _, err := ix.SearchHits(ctx, q, 50, nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, hits)
		}
		return out
	}
	before := run()
	for _, q := range queries {
		for _, doc := range []string{"doc1", "doc2"} {
			if _, _, err := ix.SearchHits(ctx, q, 50, &kefu.Filter{DocIDs: []string{doc}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := run(); !reflect.DeepEqual(before, after) {
		for i := range before {
			for j := range before[i] {
				if j < len(after[i]) && !reflect.DeepEqual(before[i][j], after[i][j]) {
					t.Fatalf("%q hit %d: %+v before filtered searches, %+v after", queries[i], j, before[i][j], after[i][j])
				}
			}
		}
		t.Fatal("unfiltered searches changed after filtered ones")
	}
}

// Postings too wide for the decoded cache's 16 bits (a field of more than
// 65,535 tokens, a term found more often than that) are read from the
// segment instead, and score as the reference BM25F says, beside lists
// that are decoded.
func TestWidePostingsScoreAsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	docs := randomDocs(rng, 600, "c")
	docs[7].Body = strings.Repeat("refund warranty ", 40000) // 80,000 tokens, 40,000 of each
	docs[9].Questions = strings.Repeat("invoice ", 70000)    // a frequency beyond 16 bits
	ix := openMem(t, Options{})
	apply(t, ix, docs, nil, nil)
	var ref []refDoc
	for _, d := range docs {
		ref = append(ref, refOf(d))
	}
	for _, q := range []string{"refund warranty", "invoice 退款", "warranty label invoice"} {
		matchesReference(t, ix, ref, q)
	}
}

// Warming puts the longest postings lists in the cache (and a search then
// finds them there) with their terms' document frequencies; scores are
// those of the reference either way.
func TestWarmCachesTheLongestLists(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ix := openMem(t, Options{CompactAfter: -1})
	docs := randomDocs(rng, 3000, "c")
	// Words held by one chunk each (zap keeps such one-hit lists in its
	// dictionary) sort before the long lists' terms: warming still finds
	// the long lists by the counts its dictionary walk reports.
	docs[0].Body += " aardvark abacus"
	apply(t, ix, docs, nil, nil)
	cached := func() int {
		sn, err := ix.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer sn.close()
		n := 0
		for _, term := range Terms("退款 refund") {
			for i := range sn.segs {
				sv := &sn.segs[i]
				if postings.get(postKey{seg: sv.ss.Segment(), del: sv.ss.Deleted(), field: 3, term: term}) != nil {
					n++
				}
			}
		}
		return n
	}
	if n := cached(); n != 0 {
		t.Fatalf("%d body lists cached before warming", n)
	}
	if si := ix.soundIx.Load(); si != nil && si.gen == ix.gen.Load() {
		t.Fatal("a pinyin index before warming")
	}
	if err := ix.warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := cached(); n == 0 {
		t.Fatal("warming cached none of the body's longest lists")
	}
	// The pinyin index of typo correction is built for the index as it is.
	if si := ix.soundIx.Load(); si == nil || si.gen != ix.gen.Load() || len(si.words) == 0 {
		t.Error("warming left no pinyin index of the current vocabulary")
	}
	// Their terms' document frequencies and bounds are counted as well.
	sn, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	mask := fieldMask(ix.scoredFields(sn))
	for _, term := range Terms("退款 refund") {
		for i := range sn.segs {
			if !sn.segTermsOf(i, mask).m.Contains(term) {
				t.Errorf("segment %d: %q's document frequencies not counted by warming", i, term)
			}
		}
	}
	sn.close()
	var ref []refDoc
	for _, d := range docs {
		ref = append(ref, refOf(d))
	}
	matchesReference(t, ix, ref, "退款 refund 花呗")
}

// A search's scratch outlives garbage collections, and warming leaves one
// sized for the index, so that the first search after a start or a
// collection does not make (and fault in) the per-document arrays again.
func TestScratchIsKeptAndWarmed(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	ix := openMem(t, Options{CompactAfter: -1})
	apply(t, ix, randomDocs(rng, 500, "c"), nil, nil)
	if err := ix.warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := ix.scratch.get()
	if len(s.score) < 500 {
		t.Fatalf("after warming, the kept scratch has room for %d documents, want 500", len(s.score))
	}
	ix.scratch.put(s)
	runtime.GC()
	runtime.GC()
	if got := ix.scratch.get(); got != s {
		t.Fatal("a collection dropped the kept scratch")
	}
	var kept []*scratch
	for range maxFreeScratches + 3 {
		kept = append(kept, new(scratch))
	}
	for _, k := range kept {
		ix.scratch.put(k)
	}
	if n := len(ix.scratch.free); n != maxFreeScratches {
		t.Fatalf("%d scratches kept, want at most %d", n, maxFreeScratches)
	}
}

// A write that adds a chunk does not make the next search allocate its
// arrays again (fresh memory, faulted in a page at a time): the warmed
// scratch has room for more chunks than the index holds.
func TestScratchHasRoomForWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	ix := openMem(t, Options{CompactAfter: -1})
	apply(t, ix, randomDocs(rng, 800, "c"), nil, nil)
	ctx := context.Background()
	if err := ix.warm(ctx); err != nil {
		t.Fatal(err)
	}
	s := ix.scratch.get()
	score := &s.score[0]
	ix.scratch.put(s)
	for i := range 20 {
		apply(t, ix, randomDocs(rng, 1, fmt.Sprintf("w%d", i)), nil, nil)
		if _, _, err := ix.SearchHits(ctx, "invoice refund", 10, nil); err != nil {
			t.Fatal(err)
		}
	}
	s = ix.scratch.get()
	defer ix.scratch.put(s)
	if &s.score[0] != score {
		t.Fatalf("the scratch's arrays were allocated again after 20 chunks were added to 800 (room for %d)", len(s.score))
	}
}

// A search leaves its scratch as it found it, all zero, whichever way it
// scored (the merged loop, the per-field passes of an index of several
// segments, the bleve variant, a filter) and however many hits it cleared.
func TestSearchLeavesScratchZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	ix := openMem(t, Options{CompactAfter: -1})
	for b := range 3 {
		docs := randomDocs(rng, 700, fmt.Sprintf("s%d", b))
		// A frequency beyond 16 bits in a question: the term's lists are
		// read per field (addTF), not decoded.
		docs[5].Questions = strings.Repeat("invoice ", 70000)
		apply(t, ix, docs, nil, nil)
	}
	ctx := context.Background()
	zero := func(name string, s *scratch) {
		t.Helper()
		if i := slices.IndexFunc(s.counts, func(x uint32) bool { return x != 0 }); i >= 0 {
			t.Fatalf("%s: counts[%d] = %#x after the search", name, i, s.counts[i])
		}
		for what, xs := range map[string][]uint16{"clauses": s.clauses, "headSeen": s.headSeen} {
			if i := slices.IndexFunc(xs, func(x uint16) bool { return x != 0 }); i >= 0 {
				t.Fatalf("%s: %s[%d] = %d after the search", name, what, i, xs[i])
			}
		}
		for what, xs := range map[string][]float64{"score": s.score, "tf": s.tf} {
			if i := slices.IndexFunc(xs, func(x float64) bool { return x != 0 }); i >= 0 {
				t.Fatalf("%s: %s[%d] = %v after the search", name, what, i, xs[i])
			}
		}
		if len(s.hits)+len(s.termHit) != 0 || s.clausesUsed || s.headSeenUsed {
			t.Fatalf("%s: %d hits, %d term hits, flags %v %v after the search", name, len(s.hits), len(s.termHit), s.clausesUsed, s.headSeenUsed)
		}
	}
	check := func(v *Index, name string) {
		// Many hits (most documents hold one of the common words) and few.
		for _, q := range []string{"退款 发票 花呗 订单 refund invoice order", "invoice 快递", "warranty", "s1-doc17"} {
			for _, f := range []*kefu.Filter{nil, {DocIDs: []string{"doc1", "doc3"}}} {
				if _, _, err := v.SearchHits(ctx, q, 20, f); err != nil {
					t.Fatal(err)
				}
				s := v.scratch.get()
				zero(fmt.Sprintf("%s, %q, filter %v", name, q, f != nil), s)
				v.scratch.put(s)
			}
		}
	}
	check(ix, "segments")
	check(ix.with(Options{scoring: bleveScoring}), "bleve variant")
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check(ix, "merged")
}
