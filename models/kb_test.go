package models_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/models"
	"github.com/kefu-dev/kefu/retrieve"
)

// sharedOnly resolves from the shared models folder alone, offline.
func sharedOnly(t *testing.T) models.ResolveOptions {
	return models.ResolveOptions{SearchDirs: []string{testenv.Shared(t, "models")}, CacheDir: t.TempDir(), Offline: true}
}

func engine(t *testing.T, name string) *embed.Engine {
	t.Helper()
	spec, err := models.Resolve(name, sharedOnly(t))
	if err != nil {
		t.Fatal(err)
	}
	e, err := embed.New(spec, embed.Options{ORTLib: testenv.RequireORT(t), Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// storeWithKBs opens a store in a temporary folder holding empty KBs
// embedded with these models, by name.
func storeWithKBs(t *testing.T, kbs map[string]kefu.ModelID) kefu.Store {
	t.Helper()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for name, model := range kbs {
		if err := st.CreateKB(context.Background(), &kefu.KB{Name: name, Model: model, Settings: kefu.DefaultSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// A command runs with --model when given, else with the model its KB was
// embedded with when that model is here, else with the best one here.
func TestChoose(t *testing.T) {
	ctx := context.Background()
	st := storeWithKBs(t, map[string]kefu.ModelID{"zh": "tiny-zh@7cdf13237986", "gone": "no-such-model@0123456789ab"})
	opts := sharedOnly(t)
	best := models.Default(opts)
	if best != "use-lite-en" {
		t.Fatalf("best shared model %q, want use-lite-en", best)
	}
	for _, c := range []struct{ flag, kb, want string }{
		{"tiny-en", "zh", "tiny-en"}, // the flag wins
		{"", "zh", "tiny-zh"},        // the KB's own model
		{"", "gone", best},           // the KB's model is not here
		{"", "missing", best},        // no such KB
		{"", "", best},               // no KB
	} {
		if got := models.Choose(ctx, st, c.flag, c.kb, opts); got != c.want {
			t.Errorf("Choose(%q, %q) = %q, want %q", c.flag, c.kb, got, c.want)
		}
	}
}

// When the model a KB was embedded with is not here and the best model
// otherwise fails too, the error names the KB's model, not only the other.
func TestResolveForNamesTheKBsModel(t *testing.T) {
	ctx := context.Background()
	st := storeWithKBs(t, map[string]kefu.ModelID{"shop": "tiny-zh@7cdf13237986"})
	nowhere := models.ResolveOptions{SearchDirs: []string{t.TempDir()}, CacheDir: t.TempDir(), Offline: true}
	_, err := models.ResolveFor(ctx, st, "", "shop", nowhere)
	if kefu.ErrorCode(err) != kefu.ENOTFOUND || !strings.Contains(err.Error(), `"shop" was embedded with tiny-zh@7cdf13237986`) {
		t.Fatalf("ResolveFor with the KB's model missing: %v", err)
	}
	// With --model, or the KB's model here, nothing is added.
	_, err = models.ResolveFor(ctx, st, "tiny-en", "shop", nowhere)
	if err == nil || strings.Contains(err.Error(), "was embedded with") {
		t.Fatalf("ResolveFor with --model: %v", err)
	}
	spec, err := models.ResolveFor(ctx, st, "", "shop", sharedOnly(t))
	if err != nil || spec.Name != "tiny-zh" {
		t.Fatalf("ResolveFor with the KB's model here: %+v, %v", spec, err)
	}
}

// A KB records the model it was embedded with: a process with another model
// refuses to search it by vector, and re-embedding it (what `kefu serve` does
// at start) switches it to the new model without losing a chunk.
func TestKBModelSwitch(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	en := engine(t, "tiny-en")
	if _, err := models.EnsureKB(ctx, st, "kb", en, nil); err != nil {
		t.Fatal(err)
	}
	ups, _, err := ingest.Uploads([]string{testenv.Shared(t, "data/demo/help/faq.mdx")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&ingest.Service{Store: st, Embedder: en}).Ingest(ctx, "kb", ups, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Stats(ctx, "kb")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	zh := engine(t, "tiny-zh")
	r := &retrieve.Retriever{Index: st, KBs: st, Embedder: zh}
	q := kefu.Query{Text: "What is the default chunk size?", K: 3, Mode: kefu.ModeDense}
	if _, err := r.Retrieve(ctx, "kb", q); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Fatalf("vector search with another model: %v, want %s", err, kefu.EMODEL)
	}
	kb, err := models.EnsureKB(ctx, st, "kb", zh, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := st.Stats(ctx, "kb")
	stored, _ := st.KB(ctx, "kb")
	if kb.Model != zh.ModelID() || stored.Model != zh.ModelID() || after.Chunks != before.Chunks || after.Vectors != before.Vectors {
		t.Fatalf("after re-embedding: model %s (stored %s, want %s), stats %+v (before %+v)", kb.Model, stored.Model, zh.ModelID(), after, before)
	}
	res, err := r.Retrieve(ctx, "kb", q)
	if err != nil || len(res.Hits) == 0 {
		t.Fatalf("vector search after re-embedding: %v, %d hits", err, len(res.Hits))
	}
	// With the KB's own model nothing is re-embedded: the version stays.
	if err := models.SyncKB(ctx, st, stored, zh, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.KB(ctx, "kb"); again.Version != stored.Version {
		t.Errorf("a KB already on the model was re-embedded: version %d → %d", stored.Version, again.Version)
	}
}
