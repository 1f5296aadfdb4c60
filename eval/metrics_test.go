package eval

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
)

func TestQueryMetricsHandComputed(t *testing.T) {
	rels := map[string]int{"d1": 2, "d2": 1, "d3": 1, "d9": 0}
	// d1 (grade 2) at rank 2, d2 (grade 1) at rank 4; d3 never retrieved.
	got := QueryMetrics([]string{"d4", "d1", "d5", "d2"}, rels)
	dcg := 2/math.Log2(3) + 1/math.Log2(5)
	idcg := 2/math.Log2(2) + 1/math.Log2(3) + 1/math.Log2(4)
	want := map[string]float64{
		MetricRecall1:   0,
		MetricRecall5:   2.0 / 3,
		MetricRecall10:  2.0 / 3,
		MetricRecall100: 2.0 / 3,
		MetricMRR10:     0.5,
		MetricNDCG10:    dcg / idcg, // 0.540586...
		MetricMAP100:    (1.0/2 + 2.0/4) / 3,
	}
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-12 {
			t.Errorf("%s = %.6f, want %.6f", k, got[k], w)
		}
	}
	if math.Abs(got[MetricNDCG10]-0.540586) > 1e-6 {
		t.Errorf("ndcg@10 = %.6f, hand value 0.540586", got[MetricNDCG10])
	}
}

func TestQueryMetricsCutoffsAndDuplicates(t *testing.T) {
	rels := map[string]int{"r": 1}
	ranked := make([]string, 0, 12)
	for i := 0; i < 10; i++ {
		ranked = append(ranked, "x"+string(rune('a'+i)))
	}
	ranked = append(ranked, "r") // rank 11: outside every @10 metric
	got := QueryMetrics(ranked, rels)
	if got[MetricRecall10] != 0 || got[MetricMRR10] != 0 || got[MetricNDCG10] != 0 || got[MetricRecall100] != 1 {
		t.Errorf("relevant at rank 11: %v", got)
	}
	if math.Abs(got[MetricMAP100]-1.0/11) > 1e-12 {
		t.Errorf("map@100 = %v, want 1/11", got[MetricMAP100])
	}
	// A duplicate keeps its first place only.
	got = QueryMetrics([]string{"a", "a", "r"}, rels)
	if got[MetricMRR10] != 0.5 {
		t.Errorf("with a duplicate, mrr = %v, want 0.5", got[MetricMRR10])
	}
	if len(QueryMetrics([]string{"a"}, map[string]int{"a": 0})) != 0 {
		t.Error("a query without relevant documents must be left out")
	}
}

func TestEvaluateAverages(t *testing.T) {
	qrels := kefu.Qrels{"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
	run := Run{"q1": {"a"}, "q2": {"x", "b"}}
	mean, per := Evaluate(run, qrels)
	if len(per) != 2 {
		t.Fatalf("%d queries evaluated, want 2 (q3 has no relevant document)", len(per))
	}
	if mean[MetricMRR10] != 0.75 || mean[MetricRecall1] != 0.5 {
		t.Errorf("mean = %v", mean)
	}
}

func TestLoadQrelsCRLFHeaderAndTREC(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "q.tsv")
	os.WriteFile(p, []byte("\ufeffquery-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td2\t2\r\n\r\nq2 0 d3 1\r\n"), 0o644)
	q, err := LoadQrels(p)
	if err != nil {
		t.Fatal(err)
	}
	if q["q1"]["d1"] != 1 || q["q1"]["d2"] != 2 || q["q2"]["d3"] != 1 || len(q) != 2 {
		t.Errorf("qrels %v", q)
	}
	os.WriteFile(p, []byte("query-id\tcorpus-id\tscore\nq1\td1\tx\n"), 0o644)
	if _, err := LoadQrels(p); err == nil {
		t.Error("a non-integer score after the header must be refused")
	}
}

func TestAtKAgreesWithQueryMetrics(t *testing.T) {
	qrels := kefu.Qrels{"q": {"d1": 2, "d2": 1, "d3": 1}}
	run := Run{"q": {"d4", "d1", "d5", "d2"}}
	m := QueryMetrics(run["q"], qrels["q"])
	r10, n10 := AtK(run, qrels, 10)
	if math.Abs(r10-m[MetricRecall10]) > 1e-12 || math.Abs(n10-m[MetricNDCG10]) > 1e-12 {
		t.Errorf("AtK(10) = %v, %v; QueryMetrics %v, %v", r10, n10, m[MetricRecall10], m[MetricNDCG10])
	}
	// @3: d1 at rank 2 only; ideal 2, 1, 1.
	r3, n3 := AtK(run, qrels, 3)
	if math.Abs(r3-1.0/3) > 1e-12 || math.Abs(n3-(2/math.Log2(3))/(2+1/math.Log2(3)+0.5)) > 1e-12 {
		t.Errorf("AtK(3) = %v, %v", r3, n3)
	}
}

// FuzzLoadQrels: any qrels file gives judgements or an error in the API's
// words, never a panic; every judgement it returns has a query and a
// document id.
func FuzzLoadQrels(f *testing.F) {
	f.Add([]byte("query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1 0 d2 2\n"))
	f.Add([]byte("\ufeffq\td\tx\n"))
	f.Add([]byte("q d"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "qrels.tsv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		q, err := LoadQrels(p)
		if err != nil {
			if kefu.ErrorCode(err) != kefu.EINVALID {
				t.Fatalf("error %v", err)
			}
			return
		}
		for qid, docs := range q {
			for doc := range docs {
				if qid == "" || doc == "" {
					t.Fatalf("judgement %q → %q", qid, doc)
				}
			}
		}
	})
}
