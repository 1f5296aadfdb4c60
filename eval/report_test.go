package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

func TestReportFilesAndJSONKeys(t *testing.T) {
	qrels := kefu.Qrels{"q1": {"a": 1}, "q2": {"b": 1}}
	run := Run{"q1": {"a", "x"}, "q2": {"x", "b"}}
	mean, per := Evaluate(run, qrels)
	conf := []float64{0.9, 0.3}
	cal := retrieve.Reliability(conf, []bool{true, false}, 0.85)
	cal.Source = "test"
	r := &Report{
		Dataset: "tiny", Split: "test", Queries: 2, Model: "m", K: 10,
		ModeOrder: []string{"bm25"}, Modes: map[string]map[string]float64{"bm25": mean},
		Curves: map[string][]float64{"bm25": RecallCurve(run, qrels)}, Calibration: &cal,
		Runs: map[string]ScoredRun{"bm25": {"q1": {{ChunkID: "a", Score: 2}, {ChunkID: "x", Score: 1}}}},
	}
	for q, m := range per {
		r.PerQuery = append(r.PerQuery, QueryRow{ID: q, Text: "text " + q, Metrics: m})
	}
	r.SortWorstFirst()
	if r.PerQuery[0].ID != "q2" {
		t.Errorf("worst query first: got %s", r.PerQuery[0].ID)
	}
	dir := t.TempDir()
	if err := r.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"summary.md", "summary.json", "run.bm25.trec", "per_query.tsv", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	trec, _ := os.ReadFile(filepath.Join(dir, "run.bm25.trec"))
	if string(trec) != "q1 Q0 a 1 2.000000 kefu-bm25\nq1 Q0 x 2 1.000000 kefu-bm25\n" {
		t.Errorf("TREC run:\n%s", trec)
	}
	var js map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	if js["modes.bm25.mrr@10"] != 0.75 || js["modes"].(map[string]any)["bm25"].(map[string]any)["mrr@10"] != 0.75 {
		t.Errorf("mrr keys: %v", js)
	}
	if js["calibration.precision@0.85"] != 1.0 || js["calibration.coverage@0.85"] != 0.5 {
		t.Errorf("calibration keys: %v %v", js["calibration.precision@0.85"], js["calibration.coverage@0.85"])
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), "<polyline") || !strings.Contains(string(html), "reliability diagram") {
		t.Error("report.html lacks its plots")
	}
	if c := RecallCurve(run, qrels); c[0] != 0.5 || c[1] != 1 || c[99] != 1 {
		t.Errorf("recall curve starts %v", c[:3])
	}
}

// AddCutoff reports recall@k and nDCG@k from the report's own runs, by
// hand: q1 ranks its relevant document first, q2 second.
func TestReportAddCutoff(t *testing.T) {
	set := &kefu.LabelledSet{Qrels: kefu.Qrels{"q1": {"a": 1}, "q2": {"b": 1}}}
	r := &Report{Modes: map[string]map[string]float64{"bm25": {MetricNDCG10: 0.8}}, Runs: map[string]ScoredRun{"bm25": {
		"q1": {{ChunkID: "a", Score: 2}, {ChunkID: "x", Score: 1}},
		"q2": {{ChunkID: "x", Score: 2}, {ChunkID: "b", Score: 1}},
	}}}
	r.AddCutoff(set, 1)
	if m := r.Modes["bm25"]; m["recall@1"] != 0.5 || m["ndcg@1"] != 0.5 {
		t.Errorf("@1: %v", m)
	}
	r.AddCutoff(set, 2)
	if m := r.Modes["bm25"]; m["recall@2"] != 1 || math.Abs(m["ndcg@2"]-(1+1/math.Log2(3))/2) > 1e-12 {
		t.Errorf("@2: %v", m)
	}
	r.AddCutoff(set, 10) // reported already: kept
	if m := r.Modes["bm25"]; m[MetricNDCG10] != 0.8 || m["recall@10"] != 0 {
		t.Errorf("@10 replaced: %v", m)
	}
}

// report.html's plots can be read on their own: axis titles, the
// threshold marked on the reliability diagram, and two modes with the same
// recall curve told apart by dash and marker and named so in the legend;
// the worst queries name what was ranked first as a reader knows it (an
// FAQ question), not by its chunk id.
func TestReportHTMLReadable(t *testing.T) {
	qrels := kefu.Qrels{"q1": {"a": 1}, "q2": {"b": 1}}
	run := Run{"q1": {"a", "x"}, "q2": {"x", "b"}}
	mean, per := Evaluate(run, qrels)
	curve := RecallCurve(run, qrels)
	cal := retrieve.Reliability([]float64{0.9, 0.3}, []bool{true, false}, 0.85)
	r := &Report{
		Dataset: "tiny", Split: "test", Queries: 2, Model: "m", K: 10,
		ModeOrder:   []string{"bm25", "dense", "hybrid"},
		Modes:       map[string]map[string]float64{"bm25": mean, "dense": mean, "hybrid": mean},
		Curves:      map[string][]float64{"bm25": curve, "dense": slices.Clone(curve), "hybrid": slices.Clone(curve)},
		Calibration: &cal,
	}
	faq := &kefu.Chunk{ID: "c8f3a91e0b", DocID: "shop_faq.csv", Questions: []string{"How long does a refund take?", "refund time"}}
	for q, m := range per {
		r.PerQuery = append(r.PerQuery, QueryRow{ID: q, Text: "text " + q, Metrics: m, Top: faq.ID, TopTitle: ChunkLabel(faq)})
	}
	var b strings.Builder
	if err := r.HTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{">k (rank cut-off)</text>", ">mean recall@k</text>", ">confidence</text>", ">share of queries answered right</text>",
		">threshold 0.85</text>", ">dense (same curve as bm25)</text>", ">hybrid (same curve as bm25)</text>", ">bm25</text>"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// The threshold line stands at 0.85 of the confidence axis.
	m := regexp.MustCompile(`<line class="threshold" x1="([0-9.]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no threshold line")
	}
	if x, _ := strconv.ParseFloat(m[1], 64); math.Abs(x-(58+300*0.85)) > 0.1 {
		t.Errorf("threshold line at x=%s, want %.1f", m[1], 58+300*0.85)
	}
	dashes := map[string]bool{}
	for _, m := range regexp.MustCompile(`<polyline data-mode="(\w+)"[^>]*stroke-dasharray="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		dashes[m[2]] = true
	}
	if len(dashes) != 3 {
		t.Errorf("the three curves have %d distinct dash patterns, want 3", len(dashes))
	}
	if !strings.Contains(html, "<circle") || !strings.Contains(html, "<polygon") || !strings.Contains(html, `<rect x="`) {
		t.Error("the curves lack distinct markers")
	}
	if !strings.Contains(html, ">How long does a refund take?</td>") || strings.Contains(html, ">c8f3a91e0b</td>") {
		t.Error("the worst queries do not name the FAQ entry ranked first")
	}
	// Passages are named by title and heading path.
	if got := ChunkLabel(&kefu.Chunk{DocID: "help/returns.md", Title: "Returns", Headings: []string{"Returns", "Refunds", "Timing"}}); got != "Returns › Refunds › Timing" {
		t.Errorf("passage label %q", got)
	}
	if got := ChunkLabel(&kefu.Chunk{DocID: "notes.txt"}); got != "notes.txt" {
		t.Errorf("untitled passage label %q", got)
	}
}
