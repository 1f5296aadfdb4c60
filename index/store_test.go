package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/vecmath"
)

const dim = 16

// vec is a deterministic unit vector derived from text, so equal texts get
// equal vectors and different texts nearly orthogonal ones.
func vec(text string) []float32 {
	v := make([]float32, dim)
	for i := range v {
		h := sha256.Sum256([]byte(fmt.Sprintf("%d:%s", i, text)))
		v[i] = float32(float64(int32(binary.LittleEndian.Uint32(h[:4]))) / math.MaxInt32)
	}
	vecmath.Normalize(v)
	return v
}

func vecsOf(chunks []kefu.Chunk) [][][]float32 {
	out := make([][][]float32, len(chunks))
	for i := range chunks {
		for _, t := range chunks[i].EmbedTexts() {
			out[i] = append(out[i], vec(t))
		}
	}
	return out
}

func passages(texts ...string) []kefu.Chunk {
	out := make([]kefu.Chunk, len(texts))
	for i, t := range texts {
		out[i] = kefu.Chunk{Kind: kefu.KindPassage, Text: t, Lang: "en"}
	}
	return out
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKB(t *testing.T, s *Store, name string) {
	t.Helper()
	if err := s.CreateKB(context.Background(), &kefu.KB{Name: name, Model: "test@0", Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, s *Store, kb, id string, chunks []kefu.Chunk) {
	t.Helper()
	doc := &kefu.Document{ID: id, KB: kb, Source: id, Title: "Title " + id}
	if err := s.PutDocument(context.Background(), doc, chunks, vecsOf(chunks)); err != nil {
		t.Fatal(err)
	}
}

func search(t *testing.T, s *Store, kb, q string, f *kefu.Filter) *kefu.Candidates {
	t.Helper()
	c, err := s.Search(context.Background(), kb, kefu.SearchRequest{Query: q, Vector: vec(q), K: 10, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keywordIDs(c *kefu.Candidates) []string {
	var ids []string
	for _, s := range c.Keyword {
		ids = append(ids, s.ChunkID)
	}
	return ids
}

func TestPutSearchReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	newKB(t, s, "shop")
	put(t, s, "shop", "refunds.md", passages("Refunds arrive within five business days.", "Shipping takes two days."))
	put(t, s, "shop", "faq.csv", []kefu.Chunk{{Kind: kefu.KindFAQ, Questions: []string{"怎么申请退款？", "如何退款"}, Text: "在订单页申请售后。", Lang: "zh"}})

	c := search(t, s, "shop", "refunds business days", nil)
	if len(c.Keyword) == 0 || c.Chunks[c.Keyword[0].ChunkID].DocID != "refunds.md" {
		t.Fatalf("keyword side: %+v", c.Keyword)
	}
	// The vector of the exact passage text ranks it first with cosine 1.
	c2, err := s.Search(context.Background(), "shop", kefu.SearchRequest{Vector: vec("Shipping takes two days."), K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Vector) == 0 || math.Abs(c2.Vector[0].Score-1) > 1e-5 || !strings.Contains(c2.Chunks[c2.Vector[0].ChunkID].Text, "Shipping") {
		t.Fatalf("vector side: %+v", c2.Vector)
	}
	// An FAQ entry is found by any of its phrasings, on both sides.
	c3, _ := s.Search(context.Background(), "shop", kefu.SearchRequest{Query: "如何退款", Vector: vec("如何退款"), K: 3})
	if len(c3.Vector) == 0 || c3.Chunks[c3.Vector[0].ChunkID].Kind != kefu.KindFAQ || len(c3.Keyword) == 0 {
		t.Fatalf("faq phrasing: kw %+v vec %+v", c3.Keyword, c3.Vector)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	defer s.Close()
	c = search(t, s, "shop", "refunds business days", nil)
	if len(c.Keyword) == 0 || c.Chunks[c.Keyword[0].ChunkID].DocID != "refunds.md" || len(c.Vector) == 0 {
		t.Fatalf("after reopen: %+v", c)
	}
	st, _ := s.Stats(context.Background(), "shop")
	if st.Documents != 2 || st.Chunks != 3 || st.Vectors != 4 {
		t.Errorf("stats %+v, want 2 docs, 3 chunks, 4 vectors", st)
	}
}

func TestReplaceKeepsUnchangedAndDropsOld(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	newKB(t, s, "kb")
	put(t, s, "kb", "d", passages("alpha stays the same", "beta goes away"))
	kept := passages("alpha stays the same")[0]
	h := kept.ContentHash()
	known, err := s.KnownVectors(ctx, "kb", []string{h, "nope"})
	if err != nil || len(known) != 1 || len(known[h]) != 1 {
		t.Fatalf("KnownVectors = %v, %v", known, err)
	}
	put(t, s, "kb", "d", passages("alpha stays the same", "gamma arrives"))
	if ids := keywordIDs(search(t, s, "kb", "beta", nil)); len(ids) != 0 {
		t.Errorf("old chunk still found: %v", ids)
	}
	if ids := keywordIDs(search(t, s, "kb", "gamma", nil)); len(ids) != 1 {
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

func TestDuplicateChunksStoredOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	newKB(t, s, "kb")
	same := []kefu.Chunk{{Kind: kefu.KindPassage, Title: "Policy", Text: "Returns within seven days."}}
	put(t, s, "kb", "a", same)
	put(t, s, "kb", "b", same)
	if st, _ := s.Stats(ctx, "kb"); st.Chunks != 1 || st.Documents != 2 {
		t.Fatalf("stats %+v: the duplicate chunk must be stored once", st)
	}
	if err := s.DeleteDocument(ctx, "kb", "a"); err != nil {
		t.Fatal(err)
	}
	c := search(t, s, "kb", "returns seven days", nil)
	if len(c.Keyword) != 1 || c.Chunks[c.Keyword[0].ChunkID].DocID != "b" {
		t.Fatalf("after deleting one owner: %+v", c.Keyword)
	}
	// The chunk now cites its remaining owner.
	if got := c.Chunks[c.Keyword[0].ChunkID]; got.Source != "b" || got.Title != "Title b" {
		t.Errorf("after deleting one owner the chunk cites source %q, title %q", got.Source, got.Title)
	}
	// Filtering by the remaining document finds the shared chunk on both sides.
	c = search(t, s, "kb", "returns seven days", &kefu.Filter{DocIDs: []string{"b"}})
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

func TestFiltersInsideSearch(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "kb")
	// Many strong matches in one document, one weak match in another.
	var strong []string
	for i := 0; i < 30; i++ {
		strong = append(strong, fmt.Sprintf("invoice invoice invoice number %d", i))
	}
	put(t, s, "kb", "noise", passages(strong...))
	put(t, s, "kb", "target", []kefu.Chunk{{Kind: kefu.KindFAQ, Questions: []string{"where is my invoice"}, Text: "In the order page.", Category: "billing", Lang: "en"}})
	f := &kefu.Filter{DocIDs: []string{"target"}}
	c, err := s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "invoice", Vector: vec("invoice"), K: 5, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Keyword) != 1 || len(c.Vector) != 1 || c.Chunks[c.Vector[0].ChunkID].DocID != "target" {
		t.Errorf("doc filter: kw %v vec %v", c.Keyword, c.Vector)
	}
	for _, f := range []*kefu.Filter{{Kinds: []kefu.ChunkKind{kefu.KindFAQ}}, {Meta: map[string]string{"category": "billing"}}} {
		c, _ = s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "invoice", Vector: vec("invoice"), K: 5, Filter: f})
		if len(c.Vector) != 1 || len(c.Keyword) != 1 {
			t.Errorf("filter %+v: kw %v vec %v", f, c.Keyword, c.Vector)
		}
	}
}

// While one goroutine replaces a document's chunks over and over, searches
// must see exactly one version: all old chunks or all new ones, never a mix
// and never none.
func TestReplaceIsAtomicUnderConcurrentSearch(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "kb")
	version := func(v int) []kefu.Chunk {
		return passages(fmt.Sprintf("shared words version%d part one", v), fmt.Sprintf("shared words version%d part two", v), fmt.Sprintf("shared words version%d part three", v))
	}
	put(t, s, "kb", "doc", version(0))
	var stop atomic.Bool
	var wg sync.WaitGroup
	var searches, bad atomic.Int64
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c, err := s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "shared words", Vector: vec("shared words"), K: 10})
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
						bad.Add(1)
					}
				}
			}
		}()
	}
	for v := 1; v <= 40; v++ {
		put(t, s, "kb", "doc", version(v))
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d searches saw a mix of versions or a gap", bad.Load(), searches.Load())
	}
	t.Logf("%d searches during 40 replacements, all consistent", searches.Load())
}

func TestRebuildsDerivedIndexesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	newKB(t, s, "kb")
	put(t, s, "kb", "d1", passages("orchids need little water"))
	s.Close()

	// A crash after the bbolt commit: the keyword index lost its files and
	// the vector snapshot is from an older version.
	if err := os.RemoveAll(filepath.Join(dir, "kbs", "kb", "keyword")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kbs", "kb", "vectors.kvec.version"), []byte("1"), 0o644)

	s = openStore(t, dir)
	defer s.Close()
	c := search(t, s, "kb", "orchids water", nil)
	if len(c.Keyword) != 1 || len(c.Vector) != 1 {
		t.Fatalf("after recovery: kw %v vec %v", c.Keyword, c.Vector)
	}
}

// A settings change bumps the KB's version without touching its content:
// the next start must trust both indexes instead of rebuilding them.
func TestSettingsChangeKeepsIndexesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	newKB(t, s, "kb")
	put(t, s, "kb", "d1", passages("orchids need little water"))
	s.Close()
	snap := filepath.Join(dir, "kbs", "kb", "vectors.kvec")
	before, err := os.Stat(snap)
	if err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	var mu sync.Mutex
	open := func() *Store {
		h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), &slog.HandlerOptions{Level: slog.LevelDebug})
		s, err := Open(dir, Options{Logger: slog.New(h)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s = open()
	kb, _ := s.KB(context.Background(), "kb")
	kb.Description = "plants"
	kb.Settings.Threshold = 0.9
	if err := s.UpdateKB(context.Background(), kb); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open()
	defer s.Close()
	if c := search(t, s, "kb", "orchids water", nil); len(c.Keyword) != 1 || len(c.Vector) != 1 {
		t.Fatalf("after restart: kw %v vec %v", c.Keyword, c.Vector)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "rebuilding") {
		t.Errorf("a settings change made the next start rebuild:\n%s", logs.String())
	}
	if after, err := os.Stat(snap); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the vector snapshot was rewritten (%v)", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestKBLifecycleAndValidation(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	for _, bad := range []string{"", "Shop", "a b", "../x", strings.Repeat("a", 64)} {
		if err := s.CreateKB(ctx, &kefu.KB{Name: bad}); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	newKB(t, s, "kb")
	if err := s.CreateKB(ctx, &kefu.KB{Name: "kb"}); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Errorf("duplicate: %v", err)
	}
	kb, _ := s.KB(ctx, "kb")
	v := kb.Version
	kb.Settings.Threshold = 0.9
	if err := s.UpdateKB(ctx, kb); err != nil || kb.Version != v+1 {
		t.Errorf("update: %v, version %d", err, kb.Version)
	}
	kb.Settings.Floor = 0.95
	if err := s.UpdateKB(ctx, kb); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("floor above threshold accepted: %v", err)
	}
	put(t, s, "kb", "d", passages("some text"))
	if err := s.DeleteKB(ctx, "kb"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(ctx, "kb", kefu.SearchRequest{Query: "text"}); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("search after delete: %v", err)
	}
	newKB(t, s, "kb") // the name is free again, and empty
	if st, _ := s.Stats(ctx, "kb"); st.Chunks != 0 {
		t.Errorf("recreated KB holds %d chunks", st.Chunks)
	}
}

// A KB created under the name of one being deleted starts clean and stays
// usable, also after a restart.
func TestCreateWhileDeleting(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	for round := range 5 {
		newKB(t, s, "kb")
		put(t, s, "kb", "old", passages(fmt.Sprintf("old text %d about lanterns", round)))
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
		put(t, s, "kb", "new", passages("new text about kites"))
		if c := search(t, s, "kb", "lanterns kites", nil); len(c.Keyword) != 1 || c.Chunks[c.Keyword[0].ChunkID].DocID != "new" {
			t.Fatalf("round %d: the new KB sees %v", round, keywordIDs(c))
		}
		if err := s.DeleteKB(ctx, "kb"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	if entries, _ := os.ReadDir(filepath.Join(dir, "kbs")); len(entries) != 0 {
		t.Errorf("left in kbs/: %v", entries)
	}
}

func TestSecondProcessRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	if _, err := Open(dir, Options{}); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Errorf("second open: %v", err)
	}
}

func TestAnswerLogAndFeedback(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	newKB(t, s, "kb")
	for i, r := range []kefu.Route{kefu.RouteFAQ, kefu.RouteUnknown, kefu.RouteDisclaimer, kefu.RouteHandoff} {
		if err := s.LogAnswer(ctx, kefu.AnswerRecord{ID: fmt.Sprint("a", i), KB: "kb", Question: fmt.Sprint("q", i), Route: r}); err != nil {
			t.Fatal(err)
		}
	}
	// An LLM outage's fallback is not a gap in the KB.
	if err := s.LogAnswer(ctx, kefu.AnswerRecord{ID: "a9", KB: "kb", Question: "q9", Route: kefu.RouteDisclaimer, Fallback: "timeout"}); err != nil {
		t.Fatal(err)
	}
	un, err := s.Unanswered(ctx, "kb", 10)
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, r := range un {
		qs = append(qs, r.Question)
	}
	if !slices.Equal(qs, []string{"q2", "q1"}) {
		t.Errorf("unanswered = %v, want newest first [q2 q1]", qs)
	}
	if err := s.AddFeedback(ctx, "kb", kefu.Feedback{AnswerID: "a0", Vote: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFeedback(ctx, "kb", kefu.Feedback{AnswerID: "nope", Vote: 1}); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("feedback on unknown answer: %v", err)
	}
	if err := s.AddFeedback(ctx, "kb", kefu.Feedback{AnswerID: "a0", Vote: 3}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("vote 3: %v", err)
	}
}

func TestReembedChangesModelAndDim(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	newKB(t, s, "kb")
	put(t, s, "kb", "d", passages("first text", "second text"))
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
	if kb, _ := s.KB(ctx, "kb"); kb.Model != "test@0" || kb.Dim != dim {
		t.Fatalf("kb after a failed re-embed: %s %d", kb.Model, kb.Dim)
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
	if _, err := s.Search(ctx, "kb", kefu.SearchRequest{Vector: vec("x"), K: 2}); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Errorf("old dimension accepted: %v", err)
	}
}

func TestKeysAndSources(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	h := fmt.Sprintf("%x", sha256.Sum256([]byte("secret")))
	if err := s.CreateKey(ctx, &kefu.Key{ID: "k1", Hash: h, Scope: kefu.ScopeQuery, KB: "shop"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, &kefu.Key{ID: "k2", Hash: h, Scope: kefu.ScopeAdmin}); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Errorf("same secret twice: %v", err)
	}
	k, err := s.KeyByHash(ctx, h)
	if err != nil || k.ID != "k1" || k.Scope != kefu.ScopeQuery || k.KB != "shop" {
		t.Fatalf("KeyByHash = %+v, %v", k, err)
	}
	if err := s.DeleteKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KeyByHash(ctx, h); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("revoked key still found: %v", err)
	}
	if !kefu.ScopeAdmin.Includes(kefu.ScopeQuery) || kefu.ScopeQuery.Includes(kefu.ScopeIngest) || kefu.Scope("x").Includes(kefu.ScopeQuery) {
		t.Error("scope nesting")
	}

	newKB(t, s, "kb")
	put(t, s, "kb", "a/b.md", passages("text"))
	if err := s.PutSource(ctx, "kb", "a/b.md", []byte("# source")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Source(ctx, "kb", "a/b.md"); err != nil || string(b) != "# source" {
		t.Fatalf("Source = %q, %v", b, err)
	}
	if err := s.DeleteDocument(ctx, "kb", "a/b.md"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Source(ctx, "kb", "a/b.md"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("source kept after delete: %v", err)
	}
}

// A batch moves a shared chunk between two documents: one commit, and the
// indexes end with the chunk stored once under its remaining owner.
func TestPutDocumentsBatch(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	newKB(t, s, "kb")
	shared := passages("common paragraph about tides")[0]
	put(t, s, "kb", "a", []kefu.Chunk{shared})
	kb, _ := s.KB(ctx, "kb")
	up := func(id string, cs []kefu.Chunk) kefu.DocumentUpdate {
		return kefu.DocumentUpdate{Doc: &kefu.Document{ID: id, KB: "kb", Source: id}, Chunks: cs, Vectors: vecsOf(cs)}
	}
	err := s.PutDocuments(ctx, []kefu.DocumentUpdate{
		up("a", passages("a now talks about herons")),
		up("b", append(passages("b talks about kelp"), shared)),
		up("c", passages("c talks about plankton")),
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.KB(ctx, "kb")
	if after.Version != kb.Version+1 {
		t.Errorf("version %d → %d: one batch is one change", kb.Version, after.Version)
	}
	c := search(t, s, "kb", "tides", nil)
	if len(c.Keyword) != 1 || c.Chunks[c.Keyword[0].ChunkID].DocID != "b" {
		t.Fatalf("shared chunk after the batch: %+v", c.Keyword)
	}
	if st, _ := s.Stats(ctx, "kb"); st.Documents != 3 || st.Chunks != 4 {
		t.Errorf("stats %+v", st)
	}
	if err := s.PutDocuments(ctx, []kefu.DocumentUpdate{up("d", passages("x")), up("d", passages("y"))}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("a document twice in one batch: %v", err)
	}
}

// A batch in which both owners of a shared chunk let go of it frees the
// chunk's label completely, so the next new chunk reuses it, also after a
// restart.
func TestBatchDroppingSharedChunkFreesItsLabel(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	newKB(t, s, "kb")
	shared := passages("boilerplate footer about cookies")
	put(t, s, "kb", "a", shared)
	put(t, s, "kb", "b", shared)
	up := func(id, text string) kefu.DocumentUpdate {
		cs := passages(text)
		return kefu.DocumentUpdate{Doc: &kefu.Document{ID: id, KB: "kb", Source: id}, Chunks: cs, Vectors: vecsOf(cs)}
	}
	if err := s.PutDocuments(ctx, []kefu.DocumentUpdate{up("a", "a alone"), up("b", "b alone")}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, s *Store) {
		t.Helper()
		st, err := s.state("kb")
		if err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, l := range st.free {
			if st.attrs[l].Key != "" {
				t.Errorf("%s: free label %d still holds %q", when, l, st.attrs[l].Key)
			}
		}
		if len(st.labelOf) != 2 {
			t.Errorf("%s: %d chunks known by label, want 2", when, len(st.labelOf))
		}
	}
	check("after the batch", s)
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	check("after a restart", s)
}

// With a selector, the search names every candidate's document but loads
// only the chunks the selector keeps, inside the same snapshot.
func TestSearchSelectLoadsOnlyChosenChunks(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "kb")
	put(t, s, "kb", "a", passages("tide tables for the harbour", "tide clocks and moon phases"))
	put(t, s, "kb", "b", passages("tide pools hold anemones"))
	var seen int
	c, err := s.Search(context.Background(), "kb", kefu.SearchRequest{Query: "tide", Vector: vec("tide"), K: 5,
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
