package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kefu-dev/kefu"
)

// Limits bound what one uploaded file may cost. Every refusal is a
// *kefu.Error whose message names the file and the limit.
type Limits struct {
	MaxFileBytes         int64         // bytes of one uploaded file (max_file_bytes)
	MaxDecompressedBytes int64         // bytes unpacked from one file: ZIP members, DOCX/XLSX parts, PDF streams (max_decompressed_bytes)
	MaxPages             int           // pages of a PDF (max_pages)
	MaxRows              int           // rows of a sheet, records of a JSON file (max_rows)
	MaxZipEntries        int           // entries of an archive, nested ones included (max_zip_entries)
	MaxZipDepth          int           // archives inside archives: 1 is a ZIP of plain files (max_zip_depth)
	MaxFieldBytes        int           // bytes of one CSV/XLSX cell or JSON text field (max_field_bytes)
	MaxBlocks            int           // blocks (paragraphs, rows, items) of one document (max_blocks)
	MaxPageContentBytes  int64         // unpacked drawing instructions of one PDF page (max_page_content_bytes)
	MaxTime              time.Duration // parsing, chunking and embedding one file (--max-file-time)
}

// DefaultLimits returns limits fit for a support team's documents.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:         64 << 20,
		MaxDecompressedBytes: 256 << 20,
		MaxPages:             2000,
		MaxRows:              100000,
		MaxZipEntries:        10000,
		MaxZipDepth:          2,
		MaxFieldBytes:        1 << 20,
		MaxBlocks:            200000,
		MaxPageContentBytes:  8 << 20,
		MaxTime:              2 * time.Minute,
	}
}

// withDefaults fills zero fields with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	orDefault(&l.MaxFileBytes, d.MaxFileBytes)
	orDefault(&l.MaxDecompressedBytes, d.MaxDecompressedBytes)
	orDefault(&l.MaxPages, d.MaxPages)
	orDefault(&l.MaxRows, d.MaxRows)
	orDefault(&l.MaxZipEntries, d.MaxZipEntries)
	orDefault(&l.MaxZipDepth, d.MaxZipDepth)
	orDefault(&l.MaxFieldBytes, d.MaxFieldBytes)
	orDefault(&l.MaxBlocks, d.MaxBlocks)
	orDefault(&l.MaxPageContentBytes, d.MaxPageContentBytes)
	orDefault(&l.MaxTime, d.MaxTime)
	return l
}

func orDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// tooLarge is the refusal of a file that hit a limit, e.g.
// "shop.xlsx: more than 100000 rows (limit max_rows)".
func tooLarge(name, limit, format string, args ...any) *kefu.Error {
	return kefu.Errorf(kefu.ETOOLARGE, "%s: %s (limit %s)", name, fmt.Sprintf(format, args...), limit)
}

func invalid(name, format string, args ...any) *kefu.Error {
	return kefu.Errorf(kefu.EINVALID, "%s: %s", name, fmt.Sprintf(format, args...))
}

func unsupported(name, format string, args ...any) *kefu.Error {
	return kefu.Errorf(kefu.EUNSUPPORTED, "%s: %s", name, fmt.Sprintf(format, args...))
}

// errMaxTime is the cause of the context of a file that ran out of time.
var errMaxTime = errors.New("max_time")

// maxTimeErr is the refusal of a file that took longer than MaxTime to
// parse, chunk and embed; it names the flag that sets it.
func maxTimeErr(name string, lim Limits) *kefu.Error {
	return tooLarge(name, "--max-file-time", "took longer than %s", lim.MaxTime)
}

// ctxErr turns a finished context into the refusal of the file it was
// parsing, or returns nil while the context is live.
func ctxErr(ctx context.Context, name string, lim Limits) error {
	if ctx.Err() == nil {
		return nil
	}
	if context.Cause(ctx) == errMaxTime {
		return maxTimeErr(name, lim)
	}
	return kefu.Errorf(kefu.ETIMEOUT, "%s: %w", name, ctx.Err())
}

// budget counts the bytes unpacked from one upload against
// MaxDecompressedBytes; archives and their members share it.
type budget struct {
	left int64
}

// take reserves n bytes, reporting false when the budget is exhausted.
func (b *budget) take(n int64) bool {
	if n < 0 || n > b.left {
		b.left = -1
		return false
	}
	b.left -= n
	return true
}
