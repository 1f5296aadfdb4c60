package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/models"
)

// kefu kb export and import as a user runs them, with the real embedding
// model: a KB ingested in one data directory comes back in another and
// finds the same passage; in a deployment with another model the import is
// refused, then re-embedded with that model when asked.
func TestKBExportImport(t *testing.T) {
	lib := testenv.RequireORT(t)
	testenv.Model(t, "use-lite-en")
	testenv.Model(t, "tiny-en")
	t.Setenv("KEFU_SHARED", testenv.SharedDir())
	ctx := context.Background()
	tmp := t.TempDir()
	src, dst, other := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst"), filepath.Join(tmp, "other")
	file := filepath.Join(tmp, "docs.kefu")
	flags := func(dir, model string) []string {
		return []string{"--data-dir", dir, "--model", model, "--ort-lib", lib, "--log-level", "error"}
	}

	doc := filepath.Join(tmp, "returns.md")
	os.WriteFile(doc, []byte("# Returns\n\nParcels can be returned within thirty days of delivery.\n\n# Shipping\n\nWe ship to every country in Europe.\n"), 0o644)
	a, err := newApp(common{dataDir: src, ortLib: lib, model: "use-lite-en", logLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.embedder(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.EnsureKB(ctx, a.store, "docs", e, nil); err != nil {
		t.Fatal(err)
	}
	ups, _, err := ingest.Uploads([]string{doc})
	if err != nil {
		t.Fatal(err)
	}
	if job, err := a.ingester(e).Ingest(ctx, "docs", ups, nil); err != nil || job.Done != 1 {
		t.Fatalf("ingest: %+v %v", job, err)
	}
	a.close()

	if err := runKB(ctx, append([]string{"export", "docs", "-o", file}, flags(src, "use-lite-en")...)); err != nil {
		t.Fatal(err)
	}
	if err := runKB(ctx, append([]string{"import", file, "--as", "restored"}, flags(dst, "use-lite-en")...)); err != nil {
		t.Fatal(err)
	}
	top := func(dir, kb string) (string, kefu.KBStats) {
		st, err := index.Open(dir, index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		c, err := st.Search(ctx, kb, kefu.SearchRequest{Query: "return a parcel", K: 3})
		if err != nil || len(c.Keyword) == 0 {
			t.Fatalf("search %s: %+v %v", kb, c, err)
		}
		stats, _ := st.Stats(ctx, kb)
		return c.Chunks[c.Keyword[0].ChunkID].Text, stats
	}
	wantText, wantStats := top(src, "docs")
	if got, stats := top(dst, "restored"); got != wantText || stats != wantStats || !strings.Contains(got, "thirty days") {
		t.Fatalf("restored KB: top hit %q %+v, want %q %+v", got, stats, wantText, wantStats)
	}

	err = runKB(ctx, append([]string{"import", file}, flags(other, "tiny-en")...))
	if kefu.ErrorCode(err) != kefu.EMODEL || exitCode(err) == 0 {
		t.Fatalf("import under another model: %v, want a model mismatch", err)
	}
	if err := runKB(ctx, append([]string{"import", file, "--reembed"}, flags(other, "tiny-en")...)); err != nil {
		t.Fatal(err)
	}
	st, err := index.Open(other, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kb, err := st.KB(ctx, "docs")
	if err != nil || kb.Model.Name() != "tiny-en" || kb.Dim != 64 {
		t.Fatalf("re-embedded KB: %+v %v", kb, err)
	}
	if stats, _ := st.Stats(ctx, "docs"); stats != wantStats {
		t.Fatalf("re-embedded KB holds %+v, want %+v", stats, wantStats)
	}
}
