package vector

import "slices"

// scanBlock is the rows scored per kernel call: enough to amortise the call,
// few enough that the scores stay in L1.
const scanBlock = 256

// scratch is the per-search working memory, pooled.
type scratch struct {
	scores []float32
	acc    []int32
	q8     []int8
	top    topK
	cand   topK
	hs     hnswScratch
}

func (ix *Index) getScratch() *scratch {
	s, _ := ix.pool.Get().(*scratch)
	if s == nil {
		s = &scratch{scores: make([]float32, scanBlock), acc: make([]int32, scanBlock)}
	}
	return s
}

// Search returns the k best distinct labels for q, best first, scored by
// each label's best vector. allow (nil for all) is applied inside the
// search: the result holds k allowed labels whenever k exist. A query of
// the wrong dimension or with NaN or infinite components finds nothing.
func (ix *Index) Search(q []float32, k int, allow *Bitset) []Result {
	if k <= 0 || len(q) != ix.dim || ix.live == 0 || !finite(q) {
		return nil
	}
	if allow != nil && allow.Len() == 0 {
		return nil
	}
	s := ix.getScratch()
	defer ix.pool.Put(s)
	g := ix.g.Load() // one graph for the whole search
	mode := ix.modeOf(g)
	if allow != nil && ix.fewAllowed(allow, mode) {
		return ix.searchLabels(q, k, allow, s)
	}
	switch mode {
	case ModeHNSW:
		return ix.searchHNSW(g, q, k, allow, s)
	case ModeInt8:
		return ix.searchInt8(q, k, allow, s)
	}
	return ix.searchFlat(q, k, allow, s)
}

// SearchExact returns the k best labels for q by scanning every float32
// row, whatever the index's mode: the ground truth that the int8 scan's
// and the graph's recall are measured against.
func (ix *Index) SearchExact(q []float32, k int, allow *Bitset) []Result {
	if k <= 0 || len(q) != ix.dim || ix.live == 0 || !finite(q) {
		return nil
	}
	s := ix.getScratch()
	defer ix.pool.Put(s)
	return ix.searchFlat(q, k, allow, s)
}

// SearchInt8 returns the k best labels for q by the int8 scan with float32
// rescoring, whatever the index's mode; an index in flat mode keeps no
// codes and finds nothing.
func (ix *Index) SearchInt8(q []float32, k int, allow *Bitset) []Result {
	if k <= 0 || len(q) != ix.dim || ix.live == 0 || !finite(q) || ix.codes == nil {
		return nil
	}
	s := ix.getScratch()
	defer ix.pool.Put(s)
	return ix.searchInt8(q, k, allow, s)
}

// Recall is the share of want's labels that got holds: a search's recall
// against the exact one (1 when want is empty).
func Recall(got, want []Result) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, w := range want {
		if slices.ContainsFunc(got, func(g Result) bool { return g.Label == w.Label }) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// fewAllowed reports whether scoring the allowed labels' rows one by one
// beats the mode's own search. Random rows cost about what streamed rows
// do, so against the float32 scan the break-even is near a quarter of the
// rows, against the int8 scan near a sixteenth; a filtered HNSW search
// visits about ef/p nodes for an allowed share p, which at 1M rows and the
// default ef loses to the exact pass below a twentieth of the rows.
func (ix *Index) fewAllowed(allow *Bitset, mode string) bool {
	rows := float64(allow.Len()) * float64(ix.live) / float64(max(len(ix.heads), 1))
	switch mode {
	case ModeHNSW:
		return rows <= float64(ix.live)/20
	case ModeInt8:
		return rows <= float64(ix.live)/16
	}
	return rows <= float64(ix.live)/4
}

// searchFlat is the exact scan.
func (ix *Index) searchFlat(q []float32, k int, allow *Bitset, s *scratch) []Result {
	top := &s.top
	top.reset(k, ix.multi > 0)
	thr := top.threshold()
	n := len(ix.labels)
	for r0 := 0; r0 < n; r0 += scanBlock {
		m := min(scanBlock, n-r0)
		sc := s.scores[:m]
		scanKernel(q, ix.vecs[r0*ix.dim:(r0+m)*ix.dim], sc)
		labels := ix.labels[r0 : r0+m]
		for i, v := range sc {
			if v > thr {
				lab := labels[i]
				if lab == noLabel || allow != nil && !allow.Has(lab) {
					continue
				}
				top.push(lab, v)
				thr = top.threshold()
			}
		}
	}
	return top.sorted()
}

// searchInt8 ranks labels by the int8 scan, then rescores the best
// max(Rescore, 4k) of them exactly over all their vectors.
func (ix *Index) searchInt8(q []float32, k int, allow *Bitset, s *scratch) []Result {
	if cap(s.q8) < ix.stride {
		s.q8 = make([]int8, ix.stride)
	}
	q8 := s.q8[:ix.stride]
	qs, corr := quantizeQuery(q, q8)
	cand := &s.cand
	cand.reset(max(ix.opts.Rescore, 4*k), ix.multi > 0)
	thr := cand.threshold()
	n := len(ix.labels)
	for r0 := 0; r0 < n; r0 += scanBlock {
		m := min(scanBlock, n-r0)
		acc := s.acc[:m]
		codeKernel(q8, ix.codes[r0*ix.stride:(r0+m)*ix.stride], ix.stride, acc)
		labels := ix.labels[r0 : r0+m]
		scales := ix.scales[r0 : r0+m]
		for i, a := range acc {
			v := float32(a-corr) * scales[i] * qs
			if v > thr {
				lab := labels[i]
				if lab == noLabel || allow != nil && !allow.Has(lab) {
					continue
				}
				cand.push(lab, v)
				thr = cand.threshold()
			}
		}
	}
	top := &s.top
	top.reset(k, false)
	for _, c := range cand.heap {
		top.push(c.Label, ix.bestOf(q, c.Label))
	}
	return top.sorted()
}

// searchLabels scores every vector of the allowed labels.
func (ix *Index) searchLabels(q []float32, k int, allow *Bitset, s *scratch) []Result {
	top := &s.top
	top.reset(k, false)
	allow.each(func(label uint32) bool {
		if _, ok := ix.heads[label]; ok {
			top.push(label, ix.bestOf(q, label))
		}
		return true
	})
	return top.sorted()
}

// bestOf returns the best score of label's vectors for q.
func (ix *Index) bestOf(q []float32, label uint32) float32 {
	head, ok := ix.heads[label]
	if !ok {
		return float32(-2)
	}
	best := dotKernel(q, ix.row(head))
	for r := ix.next[head]; r != noRow; r = ix.next[r] {
		best = max(best, dotKernel(q, ix.row(r)))
	}
	return best
}

// searchHNSW searches g, the index's graph, with ef = max(EfSearch, k); when the ef
// nearest allowed vectors hold fewer than k labels (labels with several
// vectors) it searches again with a larger ef, and when the graph search
// runs dry it falls back to an exact pass.
func (ix *Index) searchHNSW(g *graph, q []float32, k int, allow *Bitset, s *scratch) []Result {
	ef := max(ix.opts.EfSearch, k)
	top := &s.top
	for {
		found := g.search(q, ef, allow, &s.hs)
		top.reset(k, ix.multi > 0)
		for _, c := range found {
			top.push(ix.labels[c.id], c.sim)
		}
		if len(top.heap) >= k {
			return top.sorted()
		}
		if len(found) < ef || ef >= ix.live {
			break
		}
		ef *= 4
	}
	if allow != nil {
		return ix.searchLabels(q, k, allow, s)
	}
	return ix.searchFlat(q, k, nil, s)
}
