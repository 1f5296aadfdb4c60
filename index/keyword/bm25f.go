package keyword

import (
	"cmp"
	"container/heap"
	"context"
	"math"
	"slices"
	"sort"

	segment "github.com/blevesearch/scorch_segment_api/v2"
	zapv17 "github.com/blevesearch/zapx/v17"

	"github.com/kefu-dev/kefu"
)

// eachPosting calls fn with every posting of term in field fp: the global
// document number, the term frequency and 1/(length normalisation). per,
// when not nil, has the term's document frequencies in each segment: the
// segments whose field lacks it are skipped.
func eachPosting(ctx context.Context, sn *snap, s *scratch, fp fieldParams, term []byte, per []termDF, read *int, fn func(d, freq uint64, inv float64)) error {
	for i := range sn.segs {
		if err := eachPostingIn(ctx, sn, s, i, fp, term, per, read, fn); err != nil {
			return err
		}
	}
	return nil
}

// termPostings returns segment i's postings of term in field fp (nil when
// it has none) and, when they are cached or worth caching, the same
// decoded (else nil).
func termPostings(sn *snap, s *scratch, i int, fp fieldParams, term []byte) (segment.PostingsList, *decoded, error) {
	pl, err := sn.postings(i, fp.slot, term, s)
	if err != nil || pl == nil {
		return nil, nil, err
	}
	dec, err := decodedPostings(sn, s, i, fp, term, pl)
	if err != nil {
		return nil, nil, err
	}
	return pl, dec, nil
}

// eachPostingIn is eachPosting in segment i.
func eachPostingIn(ctx context.Context, sn *snap, s *scratch, i int, fp fieldParams, term []byte, per []termDF, read *int, fn func(d, freq uint64, inv float64)) error {
	if per != nil && per[i].field[fp.slot] == 0 {
		return nil
	}
	pl, dec, err := termPostings(sn, s, i, fp, term)
	if err != nil || pl == nil {
		return err
	}
	off, exact := sn.segs[i].offset, sn.segs[i].exactLen
	if dec != nil {
		for j, local := range dec.docs {
			fn(off+uint64(local), uint64(dec.freqs[j]), fp.invOf(uint32(dec.lens[j])))
		}
		*read += len(dec.docs)
		return nil
	}
	s.it = pl.Iterator(true, true, false, s.it)
	zit, _ := s.it.(*zapv17.PostingsIterator)
	for {
		if *read++; *read%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var p segment.Posting
		if zit != nil {
			p, err = zit.Next() // a direct call, not through the interface
		} else {
			p, err = s.it.Next()
		}
		if err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		if p == nil {
			return nil
		}
		d, freq, inv := posting(p, off, exact, fp)
		fn(d, freq, inv)
	}
}

// posting reads a posting: its global document number, frequency and
// 1/(length normalisation).
func posting(p segment.Posting, off uint64, exact bool, fp fieldParams) (d, freq uint64, inv float64) {
	if zp, ok := p.(*zapv17.Posting); ok && exact {
		d, freq = off+zp.Number(), zp.Frequency()
		if l := zp.NormUint64(); l < uint64(len(fp.inv)) {
			return d, freq, fp.inv[l]
		}
		return d, freq, 1 / (fp.norm0 + fp.normL*float64(zp.NormUint64()))
	}
	return off + p.Number(), p.Frequency(), 1 / (fp.norm0 + fp.normL*lenFromNorm(p.Norm()))
}

// boundMargin raises a term's bound from its impacts by more than the
// rounding error of summing its frequencies in another order.
const boundMargin = 1e-9

// maxTF bounds a term's BM25F pseudo-frequency in any document from its
// impacts in each segment (per): the weighted sum over fields of the
// largest length-normalised frequency of each.
func maxTF(fields []fieldParams, per []termDF) float64 {
	tf := 0.0
	for i := range fields {
		fp := &fields[i]
		b := 0.0
		for j := range per {
			b = max(b, per[j].impact[fp.slot].bound(fp))
		}
		tf += fp.weight * b
	}
	return tf
}

// scoreBM25F accumulates the BM25F score of every matching, allowed
// document, term at a time, the terms with the highest upper bound first.
//
// It prunes as MaxScore does (Turtle and Flood, 1995): a term's contribution
// is at most qtf·idf·(k1+1)·T/(T+k1), with the idf of its document
// frequency over the union of the fields and T the largest pseudo-frequency
// its postings allow (maxTF), both read before scoring and cached per
// segment (snap.docFreqs). Once a threshold θ, a score that k documents are known to
// reach, exceeds the bound of all terms still to come, no other document can
// reach the top k; the remaining terms are then scored only for the
// candidates that still can, and a candidate is dropped as soon as its score
// and the bound of the terms left fall below θ, the k-th best score so far.
// The k best documents are kept in a heap as their scores rise (pushTop),
// so θ is known after every term, without a pass over the hits.
// While the candidates are many against the next term's list (a long claim
// at a million chunks keeps 300,000 at first), a gate on the score tells
// them during a pass over each list; once they are few, they are listed and
// found in the postings by skipping. Common terms (single Han characters,
// frequent words) come last and mostly take these paths. The top k and
// their scores are exactly those of the full evaluation.
func (ix *Index) scoreBM25F(ctx context.Context, sn *snap, s *scratch, qts []queryTerm, fields []fieldParams, k int, numer float64, idf func(float64) float64, dfs []int) error {
	k1 := ix.opts.K1
	s.resetTop(k)
	order := make([]int, len(qts))
	rank := make([]float64, len(qts)) // the order's key
	ub := make([]float64, len(qts))   // the bound of a term's contribution
	w := make([]float64, len(qts))    // qtf·idf of the union document frequency
	ns, mask := len(sn.segs), fieldMask(fields)
	per := slices.Grow(s.per[:0], len(qts)*ns)[:len(qts)*ns] // per term, per segment
	s.per = per
	remaining := 0.0
	for i, qt := range qts {
		st, err := sn.docFreqs(mask, []byte(qt.term), s, per[i*ns:(i+1)*ns])
		if err != nil {
			return err
		}
		order[i] = i
		if st.union > 0 {
			// The order is by the idf of the largest per-field frequency,
			// as before the union's was counted up front: a document's
			// contributions are summed in the same order, and its score
			// is the same to the last bit.
			rank[i] = qt.qtf * idf(float64(st.maxField())) * numer
			w[i] = qt.qtf * idf(float64(st.union))
			tf := maxTF(fields, per[i*ns:(i+1)*ns])
			ub[i] = w[i] * numer * min(1, tf/(tf+k1)*(1+boundMargin))
			remaining += ub[i]
		}
		dfs[i] = int(st.union)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rank[b], rank[a]) })

	var (
		pruning bool     // θ exceeds the bound of the terms left: no new hits
		cand    []uint32 // once pruning, the candidates, when listed
		theta   float64
		read    int
	)
	for oi, qi := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ub[qi] == 0 {
			continue // in no field
		}
		// Once pruning, the candidates are the hits whose score plus the
		// bound of the terms left, as of the last pruning, reaches θ.
		g := gate{on: pruning, rem: remaining, theta: theta}
		remaining -= ub[qi]
		qt := qts[qi]
		term := []byte(qt.term)
		counted := qt.counted()
		if cand == nil || scanCandidates(len(cand), dfs[qi]) {
			// Every posting (until pruning) or the candidates among them.
			err := scoreAll(ctx, sn, s, fields, term, per[qi*ns:(qi+1)*ns], &read, w[qi]*numer, k1, counted, g, func(i int, fp fieldParams) error {
				return eachPostingIn(ctx, sn, s, i, fp, term, per[qi*ns:(qi+1)*ns], &read, func(d, freq uint64, inv float64) {
					if !g.shut(s.score[d]) {
						s.addTF(uint32(d), fp, qi, float64(freq)*inv, counted)
					}
				})
			})
			if err != nil {
				return err
			}
		} else if fp := onlyField(fields, per[qi*ns:(qi+1)*ns]); fp != nil && !s.filtered {
			// In one field, a candidate found is scored at once, as
			// mergeFields scores a posting: no pass through tf.
			wn, inc := w[qi]*numer, countOf(fp.head)
			inc = countIf(counted, inc)
			err := skipTo(sn, s, *fp, term, per[qi*ns:(qi+1)*ns], cand, func(d uint32, tfInv float64) {
				tf := fp.weight * tfInv
				s.addScore(d, wn*tf/(tf+k1))
				s.counts[d] += inc
			})
			if err != nil {
				return err
			}
		} else {
			for _, fp := range fields {
				err := skipTo(sn, s, fp, term, per[qi*ns:(qi+1)*ns], cand, func(d uint32, tfInv float64) { s.addTF(d, fp, qi, tfInv, counted) })
				if err != nil {
					return err
				}
			}
		}
		for _, d := range s.termHit {
			tf := s.tf[d]
			s.tf[d] = 0
			if !s.allowed(uint64(d)) {
				s.counts[d], s.headSeen[d] = 0, 0 // as reset leaves them: d is no hit
				continue
			}
			if s.score[d] == 0 {
				s.hits = append(s.hits, d)
			}
			s.addScore(d, w[qi]*numer*tf/(tf+k1))
			s.counts[d] += countIf(counted, 1)
		}
		s.termHit = s.termHit[:0]

		switch {
		case cand != nil && remaining > 0:
			// Drop the candidates that can no longer reach θ.
			theta = max(theta, s.kth())
			kept := cand[:0]
			for _, d := range cand {
				if s.score[d]+remaining >= theta {
					kept = append(kept, d)
				}
			}
			cand = kept
		case !pruning && remaining > 0 && len(s.top.docs) == k:
			theta = s.kth()
			if pruning = theta > remaining; pruning {
				ix.pruned.Add(1)
			}
		}
		// The candidates are listed once the next term's list is long
		// enough against them to be searched for each (scanCandidates);
		// until then the gate tells them, and θ stays as it was.
		if pruning && cand == nil && remaining > 0 {
			g := gate{on: true, rem: remaining, theta: theta}
			if next := nextTerm(order[oi+1:], ub); next >= 0 && !scanCandidates(admitted(s, g), dfs[next]) {
				cand = s.cand[:0]
				for _, d := range s.hits {
					if !g.shut(s.score[d]) {
						cand = append(cand, d)
					}
				}
				s.sortDocs(cand)
				s.cand = cand
				ix.listed.Add(1)
			}
		}
	}
	if cand != nil {
		s.ranked = cand
	}
	return nil
}

// scoreAll adds one query term's BM25F contribution, weighted wn (its
// qtf·idf·(k1+1)), to every allowed document that holds it, and counts it
// in the documents' matched and head terms as addTF does. In a segment
// whose postings give exact field lengths, the term's postings lists of
// every field are read side by side in document order, so that each
// document's pseudo-frequency is summed in registers and its entries are
// updated once: at a million chunks, where the common terms' postings are
// long, the per-field passes through the per-document arrays (tf, then
// score) were most of a search's time. The fields are summed in the same
// order as there, so the scores are the same to the last bit. Other
// segments go through perField (the per-field passes into tf, whose
// termHit loop the caller runs).
func scoreAll(ctx context.Context, sn *snap, s *scratch, fields []fieldParams, term []byte, per []termDF, read *int, wn, k1 float64, counted bool, g gate, perField func(int, fieldParams) error) error {
	for i := range sn.segs {
		lists, merged := s.lists[:0], sn.segs[i].exactLen
		for f, fp := range fields {
			if !merged {
				break // read per field
			}
			if per != nil && per[i].field[fp.slot] == 0 {
				continue
			}
			pl, dec, err := termPostings(sn, s, i, fp, term)
			if err != nil {
				return err
			}
			if pl == nil {
				continue
			}
			if dec == nil && pl.Count() >= cacheMinPostings {
				merged = false // too wide to decode (decodedPostings)
				break
			}
			if dec == nil {
				// Short: decoded into the scratch's buffer for the field.
				var ok bool
				if dec, ok, err = decode(sn, s, i, pl, &s.short[f]); err != nil {
					return err
				}
				if merged = ok; !ok {
					break
				}
			}
			lists = append(lists, fieldList{dec: dec, fp: &fields[f]})
		}
		s.lists = lists
		if !merged {
			for _, fp := range fields {
				if err := perField(i, fp); err != nil {
					return err
				}
			}
			continue
		}
		if len(lists) > 0 {
			if err := mergeFields(ctx, s, lists, sn.segs[i].offset, read, wn, k1, counted, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldList is a term's decoded postings in one field of a segment.
type fieldList struct {
	dec *decoded
	fp  *fieldParams
}

// mergeFields scores the documents of one segment (its first global
// number off) that hold the term in lists, which are in the order of the
// searched fields: all of them, or once MaxScore prunes, the candidates g
// admits (hits already).
func mergeFields(ctx context.Context, s *scratch, lists []fieldList, off uint64, read *int, wn, k1 float64, counted bool, g gate) error {
	total := 0
	for _, l := range lists {
		total += len(l.dec.docs)
	}
	hits := slices.Grow(s.hits, total)
	n := len(hits)
	hits = hits[:cap(hits)]
	defer func() { s.hits = hits[:n] }()
	add := func(d uint32, tf float64, head bool) {
		if !s.allowed(uint64(d)) || g.shut(s.score[d]) {
			return
		}
		// Whether d is new to the hits is a coin toss the branch
		// predictor loses on a long list: d is written after the hits
		// always and kept by adding 0 or 1.
		old := s.score[d]
		hits[n] = d
		n += isZero(old)
		s.addScore(d, wn*tf/(tf+k1))
		s.counts[d] += countIf(counted, countOf(head))
	}
	if len(lists) == 1 && !s.filtered {
		// The common case, add in a loop of its own: the term is in one
		// field of the segment and no filter applies.
		dec, fp := lists[0].dec, lists[0].fp
		score, counts, into := s.score, s.counts, hits
		m, lo, inc := n, s.topLo, countOf(fp.head)
		for j, local := range dec.docs {
			if j%checkEvery == checkEvery-1 {
				if err := ctx.Err(); err != nil {
					n = m
					return err
				}
			}
			d := uint32(off) + local
			old := score[d]
			if g.shut(old) {
				continue
			}
			tf := fp.weight * (float64(dec.freqs[j]) * fp.invOf(uint32(dec.lens[j])))
			into[m] = d
			m += isZero(old)
			v := old + wn*tf/(tf+k1)
			score[d] = v
			if v > lo {
				lo = s.pushTop(d)
			}
			if counted {
				counts[d] += inc
			}
		}
		n = m
		*read += len(dec.docs)
		return nil
	}
	at := s.at[:0]
	for range lists {
		at = append(at, 0)
	}
	s.at = at
	for step := 0; ; step++ {
		if step%checkEvery == checkEvery-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// The next document: the least at the lists' heads.
		next := uint32(math.MaxUint32)
		for f, l := range lists {
			if at[f] < len(l.dec.docs) {
				next = min(next, l.dec.docs[at[f]])
			}
		}
		if next == math.MaxUint32 {
			break
		}
		tf, head := 0.0, false
		for f, l := range lists {
			j := at[f]
			if j < len(l.dec.docs) && l.dec.docs[j] == next {
				fp := l.fp
				tf += fp.weight * (float64(l.dec.freqs[j]) * fp.invOf(uint32(l.dec.lens[j])))
				head = head || fp.head
				at[f]++
				*read++
			}
		}
		add(uint32(off)+next, tf, head)
	}
	return nil
}

// onlyField returns the one field of fields that holds a term in any
// segment (per, as for eachPosting), or nil when several do.
func onlyField(fields []fieldParams, per []termDF) *fieldParams {
	var only *fieldParams
	for i := range fields {
		for _, st := range per {
			if st.field[fields[i].slot] > 0 {
				if only != nil {
					return nil
				}
				only = &fields[i]
				break
			}
		}
	}
	return only
}

// nextTerm returns the first term of order in some field, or -1.
func nextTerm(order []int, ub []float64) int {
	for _, qi := range order {
		if ub[qi] > 0 {
			return qi
		}
	}
	return -1
}

// admitted estimates how many hits g admits from every 16th of them.
func admitted(s *scratch, g gate) int {
	const every = 16
	n := 0
	for i := 0; i < len(s.hits); i += every {
		if !g.shut(s.score[s.hits[i]]) {
			n++
		}
	}
	return n * every
}

// gate admits, once MaxScore prunes (on), the documents that can still
// reach the top k: a score that, with rem, the bound of the terms left at
// the last pruning, reaches θ. These are the candidates exactly: a document
// dropped then has kept its score while rem fell and θ rose.
type gate struct {
	on         bool
	rem, theta float64
}

// shut reports whether a document with this score is no candidate; the
// negation of the pruning's test, so that the two agree to the last bit.
func (g gate) shut(score float64) bool {
	return g.on && !(score+g.rem >= g.theta)
}

// candScanRatio: once MaxScore prunes, a term's list is read in full, the
// gate admitting the candidates (mergeFields), rather than searched for
// each candidate (skipTo) when it holds at most this many postings per
// candidate. Finding a candidate costs a gallop and its bookkeeping,
// several times a posting read in order.
const candScanRatio = 8

// scanCandidates reports whether a term of document frequency df is read in
// full for n candidates.
func scanCandidates(n, df int) bool {
	return df <= candScanRatio*n
}

// isZero is 1 when x is +0, else 0, without a branch: b|-b has its top bit
// set for every b but 0.
func isZero(x float64) int {
	b := math.Float64bits(x)
	return 1 ^ int((b|-b)>>63)
}

// addScore adds a term's contribution c to d's score, keeping the k best.
// (mergeFields' one-field loop does the same with the k-th best score in
// a register.)
func (s *scratch) addScore(d uint32, c float64) {
	if s.score[d] += c; s.score[d] > s.topLo {
		s.pushTop(d)
	}
}

// countIf is inc for a counted term, else 0.
func countIf(counted bool, inc uint32) uint32 {
	if counted {
		return inc
	}
	return 0
}

// resetTop empties the k best documents (none are kept when k ≤ 0).
func (s *scratch) resetTop(k int) {
	s.top.docs, s.top.score, s.topK, s.topLo = s.top.docs[:0], s.score, k, -1
	if k <= 0 {
		s.topLo = math.Inf(1)
	}
}

// kth is the k-th best score so far, once k documents are scored.
func (s *scratch) kth() float64 {
	if len(s.top.docs) < s.topK || s.topK <= 0 {
		return 0
	}
	return s.score[s.top.docs[0]]
}

// pushTop puts d, whose score has just risen above s.topLo, in its place
// among the k best documents, and returns the new s.topLo. Every rise of a
// score above the k-th best comes here, so the k are the k best at any
// time: a document enters them only when its score rises. Such rises are
// few against the postings read (the k best are few), so d is looked for
// among them with a loop.
func (s *scratch) pushTop(d uint32) float64 {
	t := &s.top
	switch i := slices.Index(t.docs, d); {
	case i >= 0:
		heap.Fix(t, i) // its score rose
	case len(t.docs) < s.topK:
		t.docs = append(t.docs, d)
		heap.Fix(t, len(t.docs)-1)
	default:
		t.docs[0] = d // in place of the k-th best
		heap.Fix(t, 0)
	}
	if len(t.docs) == s.topK {
		s.topLo = s.score[t.docs[0]]
	}
	return s.topLo
}

// topDocs are documents in a min-heap by score (container/heap).
type topDocs struct {
	docs  []uint32
	score []float64
}

func (t *topDocs) Len() int           { return len(t.docs) }
func (t *topDocs) Less(i, j int) bool { return t.score[t.docs[i]] < t.score[t.docs[j]] }
func (t *topDocs) Swap(i, j int)      { t.docs[i], t.docs[j] = t.docs[j], t.docs[i] }
func (t *topDocs) Push(x any)         { t.docs = append(t.docs, x.(uint32)) }
func (t *topDocs) Pop() any {
	x := t.docs[len(t.docs)-1]
	t.docs = t.docs[:len(t.docs)-1]
	return x
}

// skipTo calls fn with the length-normalised frequency of term in field fp
// of each candidate that holds it, advancing through the postings instead
// of reading them all. cand is sorted by document number; per is as for
// eachPosting.
func skipTo(sn *snap, s *scratch, fp fieldParams, term []byte, per []termDF, cand []uint32, fn func(d uint32, tfInv float64)) error {
	j := 0
	for i := range sn.segs {
		off := sn.segs[i].offset
		end := uint64(math.MaxUint64)
		if i+1 < len(sn.segs) {
			end = sn.segs[i+1].offset
		}
		for j < len(cand) && uint64(cand[j]) < off {
			j++
		}
		if j == len(cand) {
			return nil
		}
		if uint64(cand[j]) >= end || per != nil && per[i].field[fp.slot] == 0 {
			continue
		}
		pl, dec, err := termPostings(sn, s, i, fp, term)
		if err != nil {
			return err
		}
		if pl == nil {
			continue
		}
		if dec != nil {
			// Decoded: each candidate is found by galloping from the last
			// one's place, then a binary search within the last step.
			lo := 0
			for ; j < len(cand) && uint64(cand[j]) < end; j++ {
				local := uint32(uint64(cand[j]) - off)
				lo = gallop(dec.docs, lo, local)
				if lo == len(dec.docs) {
					break
				}
				if dec.docs[lo] != local {
					continue
				}
				fn(cand[j], float64(dec.freqs[lo])*fp.invOf(uint32(dec.lens[lo])))
			}
			for j < len(cand) && uint64(cand[j]) < end {
				j++
			}
			continue
		}
		s.it = pl.Iterator(true, true, false, s.it)
		var cur segment.Posting
		for ; j < len(cand) && uint64(cand[j]) < end; j++ {
			local := uint64(cand[j]) - off
			if cur == nil || cur.Number() < local {
				if cur, err = s.it.Advance(local); err != nil {
					return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
				}
				if cur == nil {
					break // no more postings in this segment
				}
			}
			if cur.Number() != local {
				continue
			}
			d, freq, inv := posting(cur, off, sn.segs[i].exactLen, fp)
			fn(uint32(d), float64(freq)*inv)
		}
		for j < len(cand) && uint64(cand[j]) < end {
			j++
		}
	}
	return nil
}

// addTF adds a posting's length-normalised frequency in field fp to
// document d's pseudo-frequency for query term qi; counted says whether the
// term counts in Hit.Head.
func (s *scratch) addTF(d uint32, fp fieldParams, qi int, tfInv float64, counted bool) {
	if s.tf[d] == 0 {
		s.termHit = append(s.termHit, d)
	}
	s.tf[d] += fp.weight * tfInv
	if counted && fp.head && s.headSeen[d] != uint16(qi+1) {
		s.headSeen[d] = uint16(qi + 1)
		s.headSeenUsed = true
		s.counts[d] += headCount
	}
}

// gallop returns the first index at or after lo whose doc is at least
// target (len(docs) when none is): steps of 1, 2, 4… then a binary search.
func gallop(docs []uint32, lo int, target uint32) int {
	if lo >= len(docs) || docs[lo] >= target {
		return lo
	}
	step := 1
	hi := lo + step
	for hi < len(docs) && docs[hi] < target {
		lo = hi
		step *= 2
		hi = lo + step
	}
	hi = min(hi, len(docs))
	return lo + 1 + sort.Search(hi-lo-1, func(x int) bool { return docs[lo+1+x] >= target })
}
