package vector

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/kefu-dev/kefu"
)

// Search modes.
const (
	ModeAuto = "auto" // flat, then int8, then HNSW as the index grows
	ModeFlat = "flat" // exact float32 scan
	ModeInt8 = "int8" // int8 scan, float32 rescoring of the best candidates
	ModeHNSW = "hnsw" // HNSW graph
)

// Defaults of Options.
const (
	// DefaultHNSWMin is where auto mode switches to HNSW: below it the int8
	// scan (about 1 ms per 100k 384-d vectors on one core of the
	// development machine) stays under a few milliseconds and is exact up
	// to its ≥ 0.99 recall; above it the graph answers in well under a
	// millisecond at recall ≥ 0.95 and its build cost pays off.
	DefaultHNSWMin = 200_000
	// DefaultInt8Min is where auto mode moves from the exact float32 scan
	// to the int8 scan: below it the exact scan takes under about 2 ms.
	DefaultInt8Min = 50_000
	// DefaultM and DefaultEfConstr: on 40,960 real sentence embeddings
	// (use-lite-en, kefu-bench hnsw --data real) M 24 with efConstruction
	// 200 reached recall@10 0.984 at ef 100 where M 16 with 100 needed ef
	// 150 for 0.983, at 1.5–2× the build time and 64 more bytes a node.
	DefaultM        = 24
	DefaultEfConstr = 200
	// DefaultEfSearch: on 1M clustered 384-d vectors (kefu-bench hnsw, M 16,
	// efConstruction 100) ef 128 gave recall@10 0.958, ef 200 0.974, ef 256
	// 0.984, each at a p50 of 0.5–0.7 ms on one busy core.
	DefaultEfSearch = 200
	// DefaultRescore: the int8 scan rescores max(Rescore, 4k) labels.
	DefaultRescore = 64
)

// compactShare is the share of dead rows at which Delete compacts.
const compactShare = 0.25

// Options configure an Index. Zero fields take the defaults above.
type Options struct {
	Dim            int    `json:"dim"`
	Mode           string `json:"mode"`     // ModeAuto (default), ModeFlat, ModeInt8 or ModeHNSW
	HNSWMin        int    `json:"hnsw_min"` // auto: switch to HNSW at this many live vectors
	Int8Min        int    `json:"int8_min"` // auto: switch from flat to int8 at this many live vectors
	M              int    `json:"m"`        // HNSW: links a node per upper layer; 2M on layer 0
	EfConstruction int    `json:"ef_construction"`
	EfSearch       int    `json:"ef_search"` // HNSW: candidate list size of a search (at least k)
	Rescore        int    `json:"rescore"`   // int8: rescore max(Rescore, 4k) labels with float32
	Workers        int    `json:"workers"`   // HNSW build goroutines; default GOMAXPROCS
	Seed           uint64 `json:"seed"`      // HNSW level draws
}

func (o *Options) fill() error {
	if o.Dim <= 0 || o.Dim > 1<<16 {
		return kefu.Errorf(kefu.EINVALID, "vector: dimension %d out of range", o.Dim)
	}
	switch o.Mode {
	case "":
		o.Mode = ModeAuto
	case ModeAuto, ModeFlat, ModeInt8, ModeHNSW:
	default:
		return kefu.Errorf(kefu.EINVALID, "vector: unknown mode %q", o.Mode)
	}
	def(&o.HNSWMin, DefaultHNSWMin)
	def(&o.Int8Min, DefaultInt8Min)
	def(&o.M, DefaultM)
	def(&o.EfConstruction, DefaultEfConstr)
	def(&o.EfSearch, DefaultEfSearch)
	def(&o.Rescore, DefaultRescore)
	def(&o.Workers, runtime.GOMAXPROCS(0))
	o.M = min(max(o.M, 2), 128)
	o.EfConstruction = max(o.EfConstruction, o.M)
	return nil
}

// def sets *v to d unless it is positive.
func def[T int | float64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

const (
	noLabel = math.MaxUint32 // labels[row] of a free row
	noRow   = math.MaxUint32 // end of a label's chain
)

// Index holds unit vectors under labels and finds the labels nearest a
// query. Any number of Search calls may run at once; Add, Delete and Save
// need exclusive access (from searches and from each other). Close,
// Building and WaitBuilt may be called at any time.
//
// Rows are stored contiguously (row-major float32, plus int8 codes in the
// auto and int8 modes). A label's rows form a chain through next. Delete
// frees rows, Add reuses free rows first, and when a quarter of the rows
// are free Delete compacts them away (and the HNSW graph, if any, is
// rebuilt in the background: build.go). In HNSW mode a freed row stays in
// the graph as a tombstone that searches pass through but never return,
// until Add reuses it: the row's old neighbours are relinked among
// themselves and the row is inserted afresh.
type Index struct {
	opts Options
	rowData
	next  []uint32 // row → next row of its label; noRow at the end
	heads map[uint32]uint32
	free  []uint32
	live  int
	multi int // labels holding more than one vector

	// g is the graph searches use, nil when there is none (also while
	// one is being built). Only its build's goroutine stores a new graph
	// while other methods run; it does so holding mu.
	g atomic.Pointer[graph]

	// mu is held by Add, Delete, Close and a build's goroutine when it
	// takes the rows' state; the build fields below are under it.
	mu       sync.Mutex
	bld      *build   // the build in progress, or nil
	frozenTo int      // while bld runs, rows below it do not change
	held     []uint32 // free rows below frozenTo, reused once the build ends
	building atomic.Bool
	closed   bool // Close was called: no more builds

	pool sync.Pool // *scratch
}

// rowData is the row arrays searches and graphs read: the index's own, or
// during a build a frozen view of them (build.go).
type rowData struct {
	dim    int
	stride int
	vecs   []float32
	codes  []uint8   // nil when not kept
	scales []float32 // code scale of each row
	labels []uint32  // row → label; noLabel if free
}

// New returns an empty index.
func New(opts Options) (*Index, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	ix := &Index{opts: opts, rowData: rowData{dim: opts.Dim, stride: codeStride(opts.Dim)}, heads: map[uint32]uint32{}}
	if opts.Mode == ModeHNSW {
		ix.g.Store(newGraph(&ix.rowData, opts))
	}
	return ix, nil
}

// keepsCodes reports whether the int8 codes are maintained: all modes but
// flat use them (HNSW for its traversal, which measured 15–20% faster on
// codes than on float32 rows at equal recall).
func (ix *Index) keepsCodes() bool {
	return ix.opts.Mode != ModeFlat
}

// Mode returns the search in use now: ModeFlat, ModeInt8 or ModeHNSW. An
// index that wants a graph searches by int8 scan until it has one.
func (ix *Index) Mode() string { return ix.modeOf(ix.g.Load()) }

func (ix *Index) modeOf(g *graph) string {
	switch {
	case g != nil:
		return ModeHNSW
	case ix.opts.Mode == ModeInt8, ix.opts.Mode == ModeHNSW, ix.opts.Mode == ModeAuto && ix.live >= ix.opts.Int8Min:
		return ModeInt8
	}
	return ModeFlat
}

// Options returns the index's options, defaults filled in.
func (ix *Index) Options() Options { return ix.opts }

// SetEfSearch sets the candidate list size of HNSW searches (at least k is
// used). Like Add, it needs exclusive access.
func (ix *Index) SetEfSearch(ef int) {
	if ef > 0 {
		ix.opts.EfSearch = ef
	}
}

// GraphBytes returns the bytes held by the HNSW graph in use (0 when
// there is none): the part of MemoryBytes the graph adds to the vectors.
func (ix *Index) GraphBytes() int64 {
	if g := ix.g.Load(); g != nil {
		return g.memoryBytes()
	}
	return 0
}

// Dim returns the vectors' dimension.
func (ix *Index) Dim() int { return ix.dim }

// Len returns the number of live vectors.
func (ix *Index) Len() int { return ix.live }

// Labels returns the number of live labels.
func (ix *Index) Labels() int { return len(ix.heads) }

// Has reports whether label holds vectors.
func (ix *Index) Has(label uint32) bool {
	_, ok := ix.heads[label]
	return ok
}

// Vectors returns copies of label's vectors, most recently added first.
func (ix *Index) Vectors(label uint32) [][]float32 {
	head, ok := ix.heads[label]
	if !ok {
		return nil
	}
	var out [][]float32
	for r := head; r != noRow; r = ix.next[r] {
		out = append(out, slices.Clone(ix.row(r)))
	}
	return out
}

// MemoryBytes returns the bytes held by the index's arrays (vectors, codes,
// graph in use and bookkeeping; map overhead estimated). A graph being
// built is not counted.
func (ix *Index) MemoryBytes() int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	b := 4*int64(cap(ix.vecs)) + int64(cap(ix.codes)) + 4*int64(cap(ix.scales)+cap(ix.labels)+cap(ix.next)+cap(ix.free)+cap(ix.held))
	b += 16 * int64(len(ix.heads))
	if g := ix.g.Load(); g != nil {
		b += g.memoryBytes()
	}
	return b
}

// Add stores vecs under label, next to any vectors it already holds; search
// scores a label by its best vector. Each vector must have the index's
// dimension and finite components (unit length is the caller's contract).
func (ix *Index) Add(label uint32, vecs ...[]float32) error {
	if label == noLabel {
		return kefu.Errorf(kefu.EINVALID, "vector: label %d is reserved", label)
	}
	for _, v := range vecs {
		if len(v) != ix.dim {
			return kefu.Errorf(kefu.EINVALID, "vector: got a %d-dimensional vector, the index holds %d", len(v), ix.dim)
		}
		if !finite(v) {
			return kefu.Errorf(kefu.EINVALID, "vector: vector of label %d has a NaN or infinite component", label)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var fresh, reused []uint32
	for _, v := range vecs {
		row, isNew := ix.allocRow()
		ix.writeRow(row, label, v)
		if isNew {
			fresh = append(fresh, row)
		} else {
			reused = append(reused, row)
		}
	}
	if g := ix.g.Load(); g != nil {
		// A pooled scratch keeps its visited marks: a fresh one allocates
		// and clears one per node of the graph, every Add.
		s := ix.getScratch()
		defer ix.pool.Put(s)
		for _, row := range reused {
			g.replace(row, &s.hs)
		}
		g.insertMany(fresh, ix.opts.Workers, nil, &s.hs)
	} else if ix.opts.Mode == ModeAuto && ix.live >= ix.opts.HNSWMin {
		ix.startBuild() // unless one runs already
	}
	return nil
}

// allocRow returns a free row, or a new one at the end. (While a build
// runs, free holds only rows at or above frozenTo.)
func (ix *Index) allocRow() (row uint32, isNew bool) {
	if n := len(ix.free); n > 0 {
		row = ix.free[n-1]
		ix.free = ix.free[:n-1]
		return row, false
	}
	row = uint32(len(ix.labels))
	ix.vecs = append(ix.vecs, make([]float32, ix.dim)...)
	if ix.keepsCodes() {
		ix.codes = append(ix.codes, make([]uint8, ix.stride)...)
	}
	ix.scales = append(ix.scales, 0)
	ix.labels = append(ix.labels, noLabel)
	ix.next = append(ix.next, noRow)
	return row, true
}

func (ix *Index) writeRow(row, label uint32, v []float32) {
	r := int(row)
	copy(ix.vecs[r*ix.dim:(r+1)*ix.dim], v)
	if ix.codes != nil {
		ix.scales[r] = quantize(v, ix.codes[r*ix.stride:(r+1)*ix.stride])
	}
	ix.labels[r] = label
	ix.link(row, label)
}

// link puts row at the head of label's chain.
func (ix *Index) link(row, label uint32) {
	head, ok := ix.heads[label]
	if !ok {
		head = noRow
	} else if ix.next[head] == noRow {
		ix.multi++
	}
	ix.next[row] = head
	ix.heads[label] = row
	ix.live++
}

// Delete removes every vector of label.
func (ix *Index) Delete(label uint32) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	head, ok := ix.heads[label]
	if !ok {
		return
	}
	if ix.next[head] != noRow {
		ix.multi--
	}
	for row := head; row != noRow; {
		nx := ix.next[row]
		ix.labels[row], ix.next[row] = noLabel, noRow
		if ix.bld != nil && int(row) < ix.frozenTo {
			ix.held = append(ix.held, row)
		} else {
			ix.free = append(ix.free, row)
		}
		ix.live--
		row = nx
	}
	delete(ix.heads, label)
	if ix.opts.Mode == ModeAuto && ix.live < ix.opts.HNSWMin/2 {
		ix.stopBuild()
		ix.g.Store(nil)
	}
	if free := len(ix.free) + len(ix.held); float64(free) > compactShare*float64(len(ix.labels)) && free >= 64 {
		ix.compact()
	}
}

// compact moves the live rows down over the free ones, keeping their order.
// A graph in use or being built is dropped (its row numbers no longer hold)
// and built again over the new rows in the background.
func (ix *Index) compact() {
	rebuild := ix.bld != nil || ix.g.Load() != nil
	ix.stopBuild()
	ix.g.Store(nil)
	dim, stride := ix.dim, ix.stride
	n := 0
	for r, lab := range ix.labels {
		if lab == noLabel {
			continue
		}
		if r != n {
			copy(ix.vecs[n*dim:(n+1)*dim], ix.vecs[r*dim:(r+1)*dim])
			if ix.codes != nil {
				copy(ix.codes[n*stride:(n+1)*stride], ix.codes[r*stride:(r+1)*stride])
			}
			ix.scales[n], ix.labels[n] = ix.scales[r], lab
		}
		n++
	}
	ix.vecs = shrink(ix.vecs, n*dim)
	if ix.codes != nil {
		ix.codes = shrink(ix.codes, n*stride)
	}
	ix.scales = shrink(ix.scales, n)
	ix.labels = shrink(ix.labels, n)
	ix.next = shrink(ix.next, n)
	ix.free = nil
	ix.relink()
	if rebuild {
		ix.startBuild()
	}
}

// shrink returns s[:n], copied into a smaller array when that frees at
// least half of it.
func shrink[T any](s []T, n int) []T {
	if cap(s) > 2*n+1024 {
		return append(make([]T, 0, n), s[:n]...)
	}
	return s[:n]
}

// relink rebuilds heads, next, free and the counts from labels.
func (ix *Index) relink() {
	ix.heads = make(map[uint32]uint32, len(ix.labels))
	ix.free, ix.live, ix.multi = ix.free[:0], 0, 0
	if len(ix.next) != len(ix.labels) {
		ix.next = make([]uint32, len(ix.labels))
	}
	for r := len(ix.labels) - 1; r >= 0; r-- {
		lab := ix.labels[r]
		if lab == noLabel {
			ix.next[r] = noRow
			ix.free = append(ix.free, uint32(r))
			continue
		}
		ix.link(uint32(r), lab)
	}
}

// row returns the vector of row r.
func (d *rowData) row(r uint32) []float32 {
	i := int(r) * d.dim
	return d.vecs[i : i+d.dim : i+d.dim]
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
