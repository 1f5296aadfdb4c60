package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kefu-dev/kefu"
)

// ingestProgress estimates how far an ingest job is and when it will end,
// for the CLI's progress bar. Reading and parsing the files weighs a tenth
// of the work (measured by the bytes of the files opened so far), embedding
// the rest (the texts embedded, of those the files read so far need,
// extrapolated to the files not read yet). The estimate never goes back,
// and the ETA is the time so far scaled by the work left.
type ingestProgress struct {
	total  int64        // bytes of every upload (one of unknown size counts 1)
	opened atomic.Int64 // bytes of the uploads opened so far
	start  time.Time
	shown  float64 // the largest fraction reported
}

// readWeight is the share of an ingest's work that reading and parsing
// the files takes; embedding takes the rest.
const readWeight = 0.1

// track returns the uploads wrapped to count the bytes opened, and the
// progress that counts them.
func track(ups []kefu.Upload, start time.Time) (*ingestProgress, []kefu.Upload) {
	p := &ingestProgress{start: start}
	out := make([]kefu.Upload, len(ups))
	for i, u := range ups {
		size := max(u.Size, 1)
		p.total += size
		open := u.Open
		u.Open = func() (io.ReadCloser, error) {
			p.opened.Add(size)
			return open()
		}
		out[i] = u
	}
	return p, out
}

// fraction returns the share of the job done, in [0, 1].
func (p *ingestProgress) fraction(j kefu.Job) float64 {
	if j.FinishedAt != nil {
		p.shown = 1
		return 1
	}
	read := 1.0
	if p.total > 0 {
		read = min(1, float64(p.opened.Load())/float64(p.total))
	}
	embedded := 0.0
	if j.Texts > 0 && read > 0 {
		embedded = min(1, float64(j.Embedded)/(float64(j.Texts)/read))
	}
	f := min(readWeight*read+(1-readWeight)*embedded, 0.999) // done only when the job says so
	p.shown = max(p.shown, f)
	return p.shown
}

// eta returns the time left at fraction f, false while too little has
// been done to tell.
func (p *ingestProgress) eta(now time.Time, f float64) (time.Duration, bool) {
	elapsed := now.Sub(p.start)
	if f < 0.01 || elapsed < time.Second {
		return 0, false
	}
	if f >= 1 {
		return 0, true
	}
	return time.Duration(float64(elapsed) * (1 - f) / f), true
}

// describe is the bar's text: files finished, texts embedded and the ETA.
func (p *ingestProgress) describe(j kefu.Job, now time.Time) string {
	f := p.fraction(j)
	eta := "ETA …"
	if left, ok := p.eta(now, f); ok {
		eta = "ETA " + fmtDuration(left)
	}
	return fmt.Sprintf("ingesting: %d/%d files, %d texts embedded, %s", j.Done+j.Unchanged+len(j.Failed), j.Files, j.Embedded, eta)
}

// fmtDuration rounds d for people: 45s, 3m20s, 1h05m.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
