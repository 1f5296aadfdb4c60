package archive

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/kefu-dev/kefu"
)

// ReadOptions bound what a Reader accepts; zero fields take the defaults.
type ReadOptions struct {
	// MaxBytes bounds the unpacked archive (the tar stream); default
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxBytesName is what sets MaxBytes, named in the error when an
	// archive unpacks to more (a flag, say); "" names nothing.
	MaxBytesName string
	// MaxBatchBytes bounds one folder's entries together, the most a
	// reader holds in memory at once; default DefaultMaxBatchBytes.
	MaxBatchBytes int64
}

// Defaults of ReadOptions.
const (
	DefaultMaxBytes      = 1 << 40
	DefaultMaxBatchBytes = 1 << 30
)

// Bounds no valid archive comes near.
const (
	maxSmallEntry = 1 << 20 // SHA256SUMS, manifest.json, end.json
	maxDim        = 1 << 16
	maxWindow     = 32 << 20 // zstd window: the encoder's default is 8 MiB
	maxTrailer    = 64 << 10 // zero bytes after the tar's end (record padding)
)

// Doc is one document of an archive with everything a store needs to put
// it back.
type Doc struct {
	Document *kefu.Document
	Chunks   []kefu.Chunk
	Vectors  [][][]float32 // Vectors[i] are Chunks[i]'s
	Source   []byte        // nil when the archive holds none
}

// Part is what Reader.Next returns: a batch of documents, or the KB's
// evaluation report (file name → content).
type Part struct {
	Docs    []Doc
	Reports map[string][]byte
}

// Reader reads an archive in one streaming pass and checks every entry
// against its folder's SHA256SUMS before returning it. Its errors are
// kefu errors that name the failing entry: EINVALID for a corrupt or cut
// archive, EUNSUPPORTED for a newer format, ETOOLARGE past ReadOptions.
type Reader struct {
	opts    ReadOptions
	zr      *zstd.Decoder
	raw     *limitReader // the tar stream, bounded by MaxBytes
	tr      *tar.Reader
	m       Manifest
	counts  Counts
	peeked  *tar.Header
	last    string // the last entry read whole
	docIDs  map[string]bool
	reports bool
	done    bool
}

// NewReader starts reading the archive r and reads its manifest.
func NewReader(r io.Reader, opts ReadOptions) (*Reader, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderConcurrency(2))
	if err != nil {
		return nil, err
	}
	ar := &Reader{opts: opts, zr: zr, docIDs: map[string]bool{}}
	ar.raw = &limitReader{r: zr, left: opts.MaxBytes, opts: opts}
	ar.tr = tar.NewReader(ar.raw)
	files, err := ar.group("", maxSmallEntry, func(name string) bool { return name == manifestName })
	if err != nil {
		zr.Close()
		return nil, err
	}
	if len(files) != 1 {
		zr.Close()
		return nil, ar.corrupt(sumsName, "it must list %s alone", manifestName)
	}
	if err := ar.manifest(files[0].data); err != nil {
		zr.Close()
		return nil, err
	}
	return ar, nil
}

func (r *Reader) manifest(data []byte) error {
	if err := json.Unmarshal(data, &r.m); err != nil {
		return r.corrupt(manifestName, "not valid JSON")
	}
	switch m := &r.m; {
	case m.Format != Format:
		return kefu.Errorf(kefu.EINVALID, "%s: format %q: not a kefu knowledge-base archive", manifestName, m.Format)
	case m.Version > Version:
		return kefu.Errorf(kefu.EUNSUPPORTED, "%s: archive format version %d; this kefu reads versions up to %d: import it with a newer kefu", manifestName, m.Version, Version)
	case m.Version < 1:
		return r.corrupt(manifestName, "format version %d", m.Version)
	case m.KB.Dim < 0 || m.KB.Dim > maxDim:
		return r.corrupt(manifestName, "vector dimension %d", m.KB.Dim)
	}
	return nil
}

// Manifest returns the archive's manifest.
func (r *Reader) Manifest() Manifest { return r.m }

// Counts returns what has been read so far; after Next returned io.EOF,
// what the archive holds.
func (r *Reader) Counts() Counts { return r.counts }

// Unpacked returns the bytes of the tar stream read so far.
func (r *Reader) Unpacked() int64 { return r.opts.MaxBytes - r.raw.left }

// Close releases the decoder.
func (r *Reader) Close() { r.zr.Close() }

var (
	batchSums  = regexp.MustCompile(`^batch-([0-9]{6})/` + sumsName + `$`)
	sourceFile = regexp.MustCompile(`^source-[0-9]{6}$`)
)

// Next returns the next part of the archive, and io.EOF once end.json is
// read and the archive holds what it says.
func (r *Reader) Next() (*Part, error) {
	if r.done {
		return nil, io.EOF
	}
	hdr, err := r.header()
	if err != nil {
		return nil, err
	}
	name := hdr.Name
	switch {
	case name == endName:
		return nil, r.end()
	case name == reportsDir+sumsName && !r.reports:
		r.reports = true
		files, err := r.group(reportsDir, r.opts.MaxBatchBytes, isReportFile)
		if err != nil {
			return nil, err
		}
		p := &Part{Reports: map[string][]byte{}}
		for _, f := range files {
			p.Reports[f.name] = f.data
		}
		r.counts.Reports = len(files)
		return p, nil
	case !r.reports && batchSums.MatchString(name) && name == batchDir(r.counts.Batches+1)+sumsName:
		return r.batch()
	}
	return nil, r.corrupt(name, "unexpected entry after %s", r.last)
}

// batch reads the next batch folder.
func (r *Reader) batch() (*Part, error) {
	n := r.counts.Batches + 1
	dir := batchDir(n)
	files, err := r.group(dir, r.opts.MaxBatchBytes, func(name string) bool {
		return name == docsName || name == vectorsName || sourceFile.MatchString(name)
	})
	if err != nil {
		return nil, err
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.name] = f.data
	}
	lines, ok := byName[docsName]
	if !ok {
		return nil, r.corrupt(dir+sumsName, "%s is not listed", docsName)
	}
	vecData, ok := byName[vectorsName]
	if !ok {
		return nil, r.corrupt(dir+sumsName, "%s is not listed", vectorsName)
	}
	vecs := make([]float32, len(vecData)/4)
	for i := range vecs {
		x := math.Float32frombits(binary.LittleEndian.Uint32(vecData[4*i:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, r.corrupt(dir+vectorsName, "a NaN or infinite component")
		}
		vecs[i] = x
	}
	dim := r.m.KB.Dim
	p := &Part{}
	used := map[string]bool{}
	off := 0
	for ln, line := range bytes.Split(bytes.TrimSuffix(lines, []byte("\n")), []byte("\n")) {
		where := fmt.Sprintf("%s%s line %d", dir, docsName, ln+1)
		var dl docLine
		if err := json.Unmarshal(line, &dl); err != nil {
			return nil, r.corrupt(where, "not valid JSON")
		}
		switch {
		case dl.Document == nil || dl.Document.ID == "":
			return nil, r.corrupt(where, "a document without an id")
		case len(dl.Vectors) != len(dl.Chunks):
			return nil, r.corrupt(where, "%d chunks but %d vector counts", len(dl.Chunks), len(dl.Vectors))
		case r.docIDs[dl.Document.ID]:
			return nil, r.corrupt(where, "document %q appears twice", dl.Document.ID)
		}
		r.docIDs[dl.Document.ID] = true
		d := Doc{Document: dl.Document, Chunks: dl.Chunks, Vectors: make([][][]float32, len(dl.Chunks))}
		for i, k := range dl.Vectors {
			if k < 0 || (k > 0 && dim == 0) || k > (len(vecs)-off)/max(dim, 1) {
				return nil, r.corrupt(dir+vectorsName, "it holds fewer vectors than %s says", docsName)
			}
			d.Vectors[i] = make([][]float32, k)
			for j := range k {
				d.Vectors[i][j] = vecs[off : off+dim : off+dim]
				off += dim
			}
			r.counts.Vectors += k
		}
		if dl.Source != "" {
			data, ok := byName[dl.Source]
			if !ok || !sourceFile.MatchString(dl.Source) || used[dl.Source] {
				return nil, r.corrupt(where, "source %q is not an entry of the batch", dl.Source)
			}
			used[dl.Source] = true
			d.Source = data
			r.counts.Sources++
			r.counts.SourceBytes += int64(len(data))
		}
		r.counts.Chunks += len(d.Chunks)
		p.Docs = append(p.Docs, d)
	}
	if off*4 != len(vecData) {
		return nil, r.corrupt(dir+vectorsName, "%d bytes, %s accounts for %d", len(vecData), docsName, off*4)
	}
	for _, f := range files {
		if sourceFile.MatchString(f.name) && !used[f.name] {
			return nil, r.corrupt(dir+f.name, "no document names it")
		}
	}
	r.counts.Batches = n
	r.counts.Documents += len(p.Docs)
	return p, nil
}

// end reads end.json, checks the counts and that nothing follows.
func (r *Reader) end() error {
	data, err := r.entry(r.peek(), maxSmallEntry)
	if err != nil {
		return err
	}
	var e end
	if err := json.Unmarshal(data, &e); err != nil {
		return r.corrupt(endName, "not valid JSON")
	}
	if e.Counts != r.counts {
		return r.corrupt(endName, "the archive should hold %s but holds %s: entries are missing", countsText(e.Counts), countsText(r.counts))
	}
	if _, err := r.tr.Next(); !errors.Is(err, io.EOF) {
		return r.corrupt(endName, "data follows it")
	}
	// The rest of the stream, read to its end, lets zstd check its own
	// checksum; a tar writer may pad with zeros.
	rest, err := io.ReadAll(io.LimitReader(r.raw, maxTrailer+1))
	if err != nil {
		return r.readFailed(err, endName, false)
	}
	if len(rest) > maxTrailer || bytes.ContainsFunc(rest, func(c rune) bool { return c != 0 }) {
		return r.corrupt(endName, "data follows it")
	}
	r.done = true
	return io.EOF
}

func countsText(c Counts) string {
	return fmt.Sprintf("%d batches, %d documents, %d chunks, %d vectors, %d sources (%d bytes), %d report files",
		c.Batches, c.Documents, c.Chunks, c.Vectors, c.Sources, c.SourceBytes, c.Reports)
}

// group reads a folder: its SHA256SUMS, then each file it lists, in that
// order, checked against its sum. ok says which names the folder may hold.
func (r *Reader) group(dir string, limit int64, ok func(name string) bool) ([]file, error) {
	hdr, err := r.header()
	if err != nil {
		return nil, err
	}
	if hdr.Name != dir+sumsName {
		return nil, r.corrupt(hdr.Name, "expected %s", dir+sumsName)
	}
	sums, err := r.entry(r.peek(), maxSmallEntry)
	if err != nil {
		return nil, err
	}
	type want struct {
		name string
		sum  [32]byte
	}
	var wants []want
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		hexSum, name, found := strings.Cut(line, "  ")
		raw, err := hex.DecodeString(hexSum)
		switch {
		case !found || err != nil || len(raw) != 32:
			return nil, r.corrupt(dir+sumsName, "line %d is not \"SHA-256  name\"", i+1)
		case !ok(name) || seen[name]:
			return nil, r.corrupt(dir+sumsName, "line %d lists %q", i+1, name)
		}
		seen[name] = true
		wants = append(wants, want{name, [32]byte(raw)})
	}
	files := make([]file, 0, len(wants))
	var total int64
	for _, w := range wants {
		hdr, err := r.header()
		if err != nil {
			return nil, err
		}
		if hdr.Name != dir+w.name {
			return nil, r.corrupt(hdr.Name, "expected %s, as %s lists", dir+w.name, dir+sumsName)
		}
		data, err := r.entry(r.peek(), limit-total)
		if err != nil {
			return nil, err
		}
		total += int64(len(data))
		if sha256.Sum256(data) != w.sum {
			return nil, r.corrupt(hdr.Name, "checksum mismatch: the archive is corrupt")
		}
		files = append(files, file{w.name, data})
	}
	return files, nil
}

// header returns the next entry's header without consuming it.
func (r *Reader) header() (*tar.Header, error) {
	if r.peeked != nil {
		return r.peeked, nil
	}
	hdr, err := r.tr.Next()
	if errors.Is(err, io.EOF) {
		if r.last == "" {
			return nil, kefu.Errorf(kefu.EINVALID, "the archive is empty: not a kefu knowledge-base archive")
		}
		return nil, kefu.Errorf(kefu.EINVALID, "the archive ends after entry %s, without %s: it is truncated", r.last, endName)
	}
	if err != nil {
		return nil, r.readFailed(err, r.last, true)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, r.corrupt(hdr.Name, "not a regular file")
	}
	r.peeked = hdr
	return hdr, nil
}

// peek takes the peeked header.
func (r *Reader) peek() *tar.Header {
	h := r.peeked
	r.peeked = nil
	return h
}

// entry reads hdr's content, at most limit bytes.
func (r *Reader) entry(hdr *tar.Header, limit int64) ([]byte, error) {
	if hdr.Size > limit {
		if limit == maxSmallEntry {
			return nil, r.corrupt(hdr.Name, "%d bytes", hdr.Size)
		}
		return nil, kefu.Errorf(kefu.ETOOLARGE, "archive entry %s: its folder holds more than %d bytes", hdr.Name, r.opts.MaxBatchBytes)
	}
	// ReadAll grows with what arrives, so a header that lies about its
	// size costs nothing.
	data, err := io.ReadAll(r.tr)
	if err != nil {
		return nil, r.readFailed(err, hdr.Name, false)
	}
	r.last = hdr.Name
	return data, nil
}

func (r *Reader) corrupt(entry, format string, args ...any) error {
	return kefu.Errorf(kefu.EINVALID, "archive entry %s: %s", entry, fmt.Sprintf(format, args...))
}

// readFailed turns an error of the tar or zstd layer met in (or, with
// after, after) entry into the archive's words.
func (r *Reader) readFailed(err error, entry string, after bool) error {
	var ke *kefu.Error
	if errors.As(err, &ke) {
		return err
	}
	where := "in entry " + entry
	if after {
		where = "after entry " + entry
	}
	truncated := errors.Is(err, io.ErrUnexpectedEOF)
	switch {
	case entry == "" && truncated:
		return kefu.Errorf(kefu.EINVALID, "the archive ends before its first entry: it is truncated")
	case entry == "":
		return &kefu.Error{Code: kefu.EINVALID, Message: "not a kefu knowledge-base archive (a zstd-compressed tar)", Err: err}
	case truncated:
		return kefu.Errorf(kefu.EINVALID, "the archive ends %s: it is truncated", where)
	}
	return &kefu.Error{Code: kefu.EINVALID, Message: fmt.Sprintf("the archive is corrupt %s", where), Err: err}
}

// limitReader bounds the tar stream by MaxBytes.
type limitReader struct {
	r    io.Reader
	left int64
	opts ReadOptions
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more than allowed tells a stream at the limit from
		// one over it.
		var b [1]byte
		if n, err := io.ReadFull(l.r, b[:]); n == 0 {
			if errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, err
		}
		by := ""
		if l.opts.MaxBytesName != "" {
			by = " (" + l.opts.MaxBytesName + ")"
		}
		return 0, kefu.Errorf(kefu.ETOOLARGE, "the archive unpacks to more than %d bytes%s", l.opts.MaxBytes, by)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
