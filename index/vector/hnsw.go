package vector

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// graph is a hierarchical navigable small world graph (Malkov & Yashunin,
// 2016) over the index's rows, similarity = dot product.
//
// Written here rather than taken from github.com/coder/hnsw (not
// benchmarked here): that package keeps each node's neighbours in a Go map of
// pointers per layer and computes distances through a generic function, so
// every hop chases pointers and hashes; this one keeps layer 0 in one flat
// array of ids, scores with the SIMD kernels on the index's own rows (int8
// codes during traversal, float32 for the final candidates and for link
// selection), pools its visited sets, and persists as plain arrays.
//
// Layout: layer 0 holds m0+1 uint32 a node (the count, then the ids);
// nodes above layer 0 have level·(m+1) more in upper, from upperIdx.
type graph struct {
	d        *rowData // the rows: the index's own, or a build's frozen view
	efc      int      // efConstruction
	m, m0    int
	ml       float64
	levels   []uint8
	links0   []uint32
	upperIdx []int32 // -1 for nodes on layer 0 only
	upper    []uint32
	entry    uint32
	maxLevel int
	empty    bool

	rng   *rand.Rand
	mu    sync.Mutex   // entry and maxLevel during a parallel build
	locks []sync.Mutex // one per node during a parallel build; nil otherwise
}

const maxGraphLevel = 31

func newGraph(d *rowData, opts Options) *graph {
	m := opts.M
	return &graph{
		d: d, efc: opts.EfConstruction, m: m, m0: 2 * m, ml: 1 / math.Log(float64(m)), empty: true,
		rng: rand.New(rand.NewPCG(opts.Seed, 0x6b656675)),
	}
}

func (g *graph) memoryBytes() int64 {
	return int64(cap(g.levels)) + 4*int64(cap(g.links0)+cap(g.upperIdx)+cap(g.upper))
}

// block returns node's list at level: the count followed by the slots.
func (g *graph) block(node uint32, level int) []uint32 {
	if level == 0 {
		i := int(node) * (g.m0 + 1)
		return g.links0[i : i+g.m0+1 : i+g.m0+1]
	}
	i := int(g.upperIdx[node]) + (level-1)*(g.m+1)
	return g.upper[i : i+g.m+1 : i+g.m+1]
}

func (g *graph) neighbours(node uint32, level int) []uint32 {
	b := g.block(node, level)
	return b[1 : 1+b[0]]
}

// grow adds nodes up to n with fresh random levels.
func (g *graph) grow(n int) {
	for len(g.levels) < n {
		lv := min(int(-math.Log(1-g.rng.Float64())*g.ml), maxGraphLevel)
		g.levels = append(g.levels, uint8(lv))
		g.links0 = append(g.links0, make([]uint32, g.m0+1)...)
		if lv == 0 {
			g.upperIdx = append(g.upperIdx, -1)
			continue
		}
		g.upperIdx = append(g.upperIdx, int32(len(g.upper)))
		g.upper = append(g.upper, make([]uint32, lv*(g.m+1))...)
	}
}

// cand is a node and its similarity to the query.
type cand struct {
	sim float32
	id  uint32
}

// hnswScratch is one search's working memory.
type hnswScratch struct {
	marks []uint32 // visited when marks[i] == epoch
	epoch uint32
	cands []cand // min-heap on -sim: the next node to expand
	res   []cand // min-heap: the ef best allowed nodes
	nbuf  []uint32
	ids   []uint32
	sc    []float32 // the similarities of ids
	sel   []cand

	// The query: float32, and int8 when approx (search with codes).
	q      []float32
	q8     []int8
	qs     float32
	corr   int32
	approx bool
	acc    [1]int32 // the int8 kernel's output; a local escapes through the kernel variable
	accs   []int32  // the gather kernel's output
}

// setQuery sets the query of the next searches; with approx they score
// rows by their int8 codes, a quarter of the memory traffic of the float32
// rows, and search rescores the final candidates exactly.
func (s *hnswScratch) setQuery(d *rowData, q []float32, approx bool) {
	s.q, s.approx = q, approx
	if approx {
		s.q8 = slices.Grow(s.q8[:0], d.stride)[:d.stride]
		s.qs, s.corr = quantizeQuery(q, s.q8)
	}
}

// rescore replaces approximate similarities in cs by exact ones.
func (s *hnswScratch) rescore(d *rowData, cs []cand) []cand {
	if s.approx {
		for i, c := range cs {
			cs[i].sim = dotKernel(s.q, d.row(c.id))
		}
	}
	return cs
}

// sims sets out[i] to the similarity of row ids[i] to the query; with
// approx, in one call of the gather kernel, which overlaps the rows' cache
// misses.
func (s *hnswScratch) sims(d *rowData, ids []uint32, out []float32) {
	if !s.approx {
		for i, id := range ids {
			out[i] = dotKernel(s.q, d.row(id))
		}
		return
	}
	s.accs = slices.Grow(s.accs[:0], len(ids))[:len(ids)]
	gatherKernel(s.q8, d.codes, d.stride, ids, s.accs)
	for i, id := range ids {
		out[i] = float32(s.accs[i]-s.corr) * d.scales[id] * s.qs
	}
}

// sim scores row id against the query.
func (s *hnswScratch) sim(d *rowData, id uint32) float32 {
	if !s.approx {
		return dotKernel(s.q, d.row(id))
	}
	i := int(id) * d.stride
	codeKernel(s.q8, d.codes[i:i+d.stride], d.stride, s.acc[:])
	return float32(s.acc[0]-s.corr) * d.scales[id] * s.qs
}

func (s *hnswScratch) start(n int) {
	if len(s.marks) < n {
		s.marks = make([]uint32, n+n/4)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.marks)
		s.epoch = 1
	}
	s.cands, s.res = s.cands[:0], s.res[:0]
}

func (s *hnswScratch) visit(id uint32) bool {
	if s.marks[id] == s.epoch {
		return false
	}
	s.marks[id] = s.epoch
	return true
}

// search returns the ef nearest rows to q that are live and allowed (nil:
// all), best first, in s.res (valid until s is used again).
func (g *graph) search(q []float32, ef int, allow *Bitset, s *hnswScratch) []cand {
	if g.empty {
		return nil
	}
	s.start(len(g.levels))
	s.setQuery(g.d, q, g.d.codes != nil)
	ep := cand{s.sim(g.d, g.entry), g.entry}
	for l := g.maxLevel; l > 0; l-- {
		ep = g.greedy(ep, l, false, s)
	}
	ok := func(id uint32) bool {
		lab := g.d.labels[id]
		return lab != noLabel && (allow == nil || allow.Has(lab))
	}
	res := s.rescore(g.d, g.searchLayer([]cand{ep}, ef, 0, ok, false, s))
	slices.SortFunc(res, func(a, b cand) int { return cmp.Compare(b.sim, a.sim) })
	return res
}

// greedy walks from ep to the most similar node reachable at level.
func (g *graph) greedy(ep cand, level int, locked bool, s *hnswScratch) cand {
	for changed := true; changed; {
		changed = false
		ns := g.links(ep.id, level, locked, s)
		s.sc = slices.Grow(s.sc[:0], len(ns))[:len(ns)]
		s.sims(g.d, ns, s.sc)
		for i, n := range ns {
			if v := s.sc[i]; v > ep.sim {
				ep, changed = cand{v, n}, true
			}
		}
	}
	return ep
}

// links returns node's neighbours at level; during a parallel build a copy
// taken under the node's lock.
func (g *graph) links(node uint32, level int, locked bool, s *hnswScratch) []uint32 {
	if !locked {
		return g.neighbours(node, level)
	}
	g.locks[node].Lock()
	s.nbuf = append(s.nbuf[:0], g.neighbours(node, level)...)
	g.locks[node].Unlock()
	return s.nbuf
}

// searchLayer is the beam search of one layer from eps: it expands nodes in
// order of similarity through every node, allowed or not, and keeps the ef
// best that ok accepts. It returns them unordered in s.res.
func (g *graph) searchLayer(eps []cand, ef, level int, ok func(uint32) bool, locked bool, s *hnswScratch) []cand {
	s.cands, s.res = s.cands[:0], s.res[:0]
	for _, e := range eps {
		s.visit(e.id)
		s.cands = pushMin(s.cands, cand{-e.sim, e.id})
		if ok(e.id) {
			s.res = pushMin(s.res, e)
		}
	}
	for len(s.cands) > 0 {
		var c cand
		c, s.cands = popMin(s.cands)
		if len(s.res) >= ef && -c.sim < s.res[0].sim {
			break
		}
		// Score the unvisited neighbours in one loop of independent dot
		// products, so the CPU overlaps their cache misses.
		s.ids = s.ids[:0]
		for _, n := range g.links(c.id, level, locked, s) {
			if s.visit(n) {
				s.ids = append(s.ids, n)
			}
		}
		s.sc = slices.Grow(s.sc[:0], len(s.ids))[:len(s.ids)]
		s.sims(g.d, s.ids, s.sc)
		for i, n := range s.ids {
			v := s.sc[i]
			if len(s.res) < ef || v > s.res[0].sim {
				s.cands = pushMin(s.cands, cand{-v, n})
				if ok(n) {
					s.res = pushMin(s.res, cand{v, n})
					if len(s.res) > ef {
						_, s.res = popMin(s.res)
					}
				}
			}
		}
	}
	return s.res
}

// selectNeighbours keeps up to m of cs (sorted best first) by the heuristic
// of the HNSW paper: a candidate is kept only if it is more similar to the
// base than to every candidate kept before it, which spreads the links over
// directions instead of one cluster.
func (g *graph) selectNeighbours(cs []cand, m int, out []cand) []cand {
	out = out[:0]
	for _, c := range cs {
		if len(out) >= m {
			break
		}
		keep := true
		for _, o := range out {
			if dotKernel(g.d.row(c.id), g.d.row(o.id)) > c.sim {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

func (g *graph) maxLinks(level int) int {
	if level == 0 {
		return g.m0
	}
	return g.m
}

// insert links node, whose level is set and whose lists are empty.
func (g *graph) insert(node uint32, locked bool, s *hnswScratch) {
	q := g.d.row(node)
	level := int(g.levels[node])
	if locked {
		g.mu.Lock()
	}
	entry, maxLevel, empty := g.entry, g.maxLevel, g.empty
	if empty {
		g.entry, g.maxLevel, g.empty = node, level, false
	}
	if locked {
		g.mu.Unlock()
	}
	if empty {
		return
	}
	s.start(len(g.levels))
	s.visit(node)
	s.setQuery(g.d, q, g.d.codes != nil)
	ep := cand{s.sim(g.d, entry), entry}
	for l := maxLevel; l > level; l-- {
		ep = g.greedy(ep, l, locked, s)
	}
	live := func(id uint32) bool { return g.d.labels[id] != noLabel }
	eps := []cand{ep}
	for l := min(level, maxLevel); l >= 0; l-- {
		s.start(len(g.levels))
		s.visit(node)
		found := g.searchLayer(eps, g.efc, l, live, locked, s)
		if len(found) == 0 {
			continue
		}
		eps = slices.Clone(found)
		// Links are chosen on exact similarities.
		found = s.rescore(g.d, slices.Clone(found))
		slices.SortFunc(found, func(a, b cand) int { return cmp.Compare(b.sim, a.sim) })
		s.sel = g.selectNeighbours(found, g.m, s.sel)
		g.setLinks(node, l, s.sel, locked)
		for _, n := range s.sel {
			g.addLink(n.id, node, n.sim, l, locked, s)
		}
	}
	if level > maxLevel {
		if locked {
			g.mu.Lock()
		}
		if level > g.maxLevel {
			g.entry, g.maxLevel = node, level
		}
		if locked {
			g.mu.Unlock()
		}
	}
}

func (g *graph) setLinks(node uint32, level int, cs []cand, locked bool) {
	if locked {
		g.locks[node].Lock()
		defer g.locks[node].Unlock()
	}
	b := g.block(node, level)
	b[0] = uint32(len(cs))
	for i, c := range cs {
		b[1+i] = c.id
	}
}

// addLink adds the link from → to (similarity sim) at level, pruning from's
// list with the heuristic when it is full.
func (g *graph) addLink(from, to uint32, sim float32, level int, locked bool, s *hnswScratch) {
	if locked {
		g.locks[from].Lock()
		defer g.locks[from].Unlock()
	}
	b := g.block(from, level)
	n := int(b[0])
	if slices.Contains(b[1:1+n], to) {
		return
	}
	if n < len(b)-1 {
		b[1+n] = to
		b[0]++
		return
	}
	g.reselect(from, level, append(b[1:1+n:1+n], to), s)
}

// reselect sets node's list at level to the heuristic's choice among ids.
func (g *graph) reselect(node uint32, level int, ids []uint32, s *hnswScratch) {
	base := g.d.row(node)
	cs := make([]cand, 0, len(ids))
	for _, id := range ids {
		if id != node {
			cs = append(cs, cand{dotKernel(base, g.d.row(id)), id})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(b.sim, a.sim) })
	cs = slices.CompactFunc(cs, func(a, b cand) bool { return a.id == b.id })
	var sel []cand
	sel = g.selectNeighbours(cs, g.maxLinks(level), sel)
	b := g.block(node, level)
	b[0] = uint32(len(sel))
	for i, c := range sel {
		b[1+i] = c.id
	}
}

// insertMany adds rows (new, in order) to the graph, on several goroutines
// with per-node locks when there are enough of them. It returns early,
// leaving some rows out, once stop (if not nil) is set.
func (g *graph) insertMany(rows []uint32, workers int, stop *atomic.Bool, s *hnswScratch) {
	if len(rows) == 0 {
		return
	}
	g.grow(int(rows[len(rows)-1]) + 1)
	stopped := func() bool { return stop != nil && stop.Load() }
	if s == nil {
		s = new(hnswScratch)
	}
	i := 0
	// The first thousand nodes of a graph go in one at a time: concurrent
	// inserts into a graph of a few nodes would link them poorly. A build's
	// later rounds add to a graph that has them already.
	serial := 1000
	for n := 0; n < int(rows[0]) && serial > 0; n++ {
		if g.block(uint32(n), 0)[0] > 0 || (!g.empty && uint32(n) == g.entry) {
			serial--
		}
	}
	for ; i < len(rows) && (i < serial || workers <= 1 || len(rows) < 2000); i++ {
		if stopped() {
			return
		}
		g.insert(rows[i], false, s)
	}
	if i == len(rows) {
		return
	}
	g.locks = make([]sync.Mutex, len(g.levels))
	var next atomic.Int64
	next.Store(int64(i))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var s hnswScratch
			for !stopped() {
				j := int(next.Add(1) - 1)
				if j >= len(rows) {
					return
				}
				g.insert(rows[j], true, &s)
			}
		})
	}
	wg.Wait()
	g.locks = nil
}

// replace relinks row, freed and now holding a new vector: its old
// neighbours are relinked among themselves and its own (and the other
// neighbours') links to it dropped, then it is inserted afresh at its old
// level. Links to it from nodes outside its old neighbourhood remain, as
// long-range links.
func (g *graph) replace(row uint32, s *hnswScratch) {
	level := int(g.levels[row])
	for l := 0; l <= level; l++ {
		old := slices.Clone(g.neighbours(row, l))
		for _, n := range old {
			if !slices.Contains(g.neighbours(n, l), row) {
				continue
			}
			ids := append(slices.Clone(g.neighbours(n, l)), old...)
			ids = slices.DeleteFunc(ids, func(id uint32) bool { return id == row })
			g.reselect(n, l, ids, s)
		}
		g.block(row, l)[0] = 0
	}
	if g.entry == row {
		// The new entry is the highest node with links: nodes of rows
		// that were free when the graph was built have none.
		g.empty = true
		for n, lv := range g.levels {
			if uint32(n) != row && g.block(uint32(n), 0)[0] > 0 && (g.empty || int(lv) > g.maxLevel) {
				g.entry, g.maxLevel, g.empty = uint32(n), int(lv), false
			}
		}
	}
	g.insert(row, false, s)
}

func pushMin(h []cand, c cand) []cand {
	h = append(h, c)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !(h[i].sim < h[p].sim) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func popMin(h []cand) (cand, []cand) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].sim < h[l].sim {
			m = r
		}
		if !(h[m].sim < h[i].sim) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top, h
}
