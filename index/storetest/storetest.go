// Package storetest is the contract of kefu.Store as a test suite that any
// backend runs: the embedded store (index) and the Qdrant backend
// (index/qdrant) pass the same cases. It imports the root, index/keyword
// (to count terms independently of the backend) and internal/vecmath.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
	"github.com/kefu-dev/kefu/internal/vecmath"
)

// Opener makes a fresh, empty backend for one test and returns a function
// that opens a store on it; calling that again after closing the store it
// returned opens the same content again (a restart). The suite closes every
// store it opens.
type Opener func(t *testing.T) (open func() kefu.Store)

// Run runs every case of the contract against the backend.
func Run(t *testing.T, o Opener) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, o Opener)
	}{
		{"PutSearchReopen", testPutSearchReopen},
		{"ReplaceKeepsUnchangedAndDropsOld", testReplaceKeepsUnchangedAndDropsOld},
		{"DuplicateChunksStoredOnce", testDuplicateChunksStoredOnce},
		{"FiltersInsideSearch", testFiltersInsideSearch},
		{"ReplaceIsAtomicUnderConcurrentSearch", testReplaceIsAtomicUnderConcurrentSearch},
		{"KBLifecycleAndValidation", testKBLifecycleAndValidation},
		{"CreateWhileDeleting", testCreateWhileDeleting},
		{"WritesOfADeletedIncarnation", testWritesOfADeletedIncarnation},
		{"ReembedChangesModelAndDim", testReembedChangesModelAndDim},
		{"PutDocumentsBatch", testPutDocumentsBatch},
		{"SearchSelectLoadsOnlyChosenChunks", testSearchSelectLoadsOnlyChosenChunks},
		{"QueryTermStatistics", testQueryTermStatistics},
		{"DocumentsAndChunks", testDocumentsAndChunks},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, o) })
	}
}

// Dim is the dimension of the suite's vectors.
const Dim = 16

// Vec is a deterministic unit vector derived from text, so equal texts get
// equal vectors and different texts nearly orthogonal ones.
func Vec(text string) []float32 {
	v := make([]float32, Dim)
	for i := range v {
		h := sha256.Sum256([]byte(fmt.Sprintf("%d:%s", i, text)))
		v[i] = float32(float64(int32(binary.LittleEndian.Uint32(h[:4]))) / math.MaxInt32)
	}
	vecmath.Normalize(v)
	return v
}

// VecsOf returns the vectors of chunks' embedding texts (Vec of each).
func VecsOf(chunks []kefu.Chunk) [][][]float32 {
	out := make([][][]float32, len(chunks))
	for i := range chunks {
		for _, t := range chunks[i].EmbedTexts() {
			out[i] = append(out[i], Vec(t))
		}
	}
	return out
}

// Passages makes English passages of texts.
func Passages(texts ...string) []kefu.Chunk {
	out := make([]kefu.Chunk, len(texts))
	for i, t := range texts {
		out[i] = kefu.Chunk{Kind: kefu.KindPassage, Text: t, Lang: "en"}
	}
	return out
}

// NewKB creates an empty KB with the default settings.
func NewKB(t *testing.T, s kefu.Store, name string) {
	t.Helper()
	if err := s.CreateKB(context.Background(), &kefu.KB{Name: name, Model: "test@0", Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
}

// Put stores a document of chunks under id, titled "Title "+id.
func Put(t *testing.T, s kefu.Store, kb, id string, chunks []kefu.Chunk) {
	t.Helper()
	doc := &kefu.Document{ID: id, KB: kb, Source: id, Title: "Title " + id}
	if err := s.PutDocument(context.Background(), doc, chunks, VecsOf(chunks)); err != nil {
		t.Fatal(err)
	}
}

// Search runs q on both sides, 10 candidates each.
func Search(t *testing.T, s kefu.Store, kb, q string, f *kefu.Filter) *kefu.Candidates {
	t.Helper()
	c, err := s.Search(context.Background(), kb, kefu.SearchRequest{Query: q, Vector: Vec(q), K: 10, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// KeywordIDs lists the keyword candidates' chunk ids.
func KeywordIDs(c *kefu.Candidates) []string {
	var ids []string
	for _, s := range c.Keyword {
		ids = append(ids, s.ChunkID)
	}
	return ids
}

func openOne(t *testing.T, o Opener) kefu.Store {
	s := o(t)()
	t.Cleanup(func() { s.Close() })
	return s
}

func testPutSearchReopen(t *testing.T, o Opener) {
	open := o(t)
	s := open()
	NewKB(t, s, "shop")
	Put(t, s, "shop", "refunds.md", Passages("Refunds arrive within five business days.", "Shipping takes two days."))
	Put(t, s, "shop", "faq.csv", []kefu.Chunk{{Kind: kefu.KindFAQ, Questions: []string{"怎么申请退款？", "如何退款"}, Text: "在订单页申请售后。", Lang: "zh"}})

	c := Search(t, s, "shop", "refunds business days", nil)
	if len(c.Keyword) == 0 || c.Chunks[c.Keyword[0].ChunkID].DocID != "refunds.md" {
		t.Fatalf("keyword side: %+v", c.Keyword)
	}
	// The vector of the exact passage text ranks it first with cosine 1.
	c2, err := s.Search(context.Background(), "shop", kefu.SearchRequest{Vector: Vec("Shipping takes two days."), K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Vector) == 0 || math.Abs(c2.Vector[0].Score-1) > 1e-5 || !strings.Contains(c2.Chunks[c2.Vector[0].ChunkID].Text, "Shipping") {
		t.Fatalf("vector side: %+v", c2.Vector)
	}
	// An FAQ entry is found by any of its phrasings, on both sides.
	c3, _ := s.Search(context.Background(), "shop", kefu.SearchRequest{Query: "如何退款", Vector: Vec("如何退款"), K: 3})
	if len(c3.Vector) == 0 || c3.Chunks[c3.Vector[0].ChunkID].Kind != kefu.KindFAQ || math.Abs(c3.Vector[0].Score-1) > 1e-5 || len(c3.Keyword) == 0 {
		t.Fatalf("faq phrasing: kw %+v vec %+v", c3.Keyword, c3.Vector)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.Close()
	c = Search(t, s, "shop", "refunds business days", nil)
	if len(c.Keyword) == 0 || c.Chunks[c.Keyword[0].ChunkID].DocID != "refunds.md" || len(c.Vector) == 0 {
		t.Fatalf("after reopen: %+v", c)
	}
	st, _ := s.Stats(context.Background(), "shop")
	if st.Documents != 2 || st.Chunks != 3 || st.Vectors != 4 {
		t.Errorf("stats %+v, want 2 docs, 3 chunks, 4 vectors", st)
	}
}

func testReplaceKeepsUnchangedAndDropsOld(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	Put(t, s, "kb", "d", Passages("alpha stays the same", "beta goes away"))
	kept := Passages("alpha stays the same")[0]
	h := kept.ContentHash()
	known, err := s.KnownVectors(ctx, "kb", []string{h, "nope"})
	if err != nil || len(known) != 1 || len(known[h]) != 1 {
		t.Fatalf("KnownVectors = %v, %v", known, err)
	}
	Put(t, s, "kb", "d", Passages("alpha stays the same", "gamma arrives"))
	if ids := KeywordIDs(Search(t, s, "kb", "beta", nil)); len(ids) != 0 {
		t.Errorf("old chunk still found: %v", ids)
	}
	if ids := KeywordIDs(Search(t, s, "kb", "gamma", nil)); len(ids) != 1 {
		t.Errorf("new chunk not found: %v", ids)
	}
	chunks, _ := s.Chunks(ctx, "kb", "d")
	if len(chunks) != 2 || chunks[0].Text != "alpha stays the same" || chunks[1].Seq != 1 {
		t.Errorf("chunks %+v", chunks)
	}
	if st, _ := s.Stats(ctx, "kb"); st.Chunks != 2 || st.Vectors != 2 {
		t.Errorf("stats after replace %+v", st)
	}
}

func testDuplicateChunksStoredOnce(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	same := []kefu.Chunk{{Kind: kefu.KindPassage, Title: "Policy", Text: "Returns within seven days."}}
	Put(t, s, "kb", "a", same)
	Put(t, s, "kb", "b", same)
	if st, _ := s.Stats(ctx, "kb"); st.Chunks != 1 || st.Documents != 2 {
		t.Fatalf("stats %+v: the duplicate chunk must be stored once", st)
	}
	if err := s.DeleteDocument(ctx, "kb", "a"); err != nil {
		t.Fatal(err)
	}
	c := Search(t, s, "kb", "returns seven days", nil)
	if len(c.Keyword) != 1 || c.Chunks[c.Keyword[0].ChunkID].DocID != "b" {
		t.Fatalf("after deleting one owner: %+v", c.Keyword)
	}
	// The chunk now cites its remaining owner.
	if got := c.Chunks[c.Keyword[0].ChunkID]; got.Source != "b" || got.Title != "Title b" {
		t.Errorf("after deleting one owner the chunk cites source %q, title %q", got.Source, got.Title)
	}
	// Filtering by the remaining document finds the shared chunk on both sides.
	c = Search(t, s, "kb", "returns seven days", &kefu.Filter{DocIDs: []string{"b"}})
	if len(c.Keyword) != 1 || len(c.Vector) != 1 {
		t.Errorf("doc filter: kw %v vec %v", c.Keyword, c.Vector)
	}
	if err := s.DeleteDocument(ctx, "kb", "b"); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx, "kb"); st.Chunks != 0 || st.Vectors != 0 || st.Documents != 0 {
		t.Errorf("stats after deleting both %+v", st)
	}
	if err := s.DeleteDocument(ctx, "kb", "b"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("deleting twice: %v", err)
	}
}

func testFiltersInsideSearch(t *testing.T, o Opener) {
	s := openOne(t, o)
	NewKB(t, s, "kb")
	// Many strong matches in one document, one weak match in another.
	var strong []string
	for i := 0; i < 30; i++ {
		strong = append(strong, fmt.Sprintf("invoice invoice invoice number %d", i))
	}
	Put(t, s, "kb", "noise", Passages(strong...))
	Put(t, s, "kb", "target", []kefu.Chunk{{Kind: kefu.KindFAQ, Questions: []string{"where is my invoice"}, Text: "In the order page.", Category: "billing", Lang: "en", Meta: map[string]string{"team": "finance"}}})
	f := &kefu.Filter{DocIDs: []string{"target"}}
	c, err := s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "invoice", Vector: Vec("invoice"), K: 5, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Keyword) != 1 || len(c.Vector) != 1 || c.Chunks[c.Vector[0].ChunkID].DocID != "target" {
		t.Errorf("doc filter: kw %v vec %v", c.Keyword, c.Vector)
	}
	for _, f := range []*kefu.Filter{{Kinds: []kefu.ChunkKind{kefu.KindFAQ}}, {Meta: map[string]string{"category": "billing"}},
		{Meta: map[string]string{"team": "finance", "lang": "en"}}, {DocIDs: []string{"nope", "target"}, Kinds: []kefu.ChunkKind{kefu.KindFAQ, kefu.KindPassage}}} {
		c, _ = s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "invoice", Vector: Vec("invoice"), K: 5, Filter: f})
		if len(c.Vector) != 1 || len(c.Keyword) != 1 {
			t.Errorf("filter %+v: kw %v vec %v", f, c.Keyword, c.Vector)
		}
	}
	for _, f := range []*kefu.Filter{{Meta: map[string]string{"team": "sales"}}, {DocIDs: []string{"nope"}}} {
		c, _ = s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "invoice", Vector: Vec("invoice"), K: 5, Filter: f})
		if len(c.Vector) != 0 || len(c.Keyword) != 0 {
			t.Errorf("filter %+v lets through kw %v vec %v", f, c.Keyword, c.Vector)
		}
	}
}

// While one goroutine replaces a document's chunks over and over, searches
// must see exactly one version: all old chunks or all new ones, never a mix
// and never none.
func testReplaceIsAtomicUnderConcurrentSearch(t *testing.T, o Opener) {
	s := openOne(t, o)
	NewKB(t, s, "kb")
	version := func(v int) []kefu.Chunk {
		return Passages(fmt.Sprintf("shared words version%d part one", v), fmt.Sprintf("shared words version%d part two", v), fmt.Sprintf("shared words version%d part three", v))
	}
	Put(t, s, "kb", "doc", version(0))
	Search(t, s, "kb", "shared words", nil) // loads the analyzer before the race starts
	var stop atomic.Bool
	var wg sync.WaitGroup
	var searches, bad atomic.Int64
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c, err := s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "shared words", Vector: Vec("shared words"), K: 10})
				if err != nil {
					t.Error(err)
					return
				}
				searches.Add(1)
				for _, side := range [][]kefu.Scored{c.Keyword, c.Vector} {
					versions := map[string]bool{}
					for _, sc := range side {
						f := strings.Fields(c.Chunks[sc.ChunkID].Text)
						versions[f[2]] = true
					}
					if len(side) != 3 || len(versions) != 1 {
						if bad.Add(1) <= 3 {
							t.Logf("search at KB version %d saw %d chunks of versions %v", c.Version, len(side), versions)
						}
					}
				}
			}
		}()
	}
	for v := 1; v <= 40; v++ {
		Put(t, s, "kb", "doc", version(v))
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d searches saw a mix of versions or a gap", bad.Load(), searches.Load())
	}
	t.Logf("%d searches during 40 replacements, all consistent", searches.Load())
}

func testKBLifecycleAndValidation(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	for _, bad := range []string{"", "Shop", "a b", "../x", strings.Repeat("a", 64)} {
		if err := s.CreateKB(ctx, &kefu.KB{Name: bad}); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	NewKB(t, s, "kb")
	if err := s.CreateKB(ctx, &kefu.KB{Name: "kb"}); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Errorf("duplicate: %v", err)
	}
	kb, _ := s.KB(ctx, "kb")
	v := kb.Version
	kb.Settings.Threshold = 0.9
	kb.Description = "plants"
	if err := s.UpdateKB(ctx, kb); err != nil || kb.Version != v+1 {
		t.Errorf("update: %v, version %d", err, kb.Version)
	}
	if got, _ := s.KB(ctx, "kb"); got.Settings.Threshold != 0.9 || got.Description != "plants" || got.Version != v+1 {
		t.Errorf("after update: %+v", got)
	}
	kb.Settings.Floor = 0.95
	if err := s.UpdateKB(ctx, kb); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("floor above threshold accepted: %v", err)
	}
	kb.Settings.Floor = 0.4
	kb.Settings.Synonyms = []string{"=> nothing"}
	if err := s.UpdateKB(ctx, kb); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("a broken synonym rule accepted: %v", err)
	}
	if kbs, err := s.KBs(ctx); err != nil || len(kbs) != 1 || kbs[0].Name != "kb" {
		t.Errorf("KBs = %v, %v", kbs, err)
	}
	Put(t, s, "kb", "d", Passages("some text"))
	if err := s.DeleteKB(ctx, "kb"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(ctx, "kb", kefu.SearchRequest{Query: "text"}); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("search after delete: %v", err)
	}
	if _, err := s.KB(ctx, "kb"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("KB after delete: %v", err)
	}
	if err := s.DeleteKB(ctx, "kb"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("deleting twice: %v", err)
	}
	NewKB(t, s, "kb") // the name is free again, and empty
	if st, _ := s.Stats(ctx, "kb"); st.Chunks != 0 || st.Documents != 0 {
		t.Errorf("recreated KB holds %+v", st)
	}
}

// A KB created under the name of one being deleted starts clean and stays
// usable.
func testCreateWhileDeleting(t *testing.T, o Opener) {
	CreateWhileDeleting(t, openOne(t, o), 3)
}

// CreateWhileDeleting creates KB "kb" in s, with a document, and deletes
// it while creating it again, rounds times; each time the new KB must see
// only its own document. It leaves no KB behind.
func CreateWhileDeleting(t *testing.T, s kefu.Store, rounds int) {
	t.Helper()
	ctx := context.Background()
	for round := range rounds {
		NewKB(t, s, "kb")
		Put(t, s, "kb", "old", Passages(fmt.Sprintf("old text %d about lanterns", round)))
		deleted := make(chan error, 1)
		go func() { deleted <- s.DeleteKB(ctx, "kb") }()
		for {
			err := s.CreateKB(ctx, &kefu.KB{Name: "kb", Model: "test@0", Settings: kefu.DefaultSettings()})
			if err == nil {
				break
			}
			if kefu.ErrorCode(err) != kefu.ECONFLICT {
				t.Fatalf("round %d: create while deleting: %v", round, err)
			}
		}
		if err := <-deleted; err != nil {
			t.Fatalf("round %d: delete: %v", round, err)
		}
		Put(t, s, "kb", "new", Passages("new text about kites"))
		if c := Search(t, s, "kb", "lanterns kites", nil); len(c.Keyword) != 1 || c.Chunks[c.Keyword[0].ChunkID].DocID != "new" {
			t.Fatalf("round %d: the new KB sees %v", round, KeywordIDs(c))
		}
		if err := s.DeleteKB(ctx, "kb"); err != nil {
			t.Fatal(err)
		}
	}
}

// A write made for a KB that was deleted and created again under its name
// (kefu.WithIncarnation, as an ingest job writes) is refused with
// ECONFLICT and leaves the new KB as it was; the new KB's own writes go
// through, and so do writes without the expectation.
func testWritesOfADeletedIncarnation(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	old, err := s.KB(ctx, "kb")
	if err != nil {
		t.Fatal(err)
	}
	if old.Incarnation == "" {
		t.Fatal("CreateKB gave the KB no incarnation")
	}
	jobCtx := kefu.WithIncarnation(ctx, old)
	put := func(ctx context.Context, id, text string) error {
		ch := Passages(text)
		return s.PutDocuments(ctx, []kefu.DocumentUpdate{{Doc: &kefu.Document{ID: id, KB: "kb", Source: id + ".md"}, Chunks: ch, Vectors: VecsOf(ch)}})
	}
	if err := put(jobCtx, "first", "written while its KB stands"); err != nil {
		t.Fatalf("a write for the current incarnation: %v", err)
	}
	if err := s.DeleteKB(ctx, "kb"); err != nil {
		t.Fatal(err)
	}
	NewKB(t, s, "kb")
	cur, err := s.KB(ctx, "kb")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Incarnation == old.Incarnation {
		t.Fatalf("the KB created again kept incarnation %q", old.Incarnation)
	}
	if err := put(jobCtx, "late", "a late write of the deleted KB's job"); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Fatalf("a write for the deleted incarnation: %v, want %s", err, kefu.ECONFLICT)
	}
	if err := s.DeleteDocument(ctx, "kb", "late"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("the refused write left document \"late\" (delete: %v)", err)
	}
	if docs, _ := s.Documents(ctx, "kb"); len(docs) != 0 {
		t.Errorf("the new KB holds %d documents after the refused write", len(docs))
	}
	if err := put(kefu.WithIncarnation(ctx, cur), "new", "the new KB's own write"); err != nil {
		t.Fatalf("a write for the new incarnation: %v", err)
	}
	if err := put(ctx, "plain", "a write without an expected incarnation"); err != nil {
		t.Fatalf("a write without an expectation: %v", err)
	}
	if docs, _ := s.Documents(ctx, "kb"); len(docs) != 2 {
		t.Errorf("the new KB holds %d documents, want 2", len(docs))
	}
}

func testReembedChangesModelAndDim(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	Put(t, s, "kb", "d", Passages("first text", "second text"))
	embed := func(ctx context.Context, texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i := range texts {
			v := make([]float32, 4)
			v[i%4] = 1
			out[i] = v
		}
		return out, nil
	}
	// An embedder that returns fewer vectors than texts changes nothing.
	short := func(ctx context.Context, texts []string) ([][]float32, error) {
		out, _ := embed(ctx, texts)
		return out[1:], nil
	}
	if err := s.Reembed(ctx, "kb", "other@1", 4, short); err == nil {
		t.Fatal("a short embedder result was accepted")
	}
	if kb, _ := s.KB(ctx, "kb"); kb.Model != "test@0" || kb.Dim != Dim {
		t.Fatalf("kb after a failed re-embed: %s %d", kb.Model, kb.Dim)
	}
	if c := Search(t, s, "kb", "first text", nil); len(c.Vector) != 2 {
		t.Fatalf("search after a failed re-embed: %v", c.Vector)
	}
	if err := s.Reembed(ctx, "kb", "other@1", 4, embed); err != nil {
		t.Fatal(err)
	}
	kb, _ := s.KB(ctx, "kb")
	if kb.Model != "other@1" || kb.Dim != 4 {
		t.Errorf("kb after re-embed: %s %d", kb.Model, kb.Dim)
	}
	c, err := s.Search(ctx, "kb", kefu.SearchRequest{Vector: []float32{1, 0, 0, 0}, K: 2})
	if err != nil || len(c.Vector) != 2 {
		t.Fatalf("search with the new dimension: %v %v", c, err)
	}
	if _, err := s.Search(ctx, "kb", kefu.SearchRequest{Vector: Vec("x"), K: 2}); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Errorf("old dimension accepted: %v", err)
	}
	if c := Search4(t, s, "kb", "second"); len(c.Keyword) != 1 {
		t.Errorf("keyword side after re-embed: %v", c.Keyword)
	}
}

// Search4 searches the keyword side alone.
func Search4(t *testing.T, s kefu.Store, kb, q string) *kefu.Candidates {
	t.Helper()
	c, err := s.Search(context.Background(), kb, kefu.SearchRequest{Query: q, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A batch moves a shared chunk between two documents: one commit, and the
// KB ends with the chunk stored once under its remaining owner.
func testPutDocumentsBatch(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	shared := Passages("common paragraph about tides")[0]
	Put(t, s, "kb", "a", []kefu.Chunk{shared})
	kb, _ := s.KB(ctx, "kb")
	up := func(id string, cs []kefu.Chunk) kefu.DocumentUpdate {
		return kefu.DocumentUpdate{Doc: &kefu.Document{ID: id, KB: "kb", Source: id}, Chunks: cs, Vectors: VecsOf(cs)}
	}
	err := s.PutDocuments(ctx, []kefu.DocumentUpdate{
		up("a", Passages("a now talks about herons")),
		up("b", append(Passages("b talks about kelp"), shared)),
		up("c", Passages("c talks about plankton")),
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.KB(ctx, "kb")
	if after.Version != kb.Version+1 {
		t.Errorf("version %d → %d: one batch is one change", kb.Version, after.Version)
	}
	c := Search(t, s, "kb", "tides", nil)
	if len(c.Keyword) != 1 || c.Chunks[c.Keyword[0].ChunkID].DocID != "b" {
		t.Fatalf("shared chunk after the batch: %+v", c.Keyword)
	}
	if st, _ := s.Stats(ctx, "kb"); st.Documents != 3 || st.Chunks != 4 {
		t.Errorf("stats %+v", st)
	}
	if err := s.PutDocuments(ctx, []kefu.DocumentUpdate{up("d", Passages("x")), up("d", Passages("y"))}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("a document twice in one batch: %v", err)
	}
	bad := up("e", Passages("x"))
	bad.Vectors = nil
	if err := s.PutDocuments(ctx, []kefu.DocumentUpdate{bad}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("chunks without vectors: %v", err)
	}
	if _, err := s.Document(ctx, "kb", "e"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("a refused document was stored: %v", err)
	}
}

// With a selector, the search names every candidate's document but returns
// only the chunks the selector keeps, inside the same snapshot.
func testSearchSelectLoadsOnlyChosenChunks(t *testing.T, o Opener) {
	s := openOne(t, o)
	NewKB(t, s, "kb")
	Put(t, s, "kb", "a", Passages("tide tables for the harbour", "tide clocks and moon phases"))
	Put(t, s, "kb", "b", Passages("tide pools hold anemones"))
	var seen int
	c, err := s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "tide", Vector: Vec("tide"), K: 5,
		Select: func(c *kefu.Candidates) []string {
			seen = len(c.Docs)
			if len(c.Chunks) != 0 {
				t.Errorf("chunks loaded before the selector chose: %d", len(c.Chunks))
			}
			return []string{c.Keyword[0].ChunkID}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 3 || len(c.Docs) != 3 || len(c.Chunks) != 1 || c.Chunks[c.Keyword[0].ChunkID] == nil {
		t.Fatalf("docs %v, chunks %d (selector saw %d)", c.Docs, len(c.Chunks), seen)
	}
	for id, d := range c.Docs {
		if d != "a" && d != "b" {
			t.Errorf("chunk %s: document %q", id, d)
		}
	}
}

// The statistics a search reports of its query's terms are those of the
// KB: each term's document frequency counted here over every chunk's
// analysed fields, the chunk count, the term masks of the first hits
// computed from the hits' own fields, and the coverage of each hit.
func testQueryTermStatistics(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	Put(t, s, "kb", "faq", []kefu.Chunk{
		{Kind: kefu.KindFAQ, Questions: []string{"怎么申请退款", "退款要多久"}, Text: "在订单页申请售后，三到五天到账。", Lang: "zh"},
		{Kind: kefu.KindFAQ, Questions: []string{"快递多久能到"}, Text: "一般两天到达。", Lang: "zh"},
	})
	Put(t, s, "kb", "guide.md", []kefu.Chunk{
		{Kind: kefu.KindPassage, Title: "Refunds", Headings: []string{"Refunds", "Timing"}, Text: "A refund takes five business days.", Lang: "en"},
		{Kind: kefu.KindPassage, Title: "Refunds", Text: "退款 refund 到账 after the parcel arrives.", Lang: ""},
	})
	Put(t, s, "kb", "other.md", Passages("Parcels travel by courier; tracking numbers arrive by mail."))
	an := keyword.NewAnalysis(keyword.Options{})
	var all []*kefu.Chunk
	for _, d := range []string{"faq", "guide.md", "other.md"} {
		cs, err := s.Chunks(ctx, "kb", d)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	fieldsOf := func(c *kefu.Chunk) keyword.Fields { d := keyword.FromChunk(c); return an.Fields(&d) }
	holds := func(f keyword.Fields, term string, head bool) bool {
		for i, ts := range f {
			if head && !keyword.Head(i) || !head && keyword.Head(i) {
				continue
			}
			if slices.Contains(ts, term) {
				return true
			}
		}
		return false
	}
	for _, q := range []string{"退款多久到账", "refund business days", "refnd parcel", "怎么退宽"} {
		c := Search(t, s, "kb", q, nil)
		if c.DocCount != len(all) {
			t.Errorf("%q: DocCount %d, the KB has %d chunks", q, c.DocCount, len(all))
		}
		if len(c.QueryTerms) == 0 || len(c.Terms) == 0 {
			t.Fatalf("%q: no query terms", q)
		}
		indexed := make([]string, len(c.QueryTerms))
		for i, qt := range c.QueryTerms {
			indexed[i] = keyword.Indexed(&qt)
			df := 0
			for _, ch := range all {
				f := fieldsOf(ch)
				if holds(f, indexed[i], true) || holds(f, indexed[i], false) {
					df++
				}
			}
			if qt.DF != df {
				t.Errorf("%q: term %q (%v) has DF %d, counted %d", q, qt.Text, qt.Kind, qt.DF, df)
			}
		}
		if q == "refnd parcel" || q == "怎么退宽" {
			if !slices.ContainsFunc(c.QueryTerms, func(qt kefu.QueryTerm) bool { return qt.Kind == kefu.TermSynonym }) {
				t.Errorf("%q: no correction among %+v", q, c.QueryTerms)
			}
		}
		for n, sc := range c.Keyword {
			if !sc.Masked {
				if n < kefu.MaskedHits {
					t.Errorf("%q: hit %d carries no masks", q, n)
				}
				continue
			}
			f := fieldsOf(c.Chunks[sc.ChunkID])
			var head, body uint64
			for i := range min(64, len(indexed)) {
				if holds(f, indexed[i], true) {
					head |= 1 << i
				}
				if holds(f, indexed[i], false) {
					body |= 1 << i
				}
			}
			if head != sc.HeadMatch || body != sc.BodyMatch {
				t.Errorf("%q: hit %s masks %b/%b, its fields %b/%b", q, sc.ChunkID, sc.HeadMatch, sc.BodyMatch, head, body)
			}
			// Coverage: the query's own terms (not synonyms) the hit
			// holds, for an FAQ entry in its questions.
			found, counted := 0, 0
			for i, qt := range c.QueryTerms {
				if qt.Kind == kefu.TermSynonym {
					continue
				}
				counted++
				if holds(f, indexed[i], true) || c.Chunks[sc.ChunkID].Kind != kefu.KindFAQ && holds(f, indexed[i], false) {
					found++
				}
			}
			if want := float64(found) / float64(counted); math.Abs(sc.Coverage-want) > 1e-9 {
				t.Errorf("%q: hit %s coverage %v, its fields %v", q, sc.ChunkID, sc.Coverage, want)
			}
		}
	}
}

func testDocumentsAndChunks(t *testing.T, o Opener) {
	s := openOne(t, o)
	ctx := context.Background()
	NewKB(t, s, "kb")
	doc := &kefu.Document{ID: "a/b.md", KB: "kb", Source: "b.md", Title: "B", Format: "md", Bytes: 42, Meta: map[string]string{"team": "x"}}
	chunks := Passages("one", "two", "three")
	if err := s.PutDocument(ctx, doc, chunks, VecsOf(chunks)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Document(ctx, "kb", "a/b.md")
	if err != nil || got.Chunks != 3 || got.Status != kefu.DocIndexed || got.Bytes != 42 || got.Meta["team"] != "x" || got.CreatedAt.IsZero() {
		t.Fatalf("Document = %+v, %v", got, err)
	}
	created := got.CreatedAt
	if err := s.PutDocument(ctx, doc, chunks[:2], VecsOf(chunks[:2])); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Document(ctx, "kb", "a/b.md"); got.Chunks != 2 || !got.CreatedAt.Equal(created) {
		t.Errorf("after replacing: %+v (created %v)", got, created)
	}
	cs, err := s.Chunks(ctx, "kb", "a/b.md")
	if err != nil || len(cs) != 2 || cs[0].Text != "one" || cs[1].Text != "two" || cs[1].Seq != 1 || cs[0].DocID != "a/b.md" || cs[0].ID == "" {
		t.Errorf("Chunks = %+v, %v", cs, err)
	}
	if docs, err := s.Documents(ctx, "kb"); err != nil || len(docs) != 1 {
		t.Errorf("Documents = %v, %v", docs, err)
	}
	if _, err := s.Chunks(ctx, "kb", "nope"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("Chunks of a missing document: %v", err)
	}
	if _, err := s.Documents(ctx, "nokb"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("Documents of a missing KB: %v", err)
	}
	if err := s.PutDocument(ctx, &kefu.Document{ID: "x", KB: "nokb"}, nil, nil); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("a document into a missing KB: %v", err)
	}
	if err := s.DeleteDocument(ctx, "kb", "a/b.md"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Document(ctx, "kb", "a/b.md"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("Document after delete: %v", err)
	}
	if c := Search(t, s, "kb", "one two", nil); len(c.Keyword)+len(c.Vector) != 0 {
		t.Errorf("a deleted document's chunks are found: %v %v", c.Keyword, c.Vector)
	}
}
