package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
)

// The progress of a real ingest job (40 files of different sizes into
// one embedding batch, as a small folder goes) moves in small steps and
// never back, where the files-finished count it replaced jumped from 0 to
// 100% at the batch's end; the ETA is the time so far scaled by the work
// left, and unknown rather than 0 at the start.
func TestIngestProgressSmooth(t *testing.T) {
	ctx := context.Background()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := hashEmbedder{}
	if err := st.CreateKB(ctx, &kefu.KB{Name: "docs", Model: e.ModelID(), Dim: hashDim, Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	var ups []kefu.Upload
	for i := range 40 {
		var b strings.Builder
		fmt.Fprintf(&b, "# Topic %d\n\n", i)
		for p := range 1 + i%7 {
			fmt.Fprintf(&b, "## Part %d\n\nParagraph %d of topic %d explains returns, refunds, parcels and invoices in words of its own: %s.\n\n", p, p, i, strings.Repeat("more detail ", 20+i))
		}
		data := []byte(b.String())
		ups = append(ups, kefu.Upload{Name: fmt.Sprintf("topic%02d.md", i), Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
	}
	// Batches of 16 texts stand in for the model's batches of 256 on a
	// larger folder: the same number of steps per batch, in a test's time.
	svc := &ingest.Service{Store: st, Embedder: e, BatchSize: 16}
	p, tracked := track(ups, time.Now())
	var fractions, finished []float64
	job, err := svc.Ingest(ctx, "docs", tracked, func(j kefu.Job) {
		fractions = append(fractions, p.fraction(j))
		finished = append(finished, float64(j.Done+j.Unchanged+len(j.Failed))/float64(j.Files))
	})
	if err != nil || job.Done != 40 {
		t.Fatalf("ingest: %v, %+v", err, job)
	}
	maxStep := func(xs []float64) (m float64) {
		for i := 1; i < len(xs); i++ {
			m = max(m, xs[i]-xs[i-1])
		}
		return m
	}
	for i := 1; i < len(fractions); i++ {
		if fractions[i] < fractions[i-1] {
			t.Fatalf("progress went back at update %d: %v", i, fractions)
		}
	}
	if fractions[len(fractions)-1] != 1 {
		t.Errorf("progress ended at %v", fractions[len(fractions)-1])
	}
	t.Logf("%d updates; largest step %.3f (files finished: %.3f)", len(fractions), maxStep(fractions), maxStep(finished))
	if s := maxStep(fractions); s > 0.12 {
		t.Errorf("progress jumped by %.2f at once over %d updates: %.2f", s, len(fractions), fractions)
	}
	if s := maxStep(finished); s < 0.9 {
		t.Logf("the files-finished count no longer jumps (%.2f): the batch is not one; this test proves less", s)
	}

	// ETA: 10 s for a quarter means 30 s more; nothing yet means unknown.
	q := &ingestProgress{start: time.Unix(1000, 0)}
	if left, ok := q.eta(time.Unix(1010, 0), 0.25); !ok || left != 30*time.Second {
		t.Errorf("ETA at a quarter after 10 s: %v %v", left, ok)
	}
	if _, ok := q.eta(time.Unix(1010, 0), 0); ok {
		t.Error("an ETA with nothing done")
	}
	start, _ := track([]kefu.Upload{{Name: "a.md", Size: 100}, {Name: "b.md", Size: 300}}, time.Unix(1000, 0))
	if d := start.describe(kefu.Job{Files: 2}, time.Unix(1010, 0)); !strings.HasSuffix(d, "ETA …") || strings.Contains(d, "ETA 0") {
		t.Errorf("at the start the bar says %q", d)
	}
	if got := fmtDuration(3*time.Minute + 20*time.Second + 400*time.Millisecond); got != "3m20s" {
		t.Errorf("fmtDuration: %q", got)
	}
}

// A job cut short by Ctrl-C is summed up in one line, not one per file
// left; real failures are still listed.
func TestJobSummaryInterrupted(t *testing.T) {
	j := &kefu.Job{KB: "docs", Done: 2, Failed: []kefu.Failure{
		{Source: "bad.pdf", Code: kefu.EUNSUPPORTED, Reason: "no text layer"},
	}}
	for i := range 50 {
		j.Failed = append(j.Failed, kefu.Failure{Source: fmt.Sprintf("f%02d.md", i), Code: kefu.ETIMEOUT, Reason: "not ingested: context canceled"})
	}
	j.Failed = append(j.Failed, kefu.Failure{Source: "mid.md", Code: kefu.EINTERNAL, Reason: "internal error"})
	var b strings.Builder
	printJobSummary(&b, j, true)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "1 failed") || lines[1] != "  failed bad.pdf: no text layer" ||
		!strings.HasPrefix(lines[2], "interrupted: 51 files not ingested") {
		t.Errorf("summary:\n%s", b.String())
	}
	b.Reset()
	printJobSummary(&b, j, false) // not interrupted: every failure is listed
	if n := strings.Count(b.String(), "\n  failed "); n != 52 {
		t.Errorf("%d failures listed, want 52", n)
	}
}
