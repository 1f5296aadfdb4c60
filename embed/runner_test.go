package embed

import (
	"context"
	"math"
	"testing"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// The Runner, one padded batch on one session, computes the Engine's
// vectors: padding and batching change the work, not the embeddings.
func TestRunnerMatchesEngine(t *testing.T) {
	e := newEngine(t, "tiny-en", Options{Sessions: 2, BatchTokens: 64})
	r, err := NewRunner(sharedSpec(t, "tiny-en"), testenv.RequireORT(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	texts := scifactTexts(t, e.Tokenizer(), 24)
	want, err := e.EmbedPassages(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.EmbedBatch(texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		for j := range want[i] {
			if math.Abs(float64(got[i][j]-want[i][j])) > tolerance {
				t.Fatalf("text %d, component %d: runner %g, engine %g", i, j, got[i][j], want[i][j])
			}
		}
	}
}

// Plan cuts texts into batches within the token budget and the row limit,
// each text once, longest batches first.
func TestPlan(t *testing.T) {
	e := newEngine(t, "tiny-en", Options{Sessions: 1, BatchTokens: 100, MaxBatch: 4})
	lens := []int{30, 5, 50, 5, 12, 40, 7, 100, 9, 9}
	seen := map[int]bool{}
	prevLongest := math.MaxInt
	for _, b := range e.Plan(lens) {
		longest := 0
		for _, i := range b {
			if seen[i] {
				t.Fatalf("text %d planned twice", i)
			}
			seen[i] = true
			longest = max(longest, lens[i])
		}
		if len(b) > 4 || len(b) > 1 && len(b)*longest > 100 {
			t.Errorf("batch %v: %d rows × %d tokens", b, len(b), longest)
		}
		if longest > prevLongest {
			t.Errorf("batch %v is longer than the one before", b)
		}
		prevLongest = longest
	}
	if len(seen) != len(lens) {
		t.Errorf("%d of %d texts planned", len(seen), len(lens))
	}
}
