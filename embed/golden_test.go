package embed

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// goldenCase is one line of a shared model's golden.jsonl.
type goldenCase struct {
	ID           string    `json:"id"`
	Text         string    `json:"text"`
	Note         string    `json:"note"`
	MaxSeqLength int       `json:"max_seq_length"`
	InputIDs     []int     `json:"input_ids"`
	Embedding    []float64 `json:"embedding"`
}

func readGolden(t testing.TB, dir string) []goldenCase {
	t.Helper()
	var cases []goldenCase
	testenv.ReadJSONL(t, filepath.Join(dir, "golden.jsonl"), func(line []byte) error {
		var c goldenCase
		err := json.Unmarshal(line, &c)
		cases = append(cases, c)
		return err
	})
	if len(cases) == 0 {
		t.Fatalf("%s: empty golden file", dir)
	}
	return cases
}

// goldenModels lists every shared model folder that has a golden.jsonl.
func goldenModels(t testing.TB) []string {
	t.Helper()
	root := testenv.Shared(t, "models")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), "golden.jsonl")); e.IsDir() && err == nil {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) < 4 {
		t.Fatalf("expected the four shared models with golden files, found %v", dirs)
	}
	return dirs
}

// maxAbsDiff is the largest component difference between got and want.
func maxAbsDiff(got []float32, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var m float64
	for i := range got {
		m = max(m, math.Abs(float64(got[i])-want[i]))
	}
	return m
}
