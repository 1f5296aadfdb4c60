package keyword

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kefu-dev/kefu"
)

func openMem(t testing.TB, opts Options) *Index {
	t.Helper()
	ix, err := Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func apply(t testing.TB, ix *Index, puts []Doc, deletes []string, meta map[string]string) {
	t.Helper()
	if err := ix.Apply(puts, deletes, meta); err != nil {
		t.Fatal(err)
	}
}

func search(t *testing.T, ix *Index, q string, k int, f *kefu.Filter) []kefu.Scored {
	t.Helper()
	hits, err := ix.Search(context.Background(), q, k, f)
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	return hits
}

func ids(hits []kefu.Scored) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ChunkID
	}
	return out
}

var shopFAQ = []Doc{
	{ID: "faq-refund", DocID: "shop", Kind: "faq", Lang: "zh", Category: "售后", Questions: "怎么申请退款\n退款流程是什么", Body: "在订单页面点击申请退款，审核通过后原路退回。"},
	{ID: "faq-invoice", DocID: "shop", Kind: "faq", Lang: "zh", Category: "发票", Questions: "发票怎么开\n可以开增值税发票吗", Body: "在订单详情中申请电子发票。"},
	{ID: "faq-huabei", DocID: "shop", Kind: "faq", Lang: "zh", Category: "支付", Questions: "可以用花呗付款吗", Body: "支持花呗分期付款。"},
	{ID: "faq-ship", DocID: "shop", Kind: "faq", Lang: "zh", Category: "物流", Questions: "什么时候发货", Body: "付款后48小时内发货。"},
	{ID: "faq-refund-en", DocID: "shop", Kind: "faq", Lang: "en", Category: "after-sales", Questions: "How do I get a refund?", Body: "Open the order and click Request refund."},
	{ID: "help-returns", DocID: "help", Kind: "passage", Lang: "en", Title: "Returns", Headings: "Returns > Shipping labels", Body: "Print the shipping label and drop the parcel at any post office."},
}

func TestSearchFindsTheRightFAQ(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	for q, want := range map[string]string{
		"怎么申请退款":                  "faq-refund",
		"我想退款":                    "faq-refund",
		"能开发票吗":                   "faq-invoice",
		"花呗":                      "faq-huabei",
		"refund please":           "faq-refund-en",
		"REFUNDS":                 "faq-refund-en",
		"ｒｅｆｕｎｄ":                  "faq-refund-en",
		"shipping label printing": "help-returns",
	} {
		hits := search(t, ix, q, 3, nil)
		if len(hits) == 0 || hits[0].ChunkID != want {
			t.Errorf("Search(%q) = %v, want %s first", q, hits, want)
		}
	}
	if n, err := ix.Count(); err != nil || n != uint64(len(shopFAQ)) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(shopFAQ))
	}
}

// Title, heading path and questions outweigh the body: the same words score
// higher in them.
func TestFieldBoosts(t *testing.T) {
	ix := openMem(t, Options{})
	filler := " lorem ipsum dolor sit amet consectetur"
	apply(t, ix, []Doc{
		{ID: "in-title", DocID: "a", Kind: "passage", Title: "warranty", Body: "terms" + filler},
		{ID: "in-heading", DocID: "b", Kind: "passage", Headings: "warranty", Body: "terms" + filler},
		{ID: "in-question", DocID: "c", Kind: "faq", Questions: "warranty", Body: "terms" + filler},
		{ID: "in-body", DocID: "d", Kind: "passage", Body: "warranty terms" + filler},
	}, nil, nil)
	hits := search(t, ix, "warranty", 4, nil)
	if len(hits) != 4 || hits[3].ChunkID != "in-body" {
		t.Fatalf("hits = %v, want in-body last", hits)
	}
	bodyOnly := ix.with(Options{Boosts: Boosts{Body: 1}})
	if got := ids(search(t, bodyOnly, "warranty", 4, nil)); !slices.Equal(got, []string{"in-body"}) {
		t.Fatalf("body-only search = %v, want [in-body]", got)
	}
}

// refDoc is a document as the reference scorer sees it.
type refDoc struct {
	id     string
	fields [numFields][]string
}

// refBM25F scores docs for query straight from the definition (Robertson &
// Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009,
// §3.4, with one b for all fields): per document, the pseudo-frequency of a
// term is Σ_f w_f·tf_f / (1 − b + b·len_f/avglen_f), avglen_f over the
// documents that have field f; the score is Σ_t idf_t·(k1+1)·tf/(k1+tf) with
// idf_t = ln(1 + (N − df_t + 0.5)/(df_t + 0.5)) and df_t the documents with t
// in any field. It shares nothing with the index but the analyzer.
func refBM25F(docs []refDoc, query []string, k1, b float64, w [numFields]float64) map[string]float64 {
	var sum, have [numFields]float64
	for _, d := range docs {
		for f, toks := range d.fields {
			if len(toks) > 0 {
				sum[f] += float64(len(toks))
				have[f]++
			}
		}
	}
	n := float64(len(docs))
	qtf := map[string]float64{}
	for _, q := range query {
		// A character indexed beside a Chinese word weighs half an
		// occurrence in the query: it backs the word up, it does not
		// count as another word.
		if strings.HasPrefix(q, bigramMark) {
			qtf[q] += 0.5
		} else {
			qtf[q]++
		}
	}
	scores := map[string]float64{}
	for term, c := range qtf {
		df := 0.0
		pseudo := map[string]float64{}
		for _, d := range docs {
			found := false
			for f, toks := range d.fields {
				tf := 0.0
				for _, tok := range toks {
					if tok == term {
						tf++
					}
				}
				if tf == 0 {
					continue
				}
				found = true
				if w[f] == 0 {
					continue
				}
				avg := sum[f] / have[f]
				pseudo[d.id] += w[f] * tf / (1 - b + b*float64(len(toks))/avg)
			}
			if found {
				df++
			}
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for id, tf := range pseudo {
			scores[id] += c * idf * (k1 + 1) * tf / (k1 + tf)
		}
	}
	return scores
}

// randomDocs makes n documents over a small vocabulary so that terms repeat
// across documents and fields with varied frequencies and lengths.
func randomDocs(rng *rand.Rand, n int, prefix string) []Doc {
	vocab := strings.Fields("退款 发票 花呗 订单 物流 快递 客服 账号 refund invoice order parcel courier account warranty label")
	text := func(max int) string {
		if max == 0 {
			return ""
		}
		words := make([]string, rng.IntN(max)+1)
		for i := range words {
			words[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(words, " ")
	}
	docs := make([]Doc, n)
	for i := range docs {
		docs[i] = Doc{
			ID: fmt.Sprintf("%s%05d", prefix, i), DocID: fmt.Sprintf("doc%d", i%37), Kind: "passage",
			Title: text(rng.IntN(2) * 3), Headings: text(rng.IntN(2) * 4), Questions: text(rng.IntN(2) * 6), Body: text(40),
		}
	}
	return docs
}

// The index's scores equal the reference BM25F, exactly, after batches of
// puts, replacements and deletes (which must keep the length statistics
// right) on more documents than the first scratch arrays hold.
func TestScoresMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ix := openMem(t, Options{})
	live := map[string]Doc{}
	docs := randomDocs(rng, 3000, "c")
	for i := 0; i < len(docs); i += 700 {
		batch := docs[i:min(i+700, len(docs))]
		apply(t, ix, batch, nil, nil)
		for _, d := range batch {
			live[d.ID] = d
		}
	}
	// Replace 300 chunks with new text and delete 400 others.
	repl := randomDocs(rng, 300, "c")
	var deletes []string
	for i := 1000; i < 1400; i++ {
		deletes = append(deletes, docs[i].ID)
		delete(live, docs[i].ID)
	}
	deletes = append(deletes, "never-indexed")
	apply(t, ix, repl, deletes, nil)
	for _, d := range repl {
		live[d.ID] = d
	}

	var ref []refDoc
	for _, d := range live {
		ref = append(ref, refOf(d))
	}
	if n, _ := ix.Count(); n != uint64(len(live)) {
		t.Fatalf("Count = %d, want %d", n, len(live))
	}
	for _, opts := range []Options{{}, {K1: 0.9, B: 0.4, Boosts: Boosts{Title: 3, Body: 1, Questions: 0.5, Headings: 1}}} {
		v := ix.with(opts)
		for _, q := range []string{"退款", "refund invoice 退款 花呗", "warranty warranty label", "订单 parcel account 客服 快递"} {
			matchesReference(t, v, ref, q)
		}
	}
}

// refOf is d as the reference scorer sees it.
func refOf(d Doc) refDoc {
	return refDoc{id: d.ID, fields: [numFields][]string{Terms(d.Title), Terms(d.Headings), Terms(d.Questions), Terms(d.Body)}}
}

// matchesReference checks that every hit of q on ix scores as refBM25F
// says over ref (every live document), in order, ties by chunk id.
func matchesReference(t *testing.T, ix *Index, ref []refDoc, q string) {
	t.Helper()
	want := refBM25F(ref, Terms(q), ix.opts.K1, ix.opts.B, ix.weights)
	got := search(t, ix, q, len(ref), nil)
	if len(got) != len(want) {
		t.Fatalf("%q: %d hits, want %d", q, len(got), len(want))
	}
	for i, h := range got {
		if w := want[h.ChunkID]; math.Abs(h.Score-w) > 1e-9*w {
			t.Fatalf("%q: %s scores %.12f, reference %.12f", q, h.ChunkID, h.Score, w)
		}
		if i > 0 && (h.Score > got[i-1].Score || h.Score == got[i-1].Score && h.ChunkID < got[i-1].ChunkID) {
			t.Fatalf("%q: hits out of order at %d: %v then %v", q, i, got[i-1], h)
		}
	}
}

// The bleve variant of the scorer reproduces bleve's own BM25 scores, so the
// measurements of its departures (measure_test.go) measure bleve.
func TestBleveVariantMatchesBleve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ix := openMem(t, Options{})
	apply(t, ix, randomDocs(rng, 500, "b"), nil, nil)
	v := ix.with(Options{scoring: bleveScoring})
	for _, q := range []string{"退款", "refund invoice 退款", "warranty label courier 花呗 订单"} {
		want, err := bleveSearch(context.Background(), v, q, 500)
		if err != nil {
			t.Fatal(err)
		}
		got := search(t, v, q, 500, nil)
		if len(got) != len(want) {
			t.Fatalf("%q: %d hits, bleve %d", q, len(got), len(want))
		}
		byID := map[string]float64{}
		for _, h := range want {
			byID[h.ChunkID] = h.Score
		}
		// bleve takes the length as 1/norm² unrounded, the float32 norm
		// making it off by up to ~1e-7 relative; the scorer rounds it.
		for _, h := range got {
			if w, ok := byID[h.ChunkID]; !ok || math.Abs(h.Score-w) > 1e-6*w {
				t.Fatalf("%q: %s scores %.12f, bleve %.12f", q, h.ChunkID, h.Score, w)
			}
		}
	}
}

// Filters apply inside the search: k matching chunks come back even when
// many better chunks do not match.
func TestFilterInsideSearch(t *testing.T) {
	ix := openMem(t, Options{})
	var docs []Doc
	for i := range 300 {
		docs = append(docs, Doc{ID: fmt.Sprintf("strong%03d", i), DocID: "big", Kind: "passage", Lang: "zh", Title: "退款", Body: "退款 退款 退款 申请退款"})
	}
	for i := range 6 {
		docs = append(docs, Doc{ID: fmt.Sprintf("weak%d", i), DocID: fmt.Sprintf("small%d", i%2), Kind: []string{"faq", "passage"}[i%2],
			Lang: "en", Category: "billing", Meta: map[string]string{"tier": fmt.Sprint(i % 3)},
			Body: "退款 mentioned once among many other words in a long passage about billing cycles and invoices"})
	}
	apply(t, ix, docs, nil, nil)

	if got := search(t, ix, "退款", 5, nil); !strings.HasPrefix(got[4].ChunkID, "strong") {
		t.Fatalf("unfiltered: %v", got)
	}
	for _, c := range []struct {
		name string
		f    *kefu.Filter
		want []string
	}{
		{"lang", &kefu.Filter{Meta: map[string]string{"lang": "en"}}, []string{"weak0", "weak1", "weak2", "weak3", "weak4"}},
		{"category and tier", &kefu.Filter{Meta: map[string]string{"category": "billing", "tier": "1"}}, []string{"weak1", "weak4"}},
		{"doc ids are any of", &kefu.Filter{DocIDs: []string{"small0", "nope"}}, []string{"weak0", "weak2", "weak4"}},
		{"kinds", &kefu.Filter{Kinds: []kefu.ChunkKind{kefu.KindFAQ}}, []string{"weak0", "weak2", "weak4"}},
		{"groups are all of", &kefu.Filter{DocIDs: []string{"small1"}, Kinds: []kefu.ChunkKind{kefu.KindFAQ}}, nil},
		{"no such value", &kefu.Filter{Meta: map[string]string{"lang": "fr"}}, nil},
		{"empty filter", &kefu.Filter{}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ids(search(t, ix, "退款", 5, c.f))
			if c.name == "empty filter" {
				if len(got) != 5 || !strings.HasPrefix(got[0], "strong") {
					t.Fatalf("got %v, want 5 unfiltered hits", got)
				}
				return
			}
			sort.Strings(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// A search sees a batch entirely or not at all: while a document's chunks
// are replaced over and over, every search returns exactly one generation.
func TestApplyIsAtomic(t *testing.T) {
	ix := openMem(t, Options{})
	const chunks = 20
	gen := func(g int) []Doc {
		docs := make([]Doc, chunks)
		for i := range docs {
			docs[i] = Doc{ID: fmt.Sprintf("g%d-c%02d", g, i), DocID: "manual", Kind: "passage", Body: fmt.Sprintf("warranty claim step %d", i)}
		}
		return docs
	}
	apply(t, ix, append(gen(0), randomDocs(rand.New(rand.NewPCG(5, 6)), 200, "other")...), nil, nil)
	const gens = 30
	var done atomic.Bool
	var wg sync.WaitGroup
	var searches atomic.Int64
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for !done.Load() {
				hits, err := ix.Search(context.Background(), "warranty claim", 100, &kefu.Filter{DocIDs: []string{"manual"}})
				if err != nil {
					errs <- err
					return
				}
				searches.Add(1)
				if len(hits) != chunks {
					errs <- fmt.Errorf("saw %d chunks, want %d: %v", len(hits), chunks, ids(hits))
					return
				}
				g := strings.SplitN(hits[0].ChunkID, "-", 2)[0]
				for _, h := range hits {
					if !strings.HasPrefix(h.ChunkID, g+"-") {
						errs <- fmt.Errorf("mixed generations: %v", ids(hits))
						return
					}
				}
			}
		})
	}
	for g := 1; g <= gens; g++ {
		var old []string
		for _, d := range gen(g - 1) {
			old = append(old, d.ID)
		}
		if err := ix.Apply(gen(g), old, map[string]string{"version": fmt.Sprint(g)}); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if searches.Load() == 0 {
		t.Fatal("no search ran")
	}
	got := ids(search(t, ix, "warranty claim", 100, &kefu.Filter{DocIDs: []string{"manual"}}))
	if len(got) != chunks || !strings.HasPrefix(got[0], fmt.Sprintf("g%d-", gens)) {
		t.Fatalf("final generation: %v", got)
	}
	t.Logf("%d searches during %d replacements", searches.Load(), gens)
}

func TestDeletes(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	apply(t, ix, nil, []string{"faq-refund", "faq-refund-en", "missing"}, nil)
	for _, id := range ids(search(t, ix, "退款 refund", 100, nil)) {
		if id == "faq-refund" || id == "faq-refund-en" {
			t.Fatalf("deleted chunk %s found", id)
		}
	}
	if n, _ := ix.Count(); n != uint64(len(shopFAQ)-2) {
		t.Fatalf("Count = %d, want %d", n, len(shopFAQ)-2)
	}
	// Put and delete of one id in one batch: the put wins.
	apply(t, ix, shopFAQ[:1], []string{"faq-refund"}, nil)
	if got := ids(search(t, ix, "退款", 10, nil)); len(got) == 0 || got[0] != "faq-refund" || slices.Contains(got, "faq-refund-en") {
		t.Fatalf("after put+delete: %v", got)
	}
	// Deleting everything empties the statistics too.
	var all []string
	for _, d := range shopFAQ {
		all = append(all, d.ID)
	}
	apply(t, ix, nil, all, nil)
	r, err := ix.adv.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st, err := readStats(r); err != nil || st != (fieldStats{}) {
		t.Fatalf("stats after deleting everything = %+v, %v", st, err)
	}
}

func TestMetaAndReopen(t *testing.T) {
	dir := t.TempDir() + "/kw"
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ix.Meta("version"); err != nil || v != "" {
		t.Fatalf("Meta of a new index = %q, %v", v, err)
	}
	apply(t, ix, shopFAQ, nil, map[string]string{"version": "41", "model": "bge"})
	apply(t, ix, nil, []string{"help-returns"}, map[string]string{"version": "42"})
	before := search(t, ix, "退款 refund", 10, nil)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"version": "42", "model": "bge", "absent": ""} {
		if v, err := ix.Meta(k); err != nil || v != want {
			t.Fatalf("Meta(%q) = %q, %v; want %q", k, v, err, want)
		}
	}
	if n, _ := ix.Count(); n != uint64(len(shopFAQ)-1) {
		t.Fatalf("Count after reopen = %d", n)
	}
	if after := search(t, ix, "退款 refund", 10, nil); !slices.Equal(after, before) {
		t.Fatalf("results changed across reopen:\n%v\n%v", before, after)
	}
	if _, err := Open(dir, Options{}); kefu.ErrorCode(err) != kefu.ECONFLICT || !errors.Is(err, ErrInUse) {
		t.Fatalf("opening an open index: %v, want ErrInUse", err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Analyzer: AnalyzerBigram}); kefu.ErrorCode(err) != kefu.ECONFLICT || errors.Is(err, ErrInUse) {
		t.Fatalf("reopen with another analyzer: %v, want a conflict", err)
	}
}

func TestBigramIndexOpens(t *testing.T) {
	ix := openMem(t, Options{Analyzer: AnalyzerBigram})
	apply(t, ix, shopFAQ, nil, nil)
	if ix.Analyzer() != AnalyzerBigram {
		t.Fatalf("analyzer = %s", ix.Analyzer())
	}
	if got := search(t, ix, "申请退款", 1, nil); len(got) != 1 || got[0].ChunkID != "faq-refund" {
		t.Fatalf("bigram search: %v", got)
	}
	if _, err := Open("", Options{Analyzer: "no-such-analyzer"}); err == nil {
		t.Fatal("unknown analyzer accepted")
	}
}

func TestApplyRejectsBadInput(t *testing.T) {
	ix := openMem(t, Options{})
	if err := ix.Apply([]Doc{{ID: ""}}, nil, nil); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("empty id: %v", err)
	}
	if err := ix.Apply(nil, nil, map[string]string{"": "x"}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("empty meta key: %v", err)
	}
	if err := ix.Apply([]Doc{{ID: "a", Meta: map[string]string{"x\x00y": "z"}}}, nil, nil); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("meta key with NUL: %v", err)
	}
	if n, _ := ix.Count(); n != 0 {
		t.Fatalf("a refused batch wrote %d chunks", n)
	}
}

var hostileQueries = []string{
	"", "   ", `"`, `"unterminated`, "title:退款", "+refund -invoice", "refund AND invoice OR NOT x",
	`*`, `?`, `re*nd~2`, `/regexp.*/`, `(a OR b) AND c^5`, `field:"phrase query"~3`, `\`, `{}[]<>!^~*?:\/`,
	"\x00\x01\xff\xfe", "退款\x00退款", strings.Repeat("退款 refund ", 50000), strings.Repeat("a", 1<<20),
	strings.Repeat("字", 100000),
}

// Query text is never interpreted as query syntax and never breaks the search.
func TestHostileQueries(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	for _, q := range hostileQueries {
		for _, k := range []int{-1, 0, 1, 10, 1 << 30} {
			hits, err := ix.Search(context.Background(), q, k, nil)
			if err != nil {
				t.Fatalf("Search(%.40q, %d): %v", q, k, err)
			}
			if len(hits) > max(k, 0) {
				t.Fatalf("Search(%.40q, %d): %d hits", q, k, len(hits))
			}
		}
	}
	// Syntax characters are just separators: the words still match.
	if got := search(t, ix, `title:"退款" +refund`, 2, nil); len(got) != 2 {
		t.Fatalf("syntax around words: %v", got)
	}
	if qt := ix.queryTerms(strings.Repeat("退款 refund ", 50000)); len(qt) != len(Terms("退款 refund")) || qt[0].qtf < 100 {
		t.Fatalf("long query terms = %v", qt)
	}
	var distinct strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&distinct, "w%d ", i)
	}
	if qt := ix.queryTerms(distinct.String()); len(qt) != MaxQueryTerms {
		t.Fatalf("%d distinct query terms kept, want %d", len(qt), MaxQueryTerms)
	}
	// A cancelled context stops the search.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.Search(ctx, "退款", 10, nil); err == nil {
		t.Fatal("search with a cancelled context succeeded")
	}
}

func FuzzSearch(f *testing.F) {
	for _, q := range hostileQueries[:17] {
		f.Add(q, 5)
	}
	f.Add("怎么申请退款", 3)
	ix, err := Open("", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ix.Close() })
	if err := ix.Apply(shopFAQ, nil, nil); err != nil {
		f.Fatal(err)
	}
	known := map[string]bool{}
	for _, d := range shopFAQ {
		known[d.ID] = true
	}
	f.Fuzz(func(t *testing.T, q string, k int) {
		if len(q) > 1<<16 {
			q = q[:1<<16]
		}
		hits, err := ix.Search(context.Background(), q, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) > max(k, 0) {
			t.Fatalf("%d hits for k=%d", len(hits), k)
		}
		for i, h := range hits {
			if !known[h.ChunkID] || !(h.Score > 0) || math.IsInf(h.Score, 0) {
				t.Fatalf("bad hit %v", h)
			}
			if i > 0 && h.Score > hits[i-1].Score {
				t.Fatalf("hits out of order: %v", hits)
			}
		}
	})
}

func TestFromChunk(t *testing.T) {
	c := &kefu.Chunk{ID: "c1", DocID: "d1", Kind: kefu.KindFAQ, Title: "Returns", Headings: []string{"Returns", "Refunds", "Timing"},
		Questions: []string{"How long do refunds take?", "When is my money back?"}, Text: "5 business days.",
		Lang: "en", Category: "billing", Meta: map[string]string{"tier": "gold"}}
	got := FromChunk(c)
	want := Doc{ID: "c1", DocID: "d1", Kind: "faq", Title: "Returns", Headings: "Refunds > Timing",
		Questions: "How long do refunds take?\nWhen is my money back?", Body: "5 business days.", Lang: "en", Category: "billing", Meta: c.Meta}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("FromChunk = %+v\nwant %+v", got, want)
	}
	c.Title = "Policy"
	if got := FromChunk(c); got.Headings != "Returns > Refunds > Timing" {
		t.Fatalf("headings = %q", got.Headings)
	}
}

// SearchHits counts the distinct query terms each hit holds, in any field
// and in its heading fields only.
func TestSearchHitsCountMatchedTerms(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, []Doc{
		{ID: "faq", Kind: "faq", Questions: "refund timing", Body: "approval takes two days"},
		{ID: "page", Kind: "passage", Title: "Weather", Body: "refund approval weather report"},
	}, nil, nil)
	hits, info, err := ix.SearchHits(context.Background(), "refund approval weather refund", 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.Counted; n != 3 {
		t.Fatalf("%d distinct query terms, want 3 (refund, approv, weather)", n)
	}
	got := map[string][2]int{}
	for _, h := range hits {
		got[h.ChunkID] = [2]int{h.Matched, h.Head}
	}
	if got["faq"] != [2]int{2, 1} || got["page"] != [2]int{3, 1} {
		t.Errorf("matched/head counts %v, want faq [2 1] page [3 1]", got)
	}
}
