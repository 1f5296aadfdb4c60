package embed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

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

func embedOne(t *testing.T, e *Engine, query bool, text string) []float32 {
	t.Helper()
	f := e.EmbedPassages
	if query {
		f = e.EmbedQueries
	}
	v, err := f(context.Background(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func diff(a, b []float32) float64 {
	w := make([]float64, len(b))
	for i, x := range b {
		w[i] = float64(x)
	}
	return maxAbsDiff(a, w)
}

// TestConcurrentCallers: callers sharing the engine get the same vectors as
// one caller alone, whatever batches their texts landed in.
func TestConcurrentCallers(t *testing.T) {
	e := newEngine(t, "tiny-zh", Options{Sessions: 2, QueryWindow: time.Millisecond})
	texts := []string{"你好", "我的快递卡三天了", "怎么退款？订单号2023", "iPhone 15 Pro 保修多久", "请问什么时候发货？", strings.Repeat("退款", 80), ""}
	want := make([][]float32, len(texts))
	for i, s := range texts {
		want[i] = embedOne(t, e, false, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 5; round++ {
				i := (g + round) % len(texts)
				in := []string{texts[i]}
				if g%2 == 0 {
					in = append(in, texts...) // a bulk call beside single queries
				}
				f := e.EmbedPassages
				if g%4 == 1 {
					f = e.EmbedQueries // no prefix: queries equal passages
				}
				got, err := f(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				if len(got) != len(in) {
					errs <- fmt.Errorf("%d vectors for %d texts", len(got), len(in))
					return
				}
				if d := diff(got[0], want[i]); d > tolerance {
					errs <- fmt.Errorf("text %d: diff %g", i, d)
				}
				for j := 1; j < len(got); j++ {
					if d := diff(got[j], want[j-1]); d > tolerance {
						errs <- fmt.Errorf("bulk text %d: diff %g", j-1, d)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestQueryCoalescing: queries arriving within the window share one batch,
// and the query prefix is applied.
func TestQueryCoalescing(t *testing.T) {
	spec := sharedSpec(t, "tiny-en")
	spec.QueryPrefix = "query: "
	e, err := New(spec, Options{ORTLib: testenv.RequireORT(t), Sessions: 1, QueryWindow: time.Minute, MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want := embedOne(t, e, false, "query: where is my parcel") // passages get no prefix
	before := e.batches.Load()
	var wg sync.WaitGroup
	got := make([][]float32, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := e.EmbedQueries(context.Background(), []string{"where is my parcel"})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = v[0]
		}()
	}
	wg.Wait() // the eighth query fills the batch; the one-minute window never expires
	if n := e.batches.Load() - before; n != 1 {
		t.Errorf("8 concurrent queries ran in %d batches, want 1", n)
	}
	for i, v := range got {
		if d := diff(v, want); d > tolerance {
			t.Errorf("query %d: diff %g from the prefixed passage", i, d)
		}
	}
	// A lone query is flushed by its window.
	short, err := New(spec, Options{ORTLib: testenv.RequireORT(t), Sessions: 1, QueryWindow: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	if d := diff(embedOne(t, short, true, "where is my parcel"), want); d > tolerance {
		t.Errorf("lone query: diff %g", d)
	}
}

func TestCancelAndClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e, err := New(sharedSpec(t, "tiny-en"), Options{ORTLib: testenv.RequireORT(t), Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf("text number %d about refunds and parcels", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := e.EmbedPassages(ctx, many); kefu.ErrorCode(err) != kefu.ETIMEOUT {
		t.Errorf("deadline: got %v, want a timeout", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := e.EmbedQueries(cctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if v, err := e.EmbedPassages(context.Background(), []string{"still works"}); err != nil || len(v) != 1 || len(v[0]) != 64 {
		t.Errorf("after cancellations: %v %v", v, err)
	}
	if v, err := e.EmbedPassages(context.Background(), nil); err != nil || len(v) != 0 {
		t.Errorf("no texts: %v %v", v, err)
	}
	// Close while a bulk call is in flight: it returns (vectors or an error), nothing leaks.
	done := make(chan error, 1)
	go func() {
		_, err := e.EmbedPassages(context.Background(), many)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && kefu.ErrorCode(err) != kefu.EUNAVAILABLE {
		t.Errorf("in-flight call: %v", err)
	}
	if _, err := e.EmbedQueries(context.Background(), []string{"x"}); kefu.ErrorCode(err) != kefu.EUNAVAILABLE {
		t.Errorf("after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestEngineDescribes(t *testing.T) {
	e := newEngine(t, "tiny-en", Options{})
	if e.Model().Dim != 64 || !strings.HasPrefix(string(e.ModelID()), "tiny-en@e282d4cd00ca") || e.ModelID().Name() != "tiny-en" {
		t.Errorf("model %+v, id %s (README sha256 e282d4cd00ca…)", e.Model(), e.ModelID())
	}
	// The checksum in tiny-zh/README.md; a missing ONNX file is not found.
	spec := sharedSpec(t, "tiny-zh")
	if id, err := fileID(spec); err != nil || id != "tiny-zh@7cdf13237986" {
		t.Errorf("tiny-zh id %q %v", id, err)
	}
	spec.ONNXFile = "missing.onnx"
	if _, err := fileID(spec); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("missing ONNX file: %v", err)
	}
	if n := e.CountTokens("Hello, world!"); n != 4 {
		t.Errorf("CountTokens = %d, want 4 (hello , world !)", n)
	}
	var _ kefu.Embedder = e
}
