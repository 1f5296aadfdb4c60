package archive

import (
	"fmt"
	"time"

	"github.com/kefu-dev/kefu"
)

// The archive format this package writes, and the newest it reads.
const (
	Format  = "kefu-kb-archive"
	Version = 1
	// Ext is the file extension of an archive.
	Ext = ".kefu"
)

// Entry names.
const (
	sumsName     = "SHA256SUMS"
	manifestName = "manifest.json"
	endName      = "end.json"
	docsName     = "documents.jsonl"
	vectorsName  = "vectors.f32"
	reportsDir   = "reports/"
)

func batchDir(n int) string      { return fmt.Sprintf("batch-%06d/", n) }
func sourceName(i int) string    { return fmt.Sprintf("source-%06d", i) }
func reportFiles() []string      { return []string{kefu.ReportSummary, kefu.ReportHTML} }
func isReportFile(n string) bool { return n == kefu.ReportSummary || n == kefu.ReportHTML }

// Manifest is an archive's first entry: what it holds and how to read it.
type Manifest struct {
	Format  string `json:"format"`  // Format
	Version int    `json:"version"` // the format version it was written with
	// KB is the knowledge base as it was when the export began: name,
	// description, model, dimension and settings (the calibration and
	// synonyms included). The LLM API key is never exported.
	KB         kefu.KB   `json:"kb"`
	ExportedAt time.Time `json:"exported_at"`
}

// Counts say what an archive holds; end.json records them.
type Counts = kefu.ArchiveCounts

// end is the last entry.
type end struct {
	Counts Counts `json:"counts"`
}

// docLine is one line of a batch's documents.jsonl.
type docLine struct {
	Document *kefu.Document `json:"document"`
	Chunks   []kefu.Chunk   `json:"chunks"`
	// Vectors counts each chunk's vectors in vectors.f32 (one per text
	// Chunk.EmbedTexts gives).
	Vectors []int `json:"vectors"`
	// Source names the entry of the batch with the document's source
	// bytes; "" when the store kept none.
	Source string `json:"source,omitempty"`
}
