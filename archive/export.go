package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kefu-dev/kefu"
)

// ExportOptions tune Export; the zero value is the default.
type ExportOptions struct {
	// BatchBytes is about how much a batch holds (documents, vectors and
	// sources together) before it is written; default 16 MiB. A batch
	// holds whole documents, so one larger document makes a larger batch,
	// up to DefaultMaxBatchBytes (what Import accepts by default).
	BatchBytes int
	// Now is the export time the manifest records; zero is time.Now().
	Now time.Time
}

// DefaultBatchBytes is ExportOptions.BatchBytes's default.
const DefaultBatchBytes = 16 << 20

// Summary is what an export wrote.
type Summary = kefu.ArchiveSummary

// Export writes KB name of st to w as an archive, streaming: it holds one
// batch in memory at a time. Each document is exported whole; a KB written
// to during the export is exported document by document, not as of one
// instant, and a document replaced between reading its chunks and their
// vectors fails the export (ECONFLICT) rather than mixing two versions.
// w is not closed.
func Export(ctx context.Context, w io.Writer, st kefu.Store, name string, opts ExportOptions) (*Summary, error) {
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultBatchBytes
	}
	opts.BatchBytes = min(opts.BatchBytes, DefaultMaxBatchBytes/4)
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	kb, err := st.KB(ctx, name)
	if err != nil {
		return nil, err
	}
	m := Manifest{Format: Format, Version: Version, KB: *kb, ExportedAt: opts.Now.UTC()}
	if llm := m.KB.Settings.LLM; llm != nil {
		c := *llm
		c.APIKey = "" // a secret stays with its deployment
		m.KB.Settings.LLM = &c
	}
	docs, err := st.Documents(ctx, name)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(docs, func(a, b *kefu.Document) int { return strings.Compare(a.ID, b.ID) })

	aw, err := newWriter(w, opts.Now)
	if err != nil {
		return nil, err
	}
	defer aw.abort()
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := aw.group("", []file{{manifestName, manifest}}); err != nil {
		return nil, err
	}
	sources, _ := st.(kefu.SourceStore)
	var b batchWriter
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return nil, kefu.Errorf(kefu.ETIMEOUT, "export of %q stopped: %w", name, err)
		}
		ok, err := b.add(ctx, st, sources, kb, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // deleted since the listing
		}
		if b.size >= opts.BatchBytes {
			if err := aw.batch(&b); err != nil {
				return nil, err
			}
		}
	}
	if err := aw.batch(&b); err != nil {
		return nil, err
	}
	if rs, ok := st.(kefu.ReportStore); ok {
		var files []file
		for _, n := range reportFiles() {
			data, err := rs.ReportFile(ctx, name, n)
			if kefu.ErrorCode(err) == kefu.ENOTFOUND {
				continue
			}
			if err != nil {
				return nil, err
			}
			files = append(files, file{n, data})
		}
		if len(files) > 0 {
			if err := aw.group(reportsDir, files); err != nil {
				return nil, err
			}
			aw.counts.Reports = len(files)
		}
	}
	return aw.close()
}

// batchWriter gathers the documents of one batch.
type batchWriter struct {
	lines   bytes.Buffer
	vectors []byte
	sources []file
	size    int
	docs    int
	chunks  int
	vecs    int
}

// add appends document d with its chunks, vectors and source; false when
// d was deleted since the KB's documents were listed.
func (b *batchWriter) add(ctx context.Context, st kefu.Store, sources kefu.SourceStore, kb *kefu.KB, d *kefu.Document) (bool, error) {
	chunks, err := st.Chunks(ctx, kb.Name, d.ID)
	if kefu.ErrorCode(err) == kefu.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	hashes := make([]string, len(chunks))
	for i, c := range chunks {
		hashes[i] = c.Hash
	}
	known, err := st.KnownVectors(ctx, kb.Name, hashes)
	if err != nil {
		return false, err
	}
	line := docLine{Document: d, Chunks: make([]kefu.Chunk, len(chunks)), Vectors: make([]int, len(chunks))}
	start := len(b.vectors)
	for i, c := range chunks {
		vs, ok := known[c.Hash]
		if !ok {
			return false, kefu.Errorf(kefu.ECONFLICT, "document %q of %q changed during the export: export again", d.ID, kb.Name)
		}
		line.Chunks[i], line.Vectors[i] = *c, len(vs)
		for _, v := range vs {
			if len(v) != kb.Dim {
				return false, kefu.Errorf(kefu.ECONFLICT, "%q was re-embedded during the export (a %d-dimension vector, the KB had %d): export again", kb.Name, len(v), kb.Dim)
			}
			for _, x := range v {
				b.vectors = binary.LittleEndian.AppendUint32(b.vectors, math.Float32bits(x))
			}
		}
		b.vecs += len(vs)
	}
	if sources != nil {
		data, err := sources.Source(ctx, kb.Name, d.ID)
		switch {
		case err == nil:
			line.Source = sourceName(len(b.sources) + 1)
			b.sources = append(b.sources, file{line.Source, data})
			b.size += len(data)
		case kefu.ErrorCode(err) != kefu.ENOTFOUND:
			return false, err
		}
	}
	enc, err := json.Marshal(line)
	if err != nil {
		return false, err
	}
	b.lines.Write(enc)
	b.lines.WriteByte('\n')
	b.size += len(enc) + len(b.vectors) - start
	if b.size > DefaultMaxBatchBytes {
		return false, kefu.Errorf(kefu.ETOOLARGE, "document %q of %q holds %d bytes with its vectors and source, more than one archive batch may (%d)", d.ID, kb.Name, b.size, DefaultMaxBatchBytes)
	}
	b.docs++
	b.chunks += len(chunks)
	return true, nil
}

func (b *batchWriter) reset() {
	b.lines.Reset()
	b.vectors, b.sources = b.vectors[:0], nil
	b.size, b.docs, b.chunks, b.vecs = 0, 0, 0, 0
}

// file is one entry's name (inside its folder) and content.
type file struct {
	name string
	data []byte
}

// writer writes the tar and zstd layers of an archive.
type writer struct {
	out    *countWriter // the archive
	zw     *zstd.Encoder
	tar    *countWriter // the tar stream, into zw
	tw     *tar.Writer
	mtime  time.Time
	counts Counts
	closed bool
}

func newWriter(w io.Writer, now time.Time) (*writer, error) {
	out := &countWriter{w: w}
	zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	tw := &countWriter{w: zw}
	return &writer{out: out, zw: zw, tar: tw, tw: tar.NewWriter(tw), mtime: now.Truncate(time.Second)}, nil
}

// group writes a folder: its SHA256SUMS, then its files in that order.
func (w *writer) group(dir string, files []file) error {
	var sums bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(f.data), f.name)
	}
	if err := w.entry(dir+sumsName, sums.Bytes()); err != nil {
		return err
	}
	for _, f := range files {
		if err := w.entry(dir+f.name, f.data); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) entry(name string, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: w.mtime}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return writeFailed(err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return writeFailed(err)
	}
	return nil
}

// batch writes b as the next batch, if it holds any document, and empties it.
func (w *writer) batch(b *batchWriter) error {
	if b.docs == 0 {
		return nil
	}
	w.counts.Batches++
	files := append([]file{{docsName, b.lines.Bytes()}, {vectorsName, b.vectors}}, b.sources...)
	if err := w.group(batchDir(w.counts.Batches), files); err != nil {
		return err
	}
	w.counts.Documents += b.docs
	w.counts.Chunks += b.chunks
	w.counts.Vectors += b.vecs
	w.counts.Sources += len(b.sources)
	for _, s := range b.sources {
		w.counts.SourceBytes += int64(len(s.data))
	}
	b.reset()
	return nil
}

// close writes end.json and ends both layers.
func (w *writer) close() (*Summary, error) {
	data, err := json.MarshalIndent(end{Counts: w.counts}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.entry(endName, data); err != nil {
		return nil, err
	}
	if err := w.tw.Close(); err != nil {
		return nil, writeFailed(err)
	}
	w.closed = true
	if err := w.zw.Close(); err != nil {
		return nil, writeFailed(err)
	}
	return &Summary{ArchiveCounts: w.counts, Unpacked: w.tar.n, Bytes: w.out.n}, nil
}

// abort releases the encoder of an export that failed; the archive written
// so far has no end.json, so no reader takes it for whole.
func (w *writer) abort() {
	if !w.closed {
		w.closed = true
		w.zw.Close()
	}
}

func writeFailed(err error) error {
	if kefu.ErrorCode(err) != kefu.EINTERNAL {
		return err
	}
	return kefu.Errorf(kefu.EINTERNAL, "write the archive: %w", err)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
