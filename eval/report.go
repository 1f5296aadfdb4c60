package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/atomicfile"
	"github.com/kefu-dev/kefu/retrieve"
)

// ScoredRun is a ranking per query with scores, as written to TREC run files.
type ScoredRun map[string][]kefu.Scored

// QueryRow is one query's line in the per-query table.
type QueryRow struct {
	ID      string             `json:"id"`
	Text    string             `json:"text"`
	Metrics map[string]float64 `json:"metrics"` // of the last mode evaluated (hybrid with --mode all)
	Top     string             `json:"top"`     // doc id ranked first
	// TopTitle names the passage ranked first as a reader knows it: an FAQ
	// entry's question, else its document's title and heading path.
	TopTitle string  `json:"top_title,omitempty"`
	Conf     float64 `json:"confidence"`
}

// ChunkLabel names a chunk for a reader: an FAQ entry by its canonical
// question, a passage by its document's title (or id) and heading path.
func ChunkLabel(c *kefu.Chunk) string {
	if len(c.Questions) > 0 {
		return c.Questions[0]
	}
	title := c.Title
	if title == "" {
		title = c.DocID
	}
	hs := c.Headings
	if len(hs) > 0 && hs[0] == title { // the page's own title as its first heading
		hs = hs[1:]
	}
	return strings.Join(append([]string{title}, hs...), " › ")
}

// TuneSummary reports what `--tune` chose and its effect on the evaluated split.
type TuneSummary struct {
	Before        kefu.Fusion        `json:"before"`
	After         kefu.Fusion        `json:"after"`
	BeforeMetrics map[string]float64 `json:"before_metrics"`
	AfterMetrics  map[string]float64 `json:"after_metrics"`
	TunedOn       string             `json:"tuned_on"`
	Grid          []TuneResult       `json:"grid,omitempty"`
}

// Report is everything `kefu eval` measured.
type Report struct {
	Dataset     string                        `json:"dataset"`
	Split       string                        `json:"split"`
	Queries     int                           `json:"queries"`
	Model       kefu.ModelID                  `json:"model"`
	K           int                           `json:"k"`
	ModeOrder   []string                      `json:"-"`
	Modes       map[string]map[string]float64 `json:"modes"`
	Curves      map[string][]float64          `json:"-"` // recall@1..100 per mode
	Calibration *retrieve.CalibrationReport   `json:"-"`
	Tuning      *TuneSummary                  `json:"tuning,omitempty"`
	PerQuery    []QueryRow                    `json:"-"`
	Runs        map[string]ScoredRun          `json:"-"`
	Notes       []string                      `json:"notes,omitempty"`
	// Answers is the answer-level evaluation, when one was run.
	Answers *AnswerReport `json:"answers,omitempty"`
}

// MarshalJSON writes the nested report and, for tools that want one level,
// the same figures under flat keys: "modes.bm25.ndcg@10",
// "calibration.ece", "calibration.precision@0.85"…
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	m := map[string]any{}
	b, err := json.Marshal((*plain)(r))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for mode, metrics := range r.Modes {
		for k, v := range metrics {
			m["modes."+mode+"."+k] = v
		}
	}
	if c := r.Calibration; c != nil {
		t := fmt.Sprintf("%g", c.Threshold)
		var precision any = c.Precision
		if c.Confident == 0 {
			precision = nil // no query reached the threshold: undefined, not 0
		}
		cal := map[string]any{
			"ece": c.ECE, "precision@" + t: precision, "coverage@" + t: c.Coverage,
			"confident": c.Confident, "queries": c.Queries, "source": c.Source, "bins": c.Bins,
			"threshold": c.Threshold, "precision": precision, "coverage": c.Coverage,
		}
		m["calibration"] = cal
		for _, k := range []string{"ece", "precision@" + t, "coverage@" + t} {
			m["calibration."+k] = cal[k]
		}
	}
	return json.Marshal(m)
}

// RecallCurve is mean recall@k for k = 1..100.
func RecallCurve(run Run, qrels kefu.Qrels) []float64 {
	curve := make([]float64, 100)
	n := 0
	for q, rels := range qrels {
		nrel := 0
		for _, g := range rels {
			if g > 0 {
				nrel++
			}
		}
		if nrel == 0 {
			continue
		}
		n++
		found := 0
		ranked := run[q]
		for k := 1; k <= 100; k++ {
			if k <= len(ranked) && rels[ranked[k-1]] > 0 {
				found++
			}
			curve[k-1] += float64(found) / float64(nrel)
		}
	}
	for i := range curve {
		if n > 0 {
			curve[i] /= float64(n)
		}
	}
	return curve
}

// WriteTREC writes a run in TREC format: "qid Q0 docid rank score tag".
func WriteTREC(w io.Writer, run ScoredRun, tag string) error {
	bw := bufio.NewWriter(w)
	qs := make([]string, 0, len(run))
	for q := range run {
		qs = append(qs, q)
	}
	sort.Strings(qs)
	for _, q := range qs {
		for i, s := range run[q] {
			fmt.Fprintf(bw, "%s Q0 %s %d %.6f %s\n", q, s.ChunkID, i+1, s.Score, tag)
		}
	}
	return bw.Flush()
}

// Markdown renders the summary table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Retrieval evaluation: %s (%s split, %d queries)\n\nModel: `%s`\n\n", r.Dataset, r.Split, r.Queries, r.Model)
	b.WriteString("| mode |")
	for _, m := range MetricNames {
		b.WriteString(" " + m + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(MetricNames)) + "\n")
	for _, mode := range r.ModeOrder {
		fmt.Fprintf(&b, "| %s |", mode)
		for _, m := range MetricNames {
			fmt.Fprintf(&b, " %.4f |", r.Modes[mode][m])
		}
		b.WriteString("\n")
	}
	if t := r.Tuning; t != nil {
		fmt.Fprintf(&b, "\n## Fusion tuning (on %s)\n\nbefore: %s, nDCG@10 %.4f\nafter: %s, nDCG@10 %.4f\n",
			t.TunedOn, Label(t.Before), t.BeforeMetrics[MetricNDCG10], Label(t.After), t.AfterMetrics[MetricNDCG10])
	}
	if c := r.Calibration; c != nil {
		fmt.Fprintf(&b, "\n## Confidence calibration (%s)\n\nECE %.4f; at threshold %.2f: precision %s, coverage %.4f (%d of %d queries)\n\n| bin | queries | mean confidence | share relevant |\n|---|---:|---:|---:|\n",
			c.Source, c.ECE, c.Threshold, c.PrecisionText(), c.Coverage, c.Confident, c.Queries)
		for _, bin := range c.Bins {
			fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f |\n", bin.Range, bin.Count, bin.Confidence, bin.Accuracy)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n> %s\n", n)
	}
	if r.Answers != nil {
		b.WriteString("\n" + strings.Replace(r.Answers.Markdown(), "# ", "## ", 1))
	}
	return b.String()
}

// Files renders the report's files by name: summary.md, summary.json
// (kefu.ReportSummary), run.<mode>.trec per mode, per_query.tsv (worst
// first) and report.html (kefu.ReportHTML). A kefu.ReportStore keeps them
// as a KB's latest report; WriteDir writes them to a folder.
func (r *Report) Files() (map[string][]byte, error) {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"summary.md": []byte(r.Markdown()), kefu.ReportSummary: append(js, '\n')}
	for mode, run := range r.Runs {
		var b bytes.Buffer
		if err := WriteTREC(&b, run, "kefu-"+mode); err != nil {
			return nil, err
		}
		files["run."+mode+".trec"] = b.Bytes()
	}
	var pq strings.Builder
	pq.WriteString("query_id\tndcg@10\trecall@10\tmrr@10\tconfidence\ttop_doc\tquery\n")
	for _, row := range r.PerQuery {
		fmt.Fprintf(&pq, "%s\t%.4f\t%.4f\t%.4f\t%.3f\t%s\t%s\n", row.ID, row.Metrics[MetricNDCG10], row.Metrics[MetricRecall10],
			row.Metrics[MetricMRR10], row.Conf, row.Top, strings.ReplaceAll(row.Text, "\t", " "))
	}
	files["per_query.tsv"] = []byte(pq.String())
	if r.Answers != nil {
		var at strings.Builder
		at.WriteString("id\tlang\tkind\troute\tconfidence\tright\tcited\texpected\tquestion\n")
		for _, a := range r.Answers.Rows {
			exp := strings.Join(a.Expected, " | ")
			switch {
			case a.Handoff:
				exp = "(hand-off) " + exp
			case a.None:
				exp = "(none)"
			}
			fmt.Fprintf(&at, "%s\t%s\t%s\t%s\t%.3f\t%v\t%s\t%s\t%s\n", a.ID, a.Lang, a.Kind, a.Route, a.Confidence, a.Right,
				strings.ReplaceAll(a.Cited, "\t", " "), strings.ReplaceAll(exp, "\t", " "), strings.ReplaceAll(a.Question, "\t", " "))
		}
		files["answers.tsv"] = []byte(at.String())
	}
	var html bytes.Buffer
	if err := r.HTML(&html); err != nil {
		return nil, err
	}
	files[kefu.ReportHTML] = html.Bytes()
	return files, nil
}

// WriteDir writes the report's Files into dir (`kefu eval --out`), each
// crash-safely.
func (r *Report) WriteDir(dir string) error {
	files, err := r.Files()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// AddCutoff adds recall@k and nDCG@k of set's judgements to every mode's
// metrics, unless k is among the reported cutoffs.
func (r *Report) AddCutoff(set *kefu.LabelledSet, k int) {
	rk, nk := fmt.Sprintf("recall@%d", k), fmt.Sprintf("ndcg@%d", k)
	for mode, scored := range r.Runs {
		if _, ok := r.Modes[mode][nk]; ok {
			continue
		}
		run := Run{}
		for q, hits := range scored {
			for _, s := range hits {
				run[q] = append(run[q], s.ChunkID)
			}
		}
		recall, ndcg := AtK(run, set.Qrels, k)
		r.Modes[mode][rk], r.Modes[mode][nk] = recall, ndcg
	}
}

// SortWorstFirst orders the per-query rows by nDCG@10, lowest first.
func (r *Report) SortWorstFirst() {
	sort.SliceStable(r.PerQuery, func(i, j int) bool {
		a, b := r.PerQuery[i].Metrics[MetricNDCG10], r.PerQuery[j].Metrics[MetricNDCG10]
		if a != b {
			return a < b
		}
		return r.PerQuery[i].ID < r.PerQuery[j].ID
	})
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// dashes and markers tell curves apart where they coincide or colours do
// not show (print, colour blindness): each mode gets its own of each.
var (
	dashes  = []string{"none", "9 5", "2 4", "12 4 3 4", "5 3"}
	markers = []string{"circle", "square", "triangle", "diamond", "cross"}
)

// marker draws shape i centred on (x, y).
func marker(b *strings.Builder, i int, x, y float64, col string) {
	const r = 4.0
	switch markers[i%len(markers)] {
	case "circle":
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="none" stroke="%s" stroke-width="1.5"/>`, x, y, r, col)
	case "square":
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%g" height="%g" fill="none" stroke="%s" stroke-width="1.5"/>`, x-r, y-r, 2*r, 2*r, col)
	case "triangle":
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" stroke-width="1.5"/>`, x, y-r-1, x-r-1, y+r, x+r+1, y+r, col)
	case "diamond":
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>`, x, y-r-1, x+r+1, y, x, y+r+1, x-r-1, y, col)
	default:
		fmt.Fprintf(b, `<path d="M%.1f %.1fl%g %gM%.1f %.1fl%g %g" stroke="%s" stroke-width="2"/>`, x-r, y-r, 2*r, 2*r, x-r, y+r, 2*r, -2*r, col)
	}
}

// markedRanks are the k at which the recall curves carry their markers.
var markedRanks = []int{1, 5, 10, 20, 50, 100}

// curveSVG draws recall@k for k=1..100 per mode, with axis titles and a
// legend; each mode has its own colour, dash and marker, and a curve equal
// to an earlier one says so in the legend.
func (r *Report) curveSVG() template.HTML {
	const w, h = 600.0, 340.0
	const left, right, top, bottom = 58.0, 16.0, 14.0, 46.0
	pw, ph := w-left-right, h-top-bottom
	xOf := func(k int) float64 { return left + pw*float64(k-1)/99 }
	yOf := func(v float64) float64 { return top + ph*(1-v) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="recall at k per search mode">`, w, h, w, h)
	for i := 0; i <= 4; i++ {
		v := float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%g" y="%.1f" font-size="11" text-anchor="end">%.2f</text>`, left, left+pw, yOf(v), yOf(v), left-6, yOf(v)+4, v)
	}
	for _, k := range []int{1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100} {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#999"/><text x="%.1f" y="%g" font-size="11" text-anchor="middle">%d</text>`, xOf(k), xOf(k), top+ph, top+ph+4, xOf(k), top+ph+16, k)
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text class="axis-title" x="%g" y="%g" font-size="12" text-anchor="middle">k (rank cut-off)</text>`, left+pw/2, h-6)
	fmt.Fprintf(&b, `<text class="axis-title" x="14" y="%g" font-size="12" text-anchor="middle" transform="rotate(-90 14 %g)">mean recall@k</text>`, top+ph/2, top+ph/2)
	var legend []string
	drawn := 0
	for i, mode := range r.ModeOrder {
		c := r.Curves[mode]
		if len(c) == 0 {
			continue
		}
		col, dash := palette[i%len(palette)], dashes[i%len(dashes)]
		var pts []string
		for k, v := range c {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(k+1), yOf(v)))
		}
		fmt.Fprintf(&b, `<polyline data-mode="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`, template.HTMLEscapeString(mode), col, dash, strings.Join(pts, " "))
		for _, k := range markedRanks {
			if k <= len(c) {
				marker(&b, i, xOf(k), yOf(c[k-1]), col)
			}
		}
		label := mode
		for _, earlier := range r.ModeOrder[:i] {
			if slices.Equal(r.Curves[earlier], c) {
				label += " (same curve as " + earlier + ")"
				break
			}
		}
		// The legend sits in the lower right, where recall curves, which
		// rise from the left, leave room.
		ly := top + ph - 14 - 18*float64(len(r.ModeOrder)-1-drawn)
		lx := left + pw*0.45
		var lb strings.Builder
		fmt.Fprintf(&lb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, lx, lx+36, ly, ly, col, dash)
		marker(&lb, i, lx+18, ly, col)
		fmt.Fprintf(&lb, `<text class="legend" x="%.1f" y="%.1f" font-size="12">%s</text>`, lx+44, ly+4, template.HTMLEscapeString(label))
		legend = append(legend, lb.String())
		drawn++
	}
	for _, l := range legend {
		b.WriteString(l)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// reliabilitySVG draws the reliability diagram: share relevant per
// confidence bin (bars) and the bin's mean confidence (dots) against the
// diagonal of perfect calibration, with the answer threshold marked.
func (r *Report) reliabilitySVG() template.HTML {
	if r.Calibration == nil {
		return ""
	}
	const w, h = 420.0, 380.0
	const left, top, in = 58.0, 14.0, 300.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="reliability diagram">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`, left, top, in, in)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#bbb" stroke-dasharray="4"/>`, left, top+in, left+in, top)
	for _, bin := range r.Calibration.Bins {
		if bin.Count == 0 {
			continue
		}
		x := left + in*bin.Lo
		bh := in * bin.Accuracy
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1f77b4" opacity="0.7"><title>%s: %d queries, confidence %.2f, relevant %.2f</title></rect>`,
			x+1, top+in-bh, in/10-2, bh, bin.Range, bin.Count, bin.Confidence, bin.Accuracy)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#d62728"/>`, left+in*bin.Confidence, top+in*(1-bin.Accuracy))
	}
	if t := r.Calibration.Threshold; t > 0 && t <= 1 {
		x := left + in*t
		fmt.Fprintf(&b, `<line class="threshold" x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#2ca02c" stroke-width="2" stroke-dasharray="6 3"/>`, x, x, top, top+in)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="end" fill="#2ca02c">threshold %.2f</text>`, x-4, top+12, t)
	}
	for i := 0; i <= 4; i++ {
		v := float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="10" text-anchor="middle">%.2f</text>`, left+in*v, top+in+14, v)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="10" text-anchor="end">%.2f</text>`, left-6, top+in*(1-v)+3, v)
	}
	fmt.Fprintf(&b, `<text class="axis-title" x="%g" y="%g" font-size="12" text-anchor="middle">confidence</text>`, left+in/2, top+in+32)
	fmt.Fprintf(&b, `<text class="axis-title" x="14" y="%g" font-size="12" text-anchor="middle" transform="rotate(-90 14 %g)">share of queries answered right</text>`, top+in/2, top+in/2)
	ly := top + in + 52
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="10" fill="#1f77b4" opacity="0.7"/><text class="legend" x="%g" y="%g" font-size="11">share right per bin</text>`, left, ly-9, left+16, ly)
	fmt.Fprintf(&b, `<circle cx="%g" cy="%g" r="3" fill="#d62728"/><text class="legend" x="%g" y="%g" font-size="11">mean confidence</text>`, left+140, ly-4, left+148, ly)
	fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#bbb" stroke-dasharray="4"/><text class="legend" x="%g" y="%g" font-size="11">perfect calibration</text>`, left+240, left+258, ly-4, ly-4, left+262, ly)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f4":     func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"metric": func(m map[string]float64, k string) string { return fmt.Sprintf("%.4f", m[k]) },
	"label":  Label,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kefu eval: {{.R.Dataset}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.q{text-align:left;max-width:520px}</style>
</head><body>
<h1>Retrieval evaluation: {{.R.Dataset}}</h1>
<p>{{.R.Split}} split, {{.R.Queries}} queries, model <code>{{.R.Model}}</code></p>
<table><tr><th>mode</th>{{range .Metrics}}<th>{{.}}</th>{{end}}</tr>
{{range $m := .R.ModeOrder}}<tr><td>{{$m}}</td>{{range $.Metrics}}<td>{{metric (index $.R.Modes $m) .}}</td>{{end}}</tr>{{end}}</table>
<h2>Recall@k</h2><p>The share of each query's relevant documents found in the first k results, averaged over the queries, per search mode.</p>{{.Curve}}
{{with .R.Tuning}}<h2>Fusion tuning</h2><p>Tuned on {{.TunedOn}}: {{label .Before}} → {{label .After}}; nDCG@10 {{metric .BeforeMetrics "ndcg@10"}} → {{metric .AfterMetrics "ndcg@10"}} on the evaluated split.</p>{{end}}
{{with .R.Calibration}}<h2>Confidence calibration</h2>
<p>{{.Source}}. ECE {{f4 .ECE}}. At threshold {{.Threshold}}: precision {{.PrecisionText}}, coverage {{f4 .Coverage}} ({{.Confident}} of {{.Queries}} queries).</p>
<p>Queries binned by the confidence of their first result: a calibrated confidence has each bar as high as its dot is far right. Answers at or above the threshold are given plainly.</p>{{$.Reliability}}
<table><tr><th>confidence</th><th>queries</th><th>mean confidence</th><th>share relevant</th></tr>{{range .Bins}}<tr><td>{{.Range}}</td><td>{{.Count}}</td><td>{{f4 .Confidence}}</td><td>{{f4 .Accuracy}}</td></tr>{{end}}</table>{{end}}
<h2>Worst queries</h2>
<table><tr><th class="q">query</th><th>nDCG@10</th><th>recall@10</th><th>confidence</th><th class="q">ranked first</th></tr>
{{range .Worst}}<tr><td class="q" title="{{.ID}}">{{.Text}}</td><td>{{metric .Metrics "ndcg@10"}}</td><td>{{metric .Metrics "recall@10"}}</td><td>{{f4 .Conf}}</td><td class="q" title="{{.Top}}">{{if .TopTitle}}{{.TopTitle}}{{else}}{{.Top}}{{end}}</td></tr>{{end}}</table>
{{range .R.Notes}}<p><em>{{.}}</em></p>{{end}}
</body></html>`))

// HTML writes report.html: the table, the recall@k curves, the reliability
// diagram and the worst queries; it needs nothing but a browser.
func (r *Report) HTML(w io.Writer) error {
	worst := r.PerQuery
	if len(worst) > 50 {
		worst = worst[:50]
	}
	return reportTmpl.Execute(w, map[string]any{
		"R": r, "Metrics": MetricNames, "Curve": r.curveSVG(), "Reliability": r.reliabilitySVG(), "Worst": worst,
	})
}
