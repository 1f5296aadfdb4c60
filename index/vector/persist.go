package vector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"unsafe"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

// The index file, little-endian:
//
//	header   64 bytes: magic "KEFUVEC1", version, dim, rows, code stride,
//	         flags (1 codes, 2 graph), HNSW m, max level, entry, upper length
//	labels   rows × uint32 (noLabel for a free row)
//	vectors  rows × dim × float32
//	codes    rows × stride × uint8, then rows × float32 scales (flag 1)
//	graph    rows × uint8 levels, rows × (2m+1) uint32 layer-0 lists,
//	         rows × int32 upper offsets, upper × uint32 (flag 2)
//	trailer  16 bytes: payload length uint64, CRC-32C of the payload, "KEND"
//
// Every section starts on a 64-byte boundary, so on little-endian hosts the
// loaded arrays are views of the file's bytes and Load costs one read and
// one checksum pass.

// ErrCorrupt is wrapped by Load's error for a file that is truncated,
// altered or not an index file.
var ErrCorrupt = errors.New("corrupt vector index file")

const (
	fileMagic   = "KEFUVEC1"
	fileVersion = 1
	trailerTag  = "KEND"
	headerSize  = 64
	trailerSize = 16
	flagCodes   = 1
	flagGraph   = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Save writes the index to path crash-safely (internal/atomicfile): path
// holds the old index or the new one, never a mix.
//
// Save does not wait for a graph build in progress: it writes the graph in
// use, so a file saved during a build holds no graph, and Load builds one
// again in the background. Call WaitBuilt first to save the graph.
func (ix *Index) Save(path string) error {
	err := atomicfile.Write(path, 0o600, func(out io.Writer) error {
		crc := crc32.New(castagnoli)
		w := &countWriter{w: io.MultiWriter(out, crc)}
		ix.encode(w)
		if w.err != nil {
			return w.err
		}
		var tr [trailerSize]byte
		binary.LittleEndian.PutUint64(tr[0:], uint64(w.n))
		binary.LittleEndian.PutUint32(tr[8:], crc.Sum32())
		copy(tr[12:], trailerTag)
		_, err := out.Write(tr[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	return nil
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// pad writes zeros up to the next 64-byte boundary.
func (c *countWriter) pad() {
	var z [64]byte
	c.Write(z[:(64-c.n%64)%64])
}

func (ix *Index) encode(w *countWriter) {
	rows := len(ix.labels)
	var h [headerSize]byte
	copy(h[:], fileMagic)
	le := binary.LittleEndian
	le.PutUint32(h[8:], fileVersion)
	le.PutUint32(h[12:], uint32(ix.dim))
	le.PutUint64(h[16:], uint64(rows))
	var flags uint32
	if ix.codes != nil {
		flags |= flagCodes
		le.PutUint32(h[24:], uint32(ix.stride))
	}
	g := ix.g.Load()
	if g != nil {
		flags |= flagGraph
		le.PutUint32(h[32:], uint32(g.m))
		le.PutUint32(h[36:], uint32(g.maxLevel))
		le.PutUint32(h[40:], g.entry)
		if g.empty {
			le.PutUint32(h[40:], noRow)
		}
		le.PutUint64(h[44:], uint64(len(g.upper)))
	}
	le.PutUint32(h[28:], flags)
	w.Write(h[:])
	w.Write(bytesOf(ix.labels))
	w.pad()
	w.Write(bytesOf(ix.vecs))
	w.pad()
	if ix.codes != nil {
		w.Write(ix.codes)
		w.pad()
		w.Write(bytesOf(ix.scales))
		w.pad()
	}
	if g != nil {
		w.Write(g.levels)
		w.pad()
		w.Write(bytesOf(g.links0))
		w.pad()
		w.Write(bytesOf(g.upperIdx))
		w.pad()
		w.Write(bytesOf(g.upper))
		w.pad()
	}
}

// Load reads an index saved by Save. opts configure it as for New; a zero
// Dim takes the file's, another must match it. The file's int8 codes and
// graph are used when opts' mode wants them, computed when it wants them and
// the file lacks them, and dropped otherwise; a stored graph keeps its M.
// A missing graph is built in the background, as after Add (see Building;
// Close stops it). A truncated or altered file is refused with an error wrapping ErrCorrupt.
func Load(path string, opts Options) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vector: load: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vector: load: %w", err)
	}
	if st.Size() < headerSize+trailerSize || st.Size() > math.MaxInt/2 {
		return nil, corrupt(path, "size %d", st.Size())
	}
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, corrupt(path, "read: %v", err)
	}
	ix, err := decode(buf, opts)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("vector: load %s: %w", path, err)
		}
		return nil, err
	}
	return ix, nil
}

func corrupt(path, format string, args ...any) error {
	return &kefu.Error{Code: kefu.EINTERNAL, Message: fmt.Sprintf("vector: load %s: %s: %s", path, ErrCorrupt, fmt.Sprintf(format, args...)), Err: ErrCorrupt}
}

// decode checks and parses a whole index file. The arrays it returns alias
// buf where the host allows.
func decode(buf []byte, opts Options) (*Index, error) {
	bad := func(format string, args ...any) error {
		return &kefu.Error{Code: kefu.EINTERNAL, Message: fmt.Sprintf("%s: %s", ErrCorrupt, fmt.Sprintf(format, args...)), Err: ErrCorrupt}
	}
	if len(buf) < headerSize+trailerSize {
		return nil, bad("%d bytes is too short", len(buf))
	}
	le := binary.LittleEndian
	tr := buf[len(buf)-trailerSize:]
	payload := buf[:len(buf)-trailerSize]
	if string(tr[12:]) != trailerTag || le.Uint64(tr[0:]) != uint64(len(payload)) {
		return nil, bad("truncated or not an index file")
	}
	if string(payload[:8]) != fileMagic {
		return nil, bad("not an index file")
	}
	if crc32.Checksum(payload, castagnoli) != le.Uint32(tr[8:]) {
		return nil, bad("checksum mismatch")
	}
	h := payload[:headerSize]
	if v := le.Uint32(h[8:]); v != fileVersion {
		return nil, bad("version %d, want %d", v, fileVersion)
	}
	dim, rows64, stride, flags := int(le.Uint32(h[12:])), le.Uint64(h[16:]), int(le.Uint32(h[24:])), le.Uint32(h[28:])
	if dim <= 0 || dim > 1<<16 || flags&^(flagCodes|flagGraph) != 0 {
		return nil, bad("header: dim %d, flags %#x", dim, flags)
	}
	// Every row takes at least 4·dim+4 bytes, which bounds rows by the size
	// before anything is allocated.
	if rows64 > uint64(len(payload))/uint64(4*dim+4) {
		return nil, bad("header: %d rows do not fit in %d bytes", rows64, len(payload))
	}
	rows := int(rows64)
	if opts.Dim == 0 {
		opts.Dim = dim
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if opts.Dim != dim {
		return nil, kefu.Errorf(kefu.EMODEL, "vector: index file holds %d-dimensional vectors, want %d", dim, opts.Dim)
	}
	r := &reader{buf: payload, off: headerSize}
	ix := &Index{opts: opts, rowData: rowData{dim: dim, stride: codeStride(dim)}}
	ix.labels = section[uint32](r, rows)
	ix.vecs = section[float32](r, rows*dim)
	if flags&flagCodes != 0 {
		if stride != ix.stride {
			return nil, bad("header: code stride %d, want %d", stride, ix.stride)
		}
		ix.codes = section[uint8](r, rows*stride)
		ix.scales = section[float32](r, rows)
	}
	var g *graph
	if flags&flagGraph != 0 {
		m := int(le.Uint32(h[32:]))
		if m < 2 || m > 128 {
			return nil, bad("header: HNSW m %d", m)
		}
		ix.opts.M = m
		g = newGraph(&ix.rowData, ix.opts)
		g.maxLevel, g.entry = int(le.Uint32(h[36:])), le.Uint32(h[40:])
		g.empty = g.entry == noRow
		upperLen := le.Uint64(h[44:])
		if upperLen > uint64(len(payload))/4 {
			return nil, bad("header: upper links %d", upperLen)
		}
		g.levels = section[uint8](r, rows)
		g.links0 = section[uint32](r, rows*(g.m0+1))
		g.upperIdx = section[int32](r, rows)
		g.upper = section[uint32](r, int(upperLen))
	}
	if r.err != nil {
		return nil, bad("%v", r.err)
	}
	if r.off = (r.off + 63) &^ 63; r.off != len(payload) {
		return nil, bad("%d bytes after the last section", len(payload)-r.off)
	}
	if g != nil {
		if err := g.check(); err != nil {
			return nil, bad("graph: %v", err)
		}
	}
	if ix.scales == nil {
		ix.scales = make([]float32, rows)
	}
	ix.relink()
	ix.configure(g)
	return ix, nil
}

// FromRows returns an index holding rows (row-major, opts.Dim floats each;
// kept, not copied) under labels 0 to n-1, set up as Load sets up a file
// without a graph: codes computed and, when the mode wants a graph, its
// build started in the background (WaitBuilt waits for it). It is the fast
// way to index many vectors at once.
func FromRows(opts Options, rows []float32) (*Index, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if len(rows)%opts.Dim != 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "vector: %d floats are not rows of %d", len(rows), opts.Dim)
	}
	if !finite(rows) {
		return nil, kefu.Errorf(kefu.EINVALID, "vector: a row has a NaN or infinite component")
	}
	n := len(rows) / opts.Dim
	if n >= noLabel {
		return nil, kefu.Errorf(kefu.ETOOLARGE, "vector: %d rows", n)
	}
	ix := &Index{opts: opts, rowData: rowData{dim: opts.Dim, stride: codeStride(opts.Dim), vecs: rows}}
	ix.labels = make([]uint32, n)
	for i := range ix.labels {
		ix.labels[i] = uint32(i)
	}
	ix.scales = make([]float32, n)
	ix.relink()
	ix.configure(nil)
	return ix, nil
}

// configure fits a loaded index to its options: codes computed or dropped,
// the graph kept, built (in the background) or dropped.
func (ix *Index) configure(g *graph) {
	switch {
	case ix.keepsCodes() && ix.codes == nil:
		ix.codes = make([]uint8, len(ix.labels)*ix.stride)
		for r, lab := range ix.labels {
			if lab != noLabel {
				ix.scales[r] = quantize(ix.row(uint32(r)), ix.codes[r*ix.stride:(r+1)*ix.stride])
			}
		}
	case !ix.keepsCodes():
		ix.codes = nil
	}
	wantGraph := ix.opts.Mode == ModeHNSW || ix.opts.Mode == ModeAuto && ix.live >= ix.opts.HNSWMin
	keepGraph := ix.opts.Mode == ModeHNSW || ix.opts.Mode == ModeAuto && ix.live >= ix.opts.HNSWMin/2
	switch {
	case g != nil && keepGraph:
		ix.g.Store(g)
	case g == nil && wantGraph:
		ix.mu.Lock()
		ix.startBuild()
		ix.mu.Unlock()
	}
}

// check verifies that every list fits its size and every link points at a
// node that has the link's level.
func (g *graph) check() error {
	n := len(g.levels)
	if !g.empty && (int(g.entry) >= n || g.maxLevel > maxGraphLevel || int(g.levels[g.entry]) != g.maxLevel) {
		return fmt.Errorf("entry %d at level %d", g.entry, g.maxLevel)
	}

	ids := func(b []uint32, limit, level int) error {
		if int(b[0]) > limit {
			return fmt.Errorf("%d links in a list of %d", b[0], limit)
		}
		for _, id := range b[1 : 1+b[0]] {
			if int(id) >= n {
				return fmt.Errorf("link to node %d of %d", id, n)
			}
			if int(g.levels[id]) < level {
				return fmt.Errorf("link on level %d to node %d of level %d", level, id, g.levels[id])
			}
		}
		return nil
	}
	// Nodes without links may stand anywhere, even above the top level or in
	// a graph with no entry: rows that were free when the graph was built,
	// or that lost their links since. A search never reaches them.
	next := 0
	for node, lv := range g.levels {
		if err := ids(g.block(uint32(node), 0), g.m0, 0); err != nil {
			return err
		}
		if (g.empty || int(lv) > g.maxLevel) && g.block(uint32(node), 0)[0] > 0 {
			return fmt.Errorf("node %d has links but no way in", node)
		}
		off := int(g.upperIdx[node])
		if lv == 0 {
			if off != -1 {
				return fmt.Errorf("node %d: upper offset %d on layer 0", node, off)
			}
			continue
		}
		if off != next || off+int(lv)*(g.m+1) > len(g.upper) {
			return fmt.Errorf("node %d: upper offset %d", node, off)
		}
		next = off + int(lv)*(g.m+1)
		for l := 1; l <= int(lv); l++ {
			if err := ids(g.block(uint32(node), l), g.m, l); err != nil {
				return err
			}
		}
	}
	if next != len(g.upper) {
		return fmt.Errorf("%d upper links unused", len(g.upper)-next)
	}
	return nil
}

type reader struct {
	buf []byte
	off int
	err error
}

// section returns the next n elements of T, starting 64-byte aligned.
func section[T uint8 | uint32 | int32 | float32](r *reader, n int) []T {
	if r.err != nil {
		return nil
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	r.off = (r.off + 63) &^ 63
	if n < 0 || n > (len(r.buf)-min(r.off, len(r.buf)))/size {
		r.err = fmt.Errorf("section of %d×%d bytes at offset %d overruns the file", n, size, r.off)
		return nil
	}
	b := r.buf[r.off : r.off+n*size]
	r.off += n * size
	return viewAs[T](b)
}

// bytesOf returns the little-endian bytes of s: a view on little-endian
// hosts, a copy elsewhere.
func bytesOf[T uint8 | uint32 | int32 | float32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(s[0]))
	if littleEndian || size == 1 {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*size)
	}
	out := make([]byte, len(s)*size)
	for i := range s {
		binary.LittleEndian.PutUint32(out[i*4:], *(*uint32)(unsafe.Pointer(&s[i])))
	}
	return out
}

// viewAs returns b as []T: a view when the host is little-endian and b is
// aligned, a decoded copy otherwise.
func viewAs[T uint8 | uint32 | int32 | float32](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := len(b) / size
	if n == 0 {
		return []T{}
	}
	if size == 1 || littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(size) == 0 {
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
	}
	out := make([]T, n)
	for i := range out {
		*(*uint32)(unsafe.Pointer(&out[i])) = binary.LittleEndian.Uint32(b[i*4:])
	}
	return out
}
