package kefu

import (
	"context"
	"io"
)

// Archiver moves whole KBs out of a store and into one as archives (.kefu
// files: package archive), for backups and migrations between
// deployments and backends.
type Archiver interface {
	// ExportKB writes KB kb as an archive to w, streaming.
	ExportKB(ctx context.Context, w io.Writer, kb string) (*ArchiveSummary, error)
	// ImportKB reads an archive from r into a new KB, all or nothing.
	ImportKB(ctx context.Context, r io.Reader, req ImportRequest) (*ImportResult, error)
}

// ArchiveCounts say what a KB archive holds.
type ArchiveCounts struct {
	Batches     int   `json:"batches"`
	Documents   int   `json:"documents"`
	Chunks      int   `json:"chunks"`
	Vectors     int   `json:"vectors"`
	Sources     int   `json:"sources"`
	SourceBytes int64 `json:"source_bytes"`
	Reports     int   `json:"reports"` // evaluation report files
}

// ArchiveSummary is what an export wrote.
type ArchiveSummary struct {
	ArchiveCounts
	Unpacked int64 `json:"unpacked_bytes"` // the archive's content, uncompressed
	Bytes    int64 `json:"bytes"`          // the archive as written
}

// ImportRequest says how to import an archive.
type ImportRequest struct {
	Name string // the new KB's name; "" is the archived one's
	// Reembed embeds an archive made with another model than the
	// deployment's again with its model; without it such an archive is
	// refused (EMODEL).
	Reembed bool
	// MaxBytes bounds the archive's content, uncompressed (0: the
	// archiver's default); MaxBytesName is what sets it, for errors.
	MaxBytes     int64
	MaxBytesName string
}

// ImportResult is what an import did.
type ImportResult struct {
	KB         *KB           `json:"kb"`
	Counts     ArchiveCounts `json:"counts"`
	Unpacked   int64         `json:"unpacked_bytes"`
	Reembedded bool          `json:"reembedded"` // its vectors were replaced by the deployment's model's
	// SkippedSources and SkippedReports count files the store could not
	// keep (it is no SourceStore, no ReportStore).
	SkippedSources int `json:"skipped_sources,omitempty"`
	SkippedReports int `json:"skipped_reports,omitempty"`
}
