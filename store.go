package kefu

import "context"

// Store keeps knowledge bases: documents, chunks, vectors and the indexes
// over them. The embedded store (index.Open) is the default; other backends
// implement the same interface.
type Store interface {
	Index
	KBReader

	CreateKB(ctx context.Context, kb *KB) error
	KBs(ctx context.Context) ([]*KB, error)
	// UpdateKB stores kb's description and settings and bumps its version.
	UpdateKB(ctx context.Context, kb *KB) error
	DeleteKB(ctx context.Context, name string) error
	Stats(ctx context.Context, kb string) (KBStats, error)

	// PutDocument replaces the document and all its chunks atomically:
	// searches see the old version or the new one, never both or neither.
	// vectors[i] holds the vectors of chunks[i].EmbedTexts(), in order.
	PutDocument(ctx context.Context, doc *Document, chunks []Chunk, vectors [][][]float32) error
	// PutDocuments replaces several documents of one KB at once, atomically
	// as a whole; it is PutDocument for batches of small documents.
	PutDocuments(ctx context.Context, updates []DocumentUpdate) error
	DeleteDocument(ctx context.Context, kb, docID string) error
	Document(ctx context.Context, kb, docID string) (*Document, error)
	Documents(ctx context.Context, kb string) ([]*Document, error)
	Chunks(ctx context.Context, kb, docID string) ([]*Chunk, error)
	// KnownVectors returns the stored vectors of the chunks with these
	// content hashes, so unchanged chunks are not embedded again.
	KnownVectors(ctx context.Context, kb string, hashes []string) (map[string][][]float32, error)
	// Reembed replaces every vector of the KB by embed's, under a new model
	// id and dimension, atomically.
	Reembed(ctx context.Context, kb string, model ModelID, dim int, embed func(ctx context.Context, texts []string) ([][]float32, error)) error

	Close() error
}

// DocumentUpdate is one document of a PutDocuments batch.
type DocumentUpdate struct {
	Doc     *Document
	Chunks  []Chunk
	Vectors [][][]float32
}

// KBReader reads a KB's current settings and version; every Store is one.
type KBReader interface {
	KB(ctx context.Context, name string) (*KB, error)
}

// The files of an evaluation report the console shows.
const (
	ReportSummary = "summary.json" // the metrics, as `kefu eval --json` prints them
	ReportHTML    = "report.html"  // the report to read in a browser
)

// ReportStore keeps each KB's latest evaluation report (`kefu eval`, and the
// demo's first calibration), which the console shows. Where the files live
// is the store's business: callers name files, never paths.
type ReportStore interface {
	// PutReport replaces kb's latest report by files (name → content;
	// ReportSummary and ReportHTML among them; none: no report). Names are
	// plain file names.
	PutReport(ctx context.Context, kb string, files map[string][]byte) error
	// ReportFile returns one file of kb's latest report, ENOTFOUND when kb
	// has no report or the report no such file.
	ReportFile(ctx context.Context, kb, name string) ([]byte, error)
}

// HealthChecker is a store that depends on a service (Qdrant) and can say
// whether it is reachable; /readyz and the metrics ask it.
type HealthChecker interface {
	// Health checks the service now: nil when it answers, else an
	// EUNAVAILABLE error naming it.
	Health(ctx context.Context) error
}

// ReembedBatch is how many texts a Store's Reembed sends to embed at once.
const ReembedBatch = 256

// EmbedAll embeds texts in batches of ReembedBatch for a Store's Reembed,
// checking that embed returns one vector of dim numbers per text; it stops
// between batches when ctx ends.
func EmbedAll(ctx context.Context, kb string, texts []string, dim int, embed func(ctx context.Context, texts []string) ([][]float32, error)) ([][]float32, error) {
	vecs := make([][]float32, 0, len(texts))
	for i := 0; i < len(texts); i += ReembedBatch {
		if err := ctx.Err(); err != nil {
			return nil, Errorf(ETIMEOUT, "re-embedding %q cancelled: %w", kb, err)
		}
		batch := texts[i:min(i+ReembedBatch, len(texts))]
		out, err := embed(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(out) != len(batch) {
			return nil, Errorf(EINTERNAL, "embedder returned %d vectors for %d texts", len(out), len(batch))
		}
		for _, v := range out {
			if len(v) != dim {
				return nil, Errorf(EINVALID, "embedder returned %d dims, expected %d", len(v), dim)
			}
		}
		vecs = append(vecs, out...)
	}
	return vecs, nil
}
