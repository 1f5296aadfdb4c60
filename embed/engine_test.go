package embed

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// sharedSpec describes a shared test model as models.Manifest does.
func sharedSpec(t testing.TB, name string) kefu.ModelSpec {
	t.Helper()
	dir := testenv.Model(t, name)
	spec := kefu.ModelSpec{Name: name, Dir: dir, ONNXFile: "model.onnx", Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 128}
	switch name {
	case "use-lite-en":
		spec.Pooling, spec.Output, spec.Normalize, spec.Dim = kefu.PoolOutput, "sentence_embedding", false, 512
	case "minilm-l6-shape":
		spec.MaxTokens, spec.Dim = 256, 384
	default:
		spec.Dim = 64
	}
	return spec
}

func newEngine(t testing.TB, name string, opts Options) *Engine {
	t.Helper()
	opts.ORTLib = testenv.RequireORT(t)
	e, err := New(sharedSpec(t, name), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

const tolerance = 1e-5

// TestEmbeddingGolden checks every shared model's embeddings against its
// golden file, one text per call and all texts as one padded batch.
func TestEmbeddingGolden(t *testing.T) {
	for _, dir := range goldenModels(t) {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cases := readGolden(t, dir)
			texts := make([]string, len(cases))
			for i, c := range cases {
				texts[i] = c.Text
			}
			ctx := context.Background()
			one := newEngine(t, name, Options{Sessions: 1, MaxBatch: 1})
			for i, c := range cases {
				v, err := one.EmbedPassages(ctx, texts[i:i+1])
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(v[0], c.Embedding); d > tolerance {
					t.Errorf("one by one: %q: max abs diff %.3g", c.Text, d)
				}
			}
			// One batch holding every input, padded to the longest.
			all := newEngine(t, name, Options{Sessions: 1, MaxBatch: len(texts), BatchTokens: 1 << 20})
			vs, err := all.EmbedPassages(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, c := range cases {
				d := maxAbsDiff(vs[i], c.Embedding)
				worst = max(worst, d)
				if d > tolerance {
					t.Errorf("one batch: %q: max abs diff %.3g", c.Text, d)
				}
			}
			t.Logf("%d cases; one batch worst diff %.2g", len(cases), worst)
		})
	}
}
