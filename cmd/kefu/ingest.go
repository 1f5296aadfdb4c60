package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/models"
)

func runIngest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	var c common
	c.register(fs)
	kb := fs.String("kb", "", "knowledge base; created when missing (required)")
	docID := fs.String("id", "", "document id for a single file (default: its name)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu ingest --kb NAME [--id DOCID] PATH...")
		fs.PrintDefaults()
	}
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *kb == "":
		return missing(fs, "--kb is required: the knowledge base to add the files to")
	case len(paths) == 0:
		return missing(fs, "no file or folder given")
	case *docID != "" && len(paths) != 1:
		return missing(fs, "--id names one document: give one file with it, not %d paths", len(paths))
	}
	a, err := newApp(c)
	if err != nil {
		return err
	}
	defer a.close()
	e, err := a.embedder(ctx, *kb)
	if err != nil {
		return err
	}
	if _, err := models.EnsureKB(ctx, a.store, *kb, e, os.Stderr); err != nil {
		return err
	}
	uploads, skipped, err := ingest.Uploads(paths)
	if err != nil {
		return err
	}
	if *docID != "" && len(uploads) == 1 {
		uploads[0].DocID = *docID
	}
	for _, s := range skipped {
		fmt.Fprintf(os.Stderr, "skipped %s: %s\n", s.Source, s.Reason)
	}
	job, err := ingestWithProgress(ctx, a.ingester(e), *kb, uploads, os.Stderr)
	if err != nil {
		return err
	}
	if err := a.local.Flush(); err != nil {
		return err
	}
	printJobSummary(os.Stdout, job, ctx.Err() != nil)
	if len(job.Failed) > 0 && job.Done+job.Unchanged == 0 {
		return kefu.Errorf(kefu.EINVALID, "no file could be ingested")
	}
	return nil
}

// barSteps is the resolution of the ingest progress bar.
const barSteps = 1000

// ingestWithProgress runs an ingest job, drawing a progress bar on a
// terminal (see ingestProgress for what it measures).
func ingestWithProgress(ctx context.Context, svc *ingest.Service, kb string, ups []kefu.Upload, out *os.File) (*kefu.Job, error) {
	var bar *progressbar.ProgressBar
	if out != nil && term.IsTerminal(int(out.Fd())) {
		bar = newIngestBar(out)
	}
	p, ups := track(ups, time.Now())
	job, err := svc.Ingest(ctx, kb, ups, func(j kefu.Job) {
		if bar != nil {
			bar.Describe(p.describe(j, time.Now()))
			_ = bar.Set(int(barSteps * p.fraction(j)))
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	return job, err
}

// newIngestBar is a bar of barSteps steps whose description carries the
// files, texts and ETA; the library's own time prediction, from the rate
// of the last few updates, is off.
func newIngestBar(w io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions(barSteps,
		progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("ingesting"),
		progressbar.OptionSetPredictTime(false), progressbar.OptionSetElapsedTime(false),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}

// printJobSummary prints what a job did and each file that failed. Files
// left because the job was interrupted (Ctrl-C) are summed up in one line,
// not listed.
func printJobSummary(w io.Writer, j *kefu.Job, interrupted bool) {
	took := ""
	if j.FinishedAt != nil {
		took = fmt.Sprintf(" in %.1fs", j.FinishedAt.Sub(j.StartedAt).Seconds())
	}
	var failed, left []kefu.Failure
	for _, f := range j.Failed {
		if interrupted && isInterruption(f) {
			left = append(left, f)
		} else {
			failed = append(failed, f)
		}
	}
	fmt.Fprintf(w, "%s: %d documents indexed, %d unchanged, %d failed; %d chunks, %d embedded, %d reused%s\n",
		j.KB, j.Done, j.Unchanged, len(failed), j.Chunks, j.Embedded, j.Reused, took)
	for _, f := range failed {
		fmt.Fprintf(w, "  failed %s: %s\n", f.Source, f.Reason)
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "interrupted: %d files not ingested; run the same command again to finish (files already indexed are skipped as unchanged)\n", len(left))
	}
}

// isInterruption reports whether a file of a cancelled job failed for the
// cancellation: its reason says "context canceled" or "cancelled", or it
// is the bare internal error an unwrapped cancellation comes back as.
func isInterruption(f kefu.Failure) bool {
	return strings.Contains(f.Reason, context.Canceled.Error()) || strings.Contains(f.Reason, "cancelled") ||
		f.Code == kefu.EINTERNAL && f.Reason == kefu.ErrorMessage(context.Canceled)
}
