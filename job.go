package kefu

import (
	"context"
	"io"
	"time"
)

// JobState is where an ingest job is.
type JobState string

// Job states.
const (
	JobQueued  JobState = "queued"
	JobRunning JobState = "running"
	JobDone    JobState = "done"   // finished; some files may have failed
	JobFailed  JobState = "failed" // stopped as a whole
	// JobCancelled: its KB was deleted; what it had not stored is dropped,
	// and it writes nothing into a KB created again under the name.
	JobCancelled JobState = "cancelled"
)

// Failure is a file an ingest job refused, with the reason.
type Failure struct {
	Source string `json:"source"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Job is an ingest of one or more files into a KB, with its progress.
type Job struct {
	ID         string     `json:"job_id"`
	KB         string     `json:"kb"`
	State      JobState   `json:"state"`
	Files      int        `json:"files"`     // files submitted (a ZIP counts its members once opened)
	Documents  int        `json:"documents"` // documents parsed
	Done       int        `json:"done"`      // documents indexed
	Unchanged  int        `json:"unchanged"` // documents skipped: same bytes already indexed
	Chunks     int        `json:"chunks"`    // chunks produced
	Embedded   int        `json:"embedded"`  // texts sent to the model
	Texts      int        `json:"texts"`     // texts to embed of the chunks so far (not reused): Embedded of Texts is the embedding's progress
	Reused     int        `json:"reused"`    // chunks whose stored vectors were kept
	Failed     []Failure  `json:"failed"`
	Error      string     `json:"error,omitempty"` // why a cancelled or failed job stopped
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Upload is one file handed to an ingest job.
type Upload struct {
	Name  string // file name, used for the format and the default document id
	DocID string // caller's stable id; "" is the name
	Open  func() (io.ReadCloser, error)
	Size  int64             // -1 when unknown
	Meta  map[string]string // copied to the document
	// Force processes the file even when the stored document has the same
	// bytes (a re-index after the KB's chunking changed).
	Force bool
}

// Ingester runs ingest jobs.
type Ingester interface {
	// Submit starts a job and returns at once; progress is read with Job.
	Submit(ctx context.Context, kb string, files []Upload) (*Job, error)
	Job(id string) (*Job, error)
	// Reindex starts a job that parses a document's stored source again
	// with the KB's current settings.
	Reindex(ctx context.Context, kb, docID string) (*Job, error)
	// CancelKB cancels the jobs of kb, a KB just deleted.
	CancelKB(kb string)
}

// Document metadata the ingest service sets on documents that came out of
// a multi-document file (a ZIP, JSON or JSONL): the file's own id and name,
// under which its bytes are kept for re-indexing.
const (
	MetaSourceID   = "kefu.source_id"
	MetaSourceName = "kefu.source_name"
)

// AddedFAQ is the document that holds the FAQ entries a team adds from the
// API (unanswered questions turned into entries): a CSV sheet kept like any
// upload, re-indexed at each addition.
const AddedFAQ = "kefu_added_faq.csv"

// FAQEditor turns questions into FAQ content and re-indexes it at once.
type FAQEditor interface {
	// AddEntry adds a question and its answer to the KB's AddedFAQ sheet.
	AddEntry(ctx context.Context, kb, question, answer string) (*Job, error)
	// AddPhrasing adds a question as another phrasing of an FAQ entry of a
	// CSV sheet (the entry's chunk of document docID).
	AddPhrasing(ctx context.Context, kb, docID, chunkID, question string) (*Job, error)
}
