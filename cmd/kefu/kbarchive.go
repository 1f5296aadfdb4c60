package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/archive"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

// exportKB writes KB name as an archive to out ("" or "-": standard
// output), crash-safely when out is a file.
func (a *app) exportKB(ctx context.Context, name, out string) error {
	var (
		sum *archive.Summary
		err error
	)
	if out == "" || out == "-" {
		if term.IsTerminal(int(os.Stdout.Fd())) {
			return kefu.Errorf(kefu.EINVALID, "an archive is binary: write it to a file with -o %s%s, or redirect standard output", name, archive.Ext)
		}
		sum, err = archive.Export(ctx, os.Stdout, a.store, name, archive.ExportOptions{})
		out = "standard output"
	} else {
		err = atomicfile.Write(out, 0o600, func(w io.Writer) (err error) {
			sum, err = archive.Export(ctx, w, a.store, name, archive.ExportOptions{})
			return err
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported %s to %s: %s; %s\n", name, out, countsLine(sum.ArchiveCounts), sizeLine(sum.Unpacked, sum.Bytes))
	return nil
}

// importKB reads the archive at path ("-": standard input) into a new KB.
// An archive embedded with another model than this kefu's is refused
// unless reembed.
func (a *app) importKB(ctx context.Context, path, as string, reembed bool) error {
	in := os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return kefu.Errorf(kefu.ENOTFOUND, "archive %s: %w", path, err)
		}
		defer f.Close()
		in = f
	}
	e, err := a.embedder(ctx, "")
	if err != nil {
		return err
	}
	opts := archive.ImportOptions{Name: as, Model: e.ModelID()}
	if reembed {
		opts.Reembed = e
	}
	res, err := archive.Import(ctx, a.store, in, opts)
	if err != nil {
		return err
	}
	if err := a.local.Flush(); err != nil {
		return err
	}
	how := ""
	if res.Reembedded {
		how = fmt.Sprintf(", re-embedded with %s", res.KB.Model)
	}
	fmt.Fprintf(os.Stderr, "imported %s from %s: %s%s\n", res.KB.Name, path, countsLine(res.Counts), how)
	return nil
}

func countsLine(c archive.Counts) string {
	return fmt.Sprintf("%d documents, %d chunks, %d vectors, %d source files (%s)", c.Documents, c.Chunks, c.Vectors, c.Sources, mib(c.SourceBytes))
}

func sizeLine(unpacked, packed int64) string {
	ratio := 0.0
	if packed > 0 {
		ratio = float64(unpacked) / float64(packed)
	}
	return fmt.Sprintf("%s, %s unpacked (%.1f×)", mib(packed), mib(unpacked), ratio)
}

// mib writes a size in bytes, KiB, MiB or GiB.
func mib(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}
