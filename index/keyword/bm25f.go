package keyword

import (
	"context"
	"math"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	zapv17 "github.com/blevesearch/zapx/v17"

	"github.com/kefu-dev/kefu"
)

// eachPosting calls fn with every posting of term in field fp: the global
// document number, the term frequency and 1/(length normalisation).
func eachPosting(ctx context.Context, sn *snap, s *scratch, fp fieldParams, term []byte, read *int, fn func(d, freq uint64, inv float64)) error {
	for i := range sn.segs {
		pl, err := sn.postings(i, fp.slot, term, s)
		if err != nil {
			return err
		}
		if pl == nil {
			continue
		}
		off, exact := sn.segs[i].offset, sn.segs[i].exactLen
		dec, err := decodedPostings(sn, s, i, fp, term, pl)
		if err != nil {
			return err
		}
		if dec != nil {
			for j, local := range dec.docs {
				fn(off+uint64(local), uint64(dec.freqs[j]), fp.invOf(dec.lens[j]))
			}
			*read += len(dec.docs)
			continue
		}
		s.it = pl.Iterator(true, true, false, s.it)
		zit, _ := s.it.(*zapv17.PostingsIterator)
		for {
			if *read++; *read%checkEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var (
				p   segment.Posting
				err error
			)
			if zit != nil {
				p, err = zit.Next() // a direct call, not through the interface
			} else {
				p, err = s.it.Next()
			}
			if err != nil {
				return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
			}
			if p == nil {
				break
			}
			d, freq, inv := posting(p, off, exact, fp)
			fn(d, freq, inv)
		}
	}
	return nil
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

// pruneCheck is how much the remaining terms' bound must have shrunk since
// the last check before the k-th best score is looked for again: each check
// costs a pass over the hits.
const pruneCheck = 0.7

// scoreBM25F accumulates the BM25F score of every matching, allowed
// document, term at a time, the terms with the highest upper bound first.
//
// It prunes as MaxScore does (Turtle and Flood, 1995): a term's contribution
// is below qtf·idf·(k1+1) (tf/(tf+k1) < 1; the idf of the union document
// frequency is at most that of the largest per-field one). Once the k-th
// best score so far exceeds the bound of all terms still to come, no other
// document can reach the top k; the remaining terms are then scored only for
// the documents that still can, by skipping through their postings rather
// than decoding them all. Common terms (single Han characters, frequent
// words) come last and mostly take this path. The top k and their scores are
// exactly those of the full evaluation.
func (ix *Index) scoreBM25F(ctx context.Context, sn *snap, s *scratch, qts []queryTerm, fields []fieldParams, k int, numer float64, idf func(float64) float64, dfs []int) error {
	k1 := ix.opts.K1
	ub := make([]float64, len(qts))
	remaining := 0.0
	for i, qt := range qts {
		var maxDF uint64
		for _, fp := range fields {
			df, err := sn.count(fp.slot, []byte(qt.term), s)
			if err != nil {
				return err
			}
			maxDF = max(maxDF, df)
		}
		if maxDF > 0 {
			ub[i] = qt.qtf * idf(float64(maxDF)) * numer
			remaining += ub[i]
		}
	}
	order := make([]int, len(qts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case ub[a] > ub[b]:
			return -1
		case ub[a] < ub[b]:
			return 1
		}
		return 0
	})

	var cand []uint32 // documents that can still reach the top k, once pruning
	lastCheck := math.Inf(1)
	read := 0
	for _, qi := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ub[qi] == 0 {
			continue // in no field
		}
		remaining -= ub[qi]
		qt := qts[qi]
		term := []byte(qt.term)
		var df int
		if cand == nil {
			for _, fp := range fields {
				err := eachPosting(ctx, sn, s, fp, term, &read, func(d, freq uint64, inv float64) {
					s.addTF(uint32(d), fp, qi, float64(freq)*inv, qt.counted())
				})
				if err != nil {
					return err
				}
			}
			df = len(s.termHit)
		} else {
			var err error
			if df, err = unionDF(sn, s, fields, term); err != nil {
				return err
			}
			for _, fp := range fields {
				if err := ix.skipTo(sn, s, fp, term, qi, cand, qt.counted()); err != nil {
					return err
				}
			}
		}
		dfs[qi] = df
		w := qt.qtf * idf(float64(df))
		counted := qt.counted()
		for _, d := range s.termHit {
			tf := s.tf[d]
			s.tf[d] = 0
			if !s.allowed(uint64(d)) {
				continue
			}
			if s.score[d] == 0 {
				s.hits = append(s.hits, d)
			}
			s.score[d] += w * numer * tf / (tf + k1)
			if counted {
				s.matched[d]++
			}
		}
		s.termHit = s.termHit[:0]

		if cand == nil && remaining > 0 && len(s.hits) >= k && remaining < pruneCheck*lastCheck {
			lastCheck = remaining
			if theta := kthScore(s, k); theta > remaining {
				for _, d := range s.hits {
					if s.score[d]+remaining >= theta {
						cand = append(cand, d)
					}
				}
				slices.Sort(cand)
				ix.pruned.Add(1)
			}
		}
	}
	return nil
}

// kthScore returns the k-th best score among the hits (k ≤ len(hits)).
func kthScore(s *scratch, k int) float64 {
	h := make([]float64, 0, k) // min-heap of the k best
	for _, d := range s.hits {
		x := s.score[d]
		if len(h) < k {
			h = append(h, x)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if h[p] <= h[i] {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
			continue
		}
		if x <= h[0] {
			continue
		}
		h[0] = x
		for i := 0; ; {
			l, m := 2*i+1, i
			if l < len(h) && h[l] < h[m] {
				m = l
			}
			if l+1 < len(h) && h[l+1] < h[m] {
				m = l + 1
			}
			if m == i {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	return h[0]
}

// unionDF counts the live documents holding term in any of the fields,
// from the postings' bitmaps, without decoding frequencies.
func unionDF(sn *snap, s *scratch, fields []fieldParams, term []byte) (int, error) {
	total := 0
	for i := range sn.segs {
		var acc *roaring.Bitmap
		add := func(bm *roaring.Bitmap) {
			if acc == nil {
				acc = bm.Clone()
			} else {
				acc.Or(bm)
			}
		}
		for _, fp := range fields {
			pl, err := sn.postings(i, fp.slot, term, s)
			if err != nil {
				return 0, err
			}
			if pl == nil {
				continue
			}
			s.it = pl.Iterator(false, false, false, s.it)
			if o, ok := s.it.(segment.OptimizablePostingsIterator); ok {
				if d, ok := o.DocNum1Hit(); ok {
					add(roaring.BitmapOf(uint32(d)))
					continue
				}
				if bm := o.ActualBitmap(); bm != nil {
					add(bm)
					continue
				}
			}
			one := roaring.New()
			for {
				p, err := s.it.Next()
				if err != nil {
					return 0, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
				}
				if p == nil {
					break
				}
				one.Add(uint32(p.Number()))
			}
			add(one)
		}
		if acc != nil {
			total += int(acc.GetCardinality())
		}
	}
	return total, nil
}

// skipTo adds term's weighted frequency in field fp to the candidates that
// hold it, advancing through the postings instead of reading them all.
// cand is sorted by document number.
func (ix *Index) skipTo(sn *snap, s *scratch, fp fieldParams, term []byte, qi int, cand []uint32, counted bool) error {
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
		if uint64(cand[j]) >= end {
			continue
		}
		pl, err := sn.postings(i, fp.slot, term, s)
		if err != nil {
			return err
		}
		if pl == nil {
			continue
		}
		dec, err := decodedPostings(sn, s, i, fp, term, pl)
		if err != nil {
			return err
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
				s.addTF(uint32(cand[j]), fp, qi, float64(dec.freqs[lo])*fp.invOf(dec.lens[lo]), counted)
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
			s.addTF(uint32(d), fp, qi, float64(freq)*inv, counted)
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
		s.head[d]++
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
