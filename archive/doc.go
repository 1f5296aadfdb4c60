// Package archive writes and reads KB archives (.kefu files): a whole
// knowledge base — settings (the calibration and synonyms among them),
// documents, chunks, vectors, the bytes each document was made from and the
// latest evaluation report — in one versioned, zstd-compressed file, for
// backups and for moving a KB between deployments and backends. It works on
// any kefu.Store (kefu.SourceStore and kefu.ReportStore when the store is
// one), so it moves KBs between the embedded store and Qdrant alike.
//
// An archive is a tar stream compressed with zstd: `zstd -dc KB.kefu | tar
// x` unpacks it with standard tools, and `sha256sum -c SHA256SUMS` inside
// each folder checks it. Its entries, in this order:
//
//	SHA256SUMS                the checksum of manifest.json
//	manifest.json             format, version, the KB (model, dimension, settings)
//	batch-000001/SHA256SUMS   the checksums of the batch's other files, in order
//	batch-000001/documents.jsonl   one document a line: the document, its chunks, its vectors per chunk, its source file
//	batch-000001/vectors.f32       their vectors: float32 little-endian, document by document, chunk by chunk
//	batch-000001/source-000001     a document's source bytes
//	batch-000002/…
//	reports/SHA256SUMS, reports/summary.json, reports/report.html   the latest evaluation report, if any
//	end.json                  the counts of everything above
//
// Tar inside zstd rather than a format of our own: the archive stays
// readable without kefu (a team's data is never locked in), and both
// layers are well-kept libraries (archive/tar, klauspost/compress/zstd).
// Tar has no checksum of its own for content, and an entry's size comes
// before its content, so every entry is buffered (a batch is bounded) and
// each folder starts with a SHA256SUMS file: a reader checks every entry
// before it uses it, in one streaming pass, and end.json's counts catch an
// archive cut between entries.
//
// The package imports the root only.
package archive
