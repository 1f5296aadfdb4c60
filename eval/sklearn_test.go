package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// sklearnScript reads qrels (JSON) and a TREC run file and prints, per
// query, nDCG@10 from sklearn.metrics.ndcg_score and average precision from
// sklearn.metrics.average_precision_score: an implementation of the metrics
// that shares nothing with ours.
const sklearnScript = `
import json, sys
import numpy as np
from sklearn.metrics import ndcg_score, average_precision_score
qrels = json.load(open(sys.argv[1]))
run = {}
for line in open(sys.argv[2]):
    q, _, doc, rank, score, _ = line.split()
    run.setdefault(q, []).append((doc, float(score)))
out = {}
for q, rels in qrels.items():
    if not any(g > 0 for g in rels.values()):
        continue
    ranked = run.get(q, [])
    docs = [d for d, _ in ranked]
    scores = [s for _, s in ranked]
    low = min(scores) if scores else 0.0
    # Relevant documents never retrieved rank below everything retrieved.
    for i, d in enumerate(sorted(d for d in rels if d not in docs)):
        docs.append(d); scores.append(low - 1 - i)
    y_true = np.array([[rels.get(d, 0) for d in docs]], dtype=float)
    y_score = np.array([scores])
    ndcg = ndcg_score(y_true, y_score, k=10) if len(docs) > 1 else (1.0 if y_true[0][0] > 0 else 0.0)
    ap = average_precision_score((y_true[0] > 0).astype(int), y_score[0])
    out[q] = {"ndcg@10": float(ndcg), "ap": float(ap)}
json.dump(out, sys.stdout)
`

// TestMetricsAgreeWithScikitLearn scores a TREC run over SciFact's real
// test judgements with QueryMetrics and with scikit-learn. The run ranks
// 100 documents per query with the relevant ones at random places, and, for
// one query in ten, leaves a relevant document out.
//
// Ties in the scores would let the two implementations order documents
// differently; the run's scores are strictly decreasing.
func TestMetricsAgreeWithScikitLearn(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import sklearn").Run(); err != nil {
		if os.Getenv("KEFU_REQUIRE_SHARED") == "1" {
			t.Fatalf("scikit-learn is missing (scripts/test-deps.sh installs python3-sklearn): %v", err)
		}
		t.Skip("scikit-learn is missing; run through make test")
	}
	qrels, err := LoadQrels(filepath.Join(testenv.Shared(t, "data/eval/scifact"), "qrels", "test.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 7))
	run := ScoredRun{}
	plain := Run{}
	for q, rels := range qrels {
		var relevant []string
		for d := range rels {
			relevant = append(relevant, d)
		}
		sort.Strings(relevant)
		keep := relevant
		if rng.IntN(10) == 0 && len(relevant) > 0 {
			keep = relevant[1:] // one relevant document is never retrieved
		}
		// Relevant documents land mostly near the top, as in a real run.
		var slots []int
		taken := map[int]bool{}
		for len(slots) < len(keep) {
			p := rng.IntN(100)
			if rng.IntN(10) < 7 {
				p = rng.IntN(12)
			}
			if !taken[p] {
				taken[p] = true
				slots = append(slots, p)
			}
		}
		ranked := make([]string, 100)
		for i, d := range keep {
			ranked[slots[i]] = d
		}
		for i := range ranked {
			if ranked[i] == "" {
				ranked[i] = fmt.Sprintf("n%s-%d", q, i)
			}
			run[q] = append(run[q], kefu.Scored{ChunkID: ranked[i], Score: float64(100 - i)})
		}
		plain[q] = ranked
	}
	dir := t.TempDir()
	runFile := filepath.Join(dir, "run.trec")
	f, err := os.Create(runFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTREC(f, run, "test"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	qb, _ := json.Marshal(qrels)
	os.WriteFile(filepath.Join(dir, "qrels.json"), qb, 0o644)
	os.WriteFile(filepath.Join(dir, "m.py"), []byte(sklearnScript), 0o644)
	out, err := exec.Command(python, filepath.Join(dir, "m.py"), filepath.Join(dir, "qrels.json"), runFile).Output()
	if err != nil {
		t.Fatalf("scikit-learn: %v", err)
	}
	var theirs map[string]map[string]float64
	if err := json.Unmarshal(out, &theirs); err != nil {
		t.Fatal(err)
	}
	mean, per := Evaluate(plain, qrels)
	if len(per) != len(theirs) || len(per) != 300 {
		t.Fatalf("%d queries here, %d in scikit-learn, want 300", len(per), len(theirs))
	}
	var sum float64
	apChecked := 0
	for q, m := range per {
		if d := math.Abs(m[MetricNDCG10] - theirs[q]["ndcg@10"]); d > 1e-9 {
			t.Errorf("%s: ndcg@10 %.6f, scikit-learn %.6f", q, m[MetricNDCG10], theirs[q]["ndcg@10"])
		}
		sum += theirs[q]["ndcg@10"]
		// With every relevant document in the first 100, MAP@100's average
		// precision is scikit-learn's.
		if m[MetricRecall100] == 1 {
			apChecked++
			if d := math.Abs(m[MetricMAP100] - theirs[q]["ap"]); d > 1e-9 {
				t.Errorf("%s: AP %.6f, scikit-learn %.6f", q, m[MetricMAP100], theirs[q]["ap"])
			}
		}
	}
	if math.Abs(sum/float64(len(theirs))-mean[MetricNDCG10]) > 1e-9 || apChecked < 250 {
		t.Errorf("mean ndcg@10 %.6f vs %.6f; %d queries' AP checked", mean[MetricNDCG10], sum/float64(len(theirs)), apChecked)
	}
	t.Logf("300 queries: ndcg@10 %.4f (both), AP compared on %d fully retrieved queries", mean[MetricNDCG10], apChecked)
}
