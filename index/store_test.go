package index

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/storetest"
)

// The store's own tests use the contract suite's vectors and passages.
const dim = storetest.Dim

var (
	vec      = storetest.Vec
	vecsOf   = storetest.VecsOf
	passages = storetest.Passages
)

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

// A KB created under the name of one being deleted starts clean and stays
// usable (the contract suite's check, more rounds), and leaves nothing on
// disk once deleted, also after a restart.
func TestCreateWhileDeleting(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	storetest.CreateWhileDeleting(t, s, 5)
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

// The Store contract, as every backend passes it.
func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() kefu.Store {
		dir := t.TempDir()
		return func() kefu.Store { return openStore(t, dir) }
	})
}
