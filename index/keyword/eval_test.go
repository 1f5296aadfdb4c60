package keyword

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// beir is a retrieval dataset in BEIR layout.
type beir struct {
	corpus  []beirDoc
	queries map[string]string
	qrels   map[string]map[string]map[string]int // split → query → doc → grade
}

type beirDoc struct {
	ID    string `json:"_id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

func loadBEIR(tb testing.TB, dir string) *beir {
	tb.Helper()
	ds := &beir{queries: map[string]string{}, qrels: map[string]map[string]map[string]int{}}
	testenv.ReadJSONL(tb, filepath.Join(dir, "corpus.jsonl"), func(b []byte) error {
		var d beirDoc
		err := json.Unmarshal(b, &d)
		ds.corpus = append(ds.corpus, d)
		return err
	})
	testenv.ReadJSONL(tb, filepath.Join(dir, "queries.jsonl"), func(b []byte) error {
		var q struct {
			ID   string `json:"_id"`
			Text string `json:"text"`
		}
		err := json.Unmarshal(b, &q)
		ds.queries[q.ID] = q.Text
		return err
	})
	files, err := filepath.Glob(filepath.Join(dir, "qrels", "*.tsv"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no qrels in %s", dir)
	}
	for _, file := range files {
		split := strings.TrimSuffix(filepath.Base(file), ".tsv")
		raw, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		qr := map[string]map[string]int{}
		for i, line := range strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n") {
			cols := strings.Split(strings.TrimSpace(line), "\t")
			if i == 0 || len(cols) != 3 {
				continue // header or blank
			}
			grade, err := strconv.Atoi(cols[2])
			if err != nil {
				tb.Fatalf("%s line %d: %v", file, i+1, err)
			}
			if qr[cols[0]] == nil {
				qr[cols[0]] = map[string]int{}
			}
			qr[cols[0]][cols[1]] = grade
		}
		ds.qrels[split] = qr
	}
	return ds
}

// ndcgAt is nDCG@k as trec_eval's ndcg_cut and BEIR define it: the gain of a
// document is its qrel grade, the discount of rank i (1-based) is
// log2(i+1), and the ideal ranking sorts all judged grades.
func ndcgAt(k int, ranked []string, rel map[string]int) float64 {
	var dcg float64
	for i, id := range ranked[:min(k, len(ranked))] {
		if g := rel[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	var grades []int
	for _, g := range rel {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	slices.SortFunc(grades, func(a, b int) int { return b - a })
	var idcg float64
	for i, g := range grades[:min(k, len(grades))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

func TestNDCGHandComputed(t *testing.T) {
	// DCG = 1/log2(2) + 0 + 2/log2(4) = 2;
	// IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4) = 3.130929754;
	// nDCG = 2/3.130929754 = 0.6387879
	got := ndcgAt(10, []string{"a", "b", "c"}, map[string]int{"a": 1, "c": 2, "z": 1})
	if math.Abs(got-0.6387879) > 1e-6 {
		t.Fatalf("nDCG = %.7f, want 0.6387879", got)
	}
	// Cut at k: the relevant document at rank 3 does not count at k=2.
	if got := ndcgAt(2, []string{"a", "b", "c"}, map[string]int{"c": 1}); got != 0 {
		t.Fatalf("nDCG@2 = %v, want 0", got)
	}
	if got := ndcgAt(10, []string{"c", "a"}, map[string]int{"c": 1}); got != 1 {
		t.Fatalf("perfect ranking: nDCG = %v, want 1", got)
	}
}

// evalNDCG returns the mean nDCG@10 of ix over the queries of split.
func evalNDCG(tb testing.TB, ix *Index, ds *beir, split string) float64 {
	tb.Helper()
	return evalFunc(tb, func(ctx context.Context, q string, k int) ([]kefu.Scored, error) {
		return ix.Search(ctx, q, k, nil)
	}, ds, split)
}

// evalFunc returns the mean nDCG@10 of search over the queries of split.
func evalFunc(tb testing.TB, search func(context.Context, string, int) ([]kefu.Scored, error), ds *beir, split string) float64 {
	tb.Helper()
	qr := ds.qrels[split]
	if len(qr) == 0 {
		tb.Fatalf("no qrels for split %q", split)
	}
	ids := make([]string, 0, len(qr))
	for q := range qr {
		ids = append(ids, q)
	}
	scores := make([]float64, len(ids))
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	workers := 2
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				text, ok := ds.queries[ids[i]]
				if !ok {
					errOnce.Do(func() { firstErr = os.ErrNotExist })
					continue
				}
				hits, err := search(context.Background(), text, 10)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ranked := make([]string, len(hits))
				for j, h := range hits {
					ranked[j] = h.ChunkID
				}
				scores[i] = ndcgAt(10, ranked, qr[ids[i]])
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	var sum float64
	for _, s := range scores {
		sum += s
	}
	return sum / float64(len(ids))
}

// buildIndex indexes a BEIR corpus in memory: title in the title field,
// text in the body (or in the questions field when asFAQ).
func buildIndex(tb testing.TB, ds *beir, opts Options, asFAQ bool) *Index {
	tb.Helper()
	ix, err := Open("", opts)
	if err != nil {
		tb.Fatal(err)
	}
	const batch = 1000
	for i := 0; i < len(ds.corpus); i += batch {
		var docs []Doc
		for _, d := range ds.corpus[i:min(i+batch, len(ds.corpus))] {
			doc := Doc{ID: d.ID, DocID: d.ID, Kind: "passage", Title: d.Title, Body: d.Text}
			if asFAQ {
				doc.Kind, doc.Questions, doc.Body = "faq", d.Text, ""
			}
			docs = append(docs, doc)
		}
		if err := ix.Apply(docs, nil, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return ix
}

// TestMain closes the indexes shared by tests and benchmarks, deleting their
// temporary directories.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, ix := range []*Index{scifactIx, benchIx} {
		if ix != nil {
			ix.Close()
		}
	}
	os.Exit(code)
}

// Datasets and the default SciFact index are loaded once per test binary.
var (
	scifactDataOnce, scifactIxOnce, afqmcOnce sync.Once
	scifactDS, afqmcDS                        *beir
	scifactIx                                 *Index
)

// scifactData loads SciFact without indexing it.
func scifactData(tb testing.TB) *beir {
	tb.Helper()
	dir := testenv.Shared(tb, "data/eval/scifact")
	scifactDataOnce.Do(func() { scifactDS = loadBEIR(tb, dir) })
	if scifactDS == nil {
		tb.Fatal("scifact failed to load earlier")
	}
	return scifactDS
}

// scifact returns SciFact and its index with the default options.
func scifact(tb testing.TB) (*beir, *Index) {
	tb.Helper()
	ds := scifactData(tb)
	// Never compacted: the tests of per-segment caches need its segments.
	scifactIxOnce.Do(func() { scifactIx = buildIndex(tb, ds, Options{CompactAfter: -1}, false) })
	if scifactIx == nil {
		tb.Fatal("scifact index failed to build earlier")
	}
	return ds, scifactIx
}

func afqmc(tb testing.TB) *beir {
	tb.Helper()
	dir := testenv.Shared(tb, "data/eval/afqmc_faq_zh")
	afqmcOnce.Do(func() { afqmcDS = loadBEIR(tb, dir) })
	if afqmcDS == nil {
		tb.Fatal("afqmc failed to load earlier")
	}
	return afqmcDS
}
