package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
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
	printJobSummary(os.Stdout, job)
	if len(job.Failed) > 0 && job.Done+job.Unchanged == 0 {
		return kefu.Errorf(kefu.EINVALID, "no file could be ingested")
	}
	return nil
}

// ingestWithProgress runs an ingest job, drawing a progress bar on a terminal.
func ingestWithProgress(ctx context.Context, svc *ingest.Service, kb string, ups []kefu.Upload, out *os.File) (*kefu.Job, error) {
	var bar *progressbar.ProgressBar
	if term.IsTerminal(int(out.Fd())) {
		bar = progressbar.NewOptions(len(ups),
			progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	job, err := svc.Ingest(ctx, kb, ups, func(j kefu.Job) {
		if bar != nil {
			bar.Describe(fmt.Sprintf("ingesting: %d chunks, %d embedded", j.Chunks, j.Embedded))
			bar.Set(j.Done + j.Unchanged + len(j.Failed))
		}
	})
	if bar != nil {
		bar.Finish()
	}
	return job, err
}

func printJobSummary(w io.Writer, j *kefu.Job) {
	took := ""
	if j.FinishedAt != nil {
		took = fmt.Sprintf(" in %.1fs", j.FinishedAt.Sub(j.StartedAt).Seconds())
	}
	fmt.Fprintf(w, "%s: %d documents indexed, %d unchanged, %d failed; %d chunks, %d embedded, %d reused%s\n",
		j.KB, j.Done, j.Unchanged, len(j.Failed), j.Chunks, j.Embedded, j.Reused, took)
	for _, f := range j.Failed {
		fmt.Fprintf(w, "  failed %s: %s\n", f.Source, f.Reason)
	}
}
