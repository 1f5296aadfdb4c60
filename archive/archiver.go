package archive

import (
	"context"
	"io"

	"github.com/kefu-dev/kefu"
)

// Archiver is kefu.Archiver on a store, for a deployment that embeds with
// Embedder: an archive made with another model is refused unless the
// request asks to re-embed it with Embedder.
type Archiver struct {
	Store    kefu.Store
	Embedder kefu.Embedder
}

var _ kefu.Archiver = Archiver{}

// ExportKB writes KB kb as an archive to w.
func (a Archiver) ExportKB(ctx context.Context, w io.Writer, kb string) (*kefu.ArchiveSummary, error) {
	return Export(ctx, w, a.Store, kb, ExportOptions{})
}

// ImportKB reads the archive r into a new KB.
func (a Archiver) ImportKB(ctx context.Context, r io.Reader, req kefu.ImportRequest) (*kefu.ImportResult, error) {
	opts := ImportOptions{Name: req.Name, Read: ReadOptions{MaxBytes: req.MaxBytes, MaxBytesName: req.MaxBytesName}}
	if a.Embedder != nil {
		opts.Model = a.Embedder.ModelID()
		if req.Reembed {
			opts.Reembed = a.Embedder
		}
	}
	return Import(ctx, a.Store, r, opts)
}
