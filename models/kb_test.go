package models_test

import (
	"context"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// A KB records the model it was embedded with: a process with another model
// refuses to search it by vector, and re-embedding it (what `kefu serve` does
// at start) switches it to the new model without losing a chunk.
func TestKBModelSwitch(t *testing.T) {
	lib := testenv.RequireORT(t)
	t.Setenv("KEFU_SHARED", testenv.SharedDir())
	dir := t.TempDir()
	ctx := context.Background()
	open := func(model string) (*app, kefu.Embedder) {
		a, err := newApp(common{dataDir: dir, ortLib: lib, model: model, logLevel: "error"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := a.embedder(ctx, "kb")
		if err != nil {
			t.Fatal(err)
		}
		return a, e
	}
	a, e := open("tiny-en")
	if _, err := a.ensureKB(ctx, "kb", e, nil); err != nil {
		t.Fatal(err)
	}
	ups, _, err := collectUploads([]string{testenv.Shared(t, "data/demo/help/faq.mdx")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ingester(e).Ingest(ctx, "kb", ups, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := a.store.Stats(ctx, "kb")
	a.close()

	b, z := open("tiny-zh")
	defer b.close()
	q := kefu.Query{Text: "What is the default chunk size?", K: 3, Mode: kefu.ModeVector}
	if _, err := b.retriever(z).Retrieve(ctx, "kb", q); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Fatalf("vector search with another model: %v, want %s", err, kefu.EMODEL)
	}
	kb, _ := b.store.KB(ctx, "kb")
	if err := b.syncModel(ctx, kb, z, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := b.store.Stats(ctx, "kb")
	kb, _ = b.store.KB(ctx, "kb")
	if kb.Model != z.ModelID() || after.Chunks != before.Chunks || after.Vectors != before.Vectors {
		t.Fatalf("after re-embedding: model %s (want %s), stats %+v (before %+v)", kb.Model, z.ModelID(), after, before)
	}
	r, err := b.retriever(z).Retrieve(ctx, "kb", q)
	if err != nil || len(r.Hits) == 0 {
		t.Fatalf("vector search after re-embedding: %v, %d hits", err, len(r.Hits))
	}
}
