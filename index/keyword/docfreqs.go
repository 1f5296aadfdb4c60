package keyword

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/kefu-dev/kefu"
)

// termDF are a term's document frequencies in a segment or a view of the
// index: per text field, and over the union of the searched fields (a chunk
// holding the term in its title and its body counts once).
type termDF struct {
	field [numFields]uint32
	union uint32
}

// maxField is the largest per-field document frequency.
func (t termDF) maxField() uint32 {
	return max(t.field[0], t.field[1], t.field[2], t.field[3])
}

// segKey names the live documents of a segment, as postKey does: segments
// are immutable and a change of deletions is a new bitmap. fields is the
// set of fields a union is over (bit f for textFields[f]).
type segKey struct {
	seg    segment.Segment
	del    *roaring.Bitmap
	fields uint8
}

// segTerms are the document frequencies of the terms searched in one
// segment.
type segTerms struct {
	mu sync.RWMutex
	m  map[string]termDF
}

// Bounds of the document frequencies kept (all indexes of the process):
// segments, and terms per segment (about 80 bytes each); a segment's terms
// are forgotten together when they reach the bound.
const (
	dfCacheSegments = 64
	dfCacheTerms    = 1 << 13
)

// dfCache keeps the document frequencies of the terms searched recently,
// per immutable segment.
//
// Why: every search needs each query term's frequency in every field (for
// its order and its bound) and over the union of the fields (for its idf);
// counting the union takes the term's bitmap of every field, cloned and
// or-ed, and for the single Han characters and common words of Chinese
// queries, which recur from query to query, those bitmaps are as long as
// the KB (7 % of a search at 460k chunks). Counted once per segment, they
// cost a map lookup, and the postings of a field that lacks the term are
// not looked up at all.
var dfCache = func() *lru.Cache[segKey, *segTerms] {
	c, err := lru.New[segKey, *segTerms](dfCacheSegments)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return c
}()

// segTermsOf returns the cached frequencies of segment i for the fields in
// mask, loaded once per view.
func (sn *snap) segTermsOf(i int, mask uint8) *segTerms {
	sv := &sn.segs[i]
	if sv.terms != nil && sv.termsMask == mask {
		return sv.terms
	}
	k := segKey{seg: sv.ss.Segment(), del: sv.ss.Deleted(), fields: mask}
	st, ok := dfCache.Get(k)
	if !ok {
		st = &segTerms{m: map[string]termDF{}}
		if prev, ok, _ := dfCache.PeekOrAdd(k, st); ok {
			st = prev
		}
	}
	sv.terms, sv.termsMask = st, mask
	return st
}

// fieldMask is the set of fields, bit f for textFields[f].
func fieldMask(fields []fieldParams) uint8 {
	var m uint8
	for _, fp := range fields {
		m |= 1 << fp.slot
	}
	return m
}

// docFreqs returns term's document frequencies in the view, the union over
// the fields in mask, and, when per is not nil (one entry per segment), in
// each segment.
func (sn *snap) docFreqs(mask uint8, term []byte, s *scratch, per []termDF) (termDF, error) {
	var out termDF
	for i := range sn.segs {
		st := sn.segTermsOf(i, mask)
		st.mu.RLock()
		df, ok := st.m[string(term)]
		st.mu.RUnlock()
		if !ok {
			var err error
			if df, err = sn.segDocFreqs(i, mask, term, s); err != nil {
				return termDF{}, err
			}
			st.mu.Lock()
			if len(st.m) >= dfCacheTerms {
				clear(st.m)
			}
			st.m[string(term)] = df
			st.mu.Unlock()
		}
		if per != nil {
			per[i] = df
		}
		for f := range out.field {
			out.field[f] += df.field[f]
		}
		out.union += df.union
	}
	return out, nil
}

// segDocFreqs counts term's live documents in segment i per text field and
// over the union of the fields in mask, from the postings' bitmaps, without
// decoding frequencies.
func (sn *snap) segDocFreqs(i int, mask uint8, term []byte, s *scratch) (termDF, error) {
	var (
		ts   termDF
		acc  *roaring.Bitmap
		only uint32 // the count while a single field holds the term
		n    int
	)
	for f := range numFields {
		pl, err := sn.postings(i, f, term, s)
		if err != nil {
			return termDF{}, err
		}
		if pl == nil {
			continue
		}
		ts.field[f] = uint32(pl.Count())
		if mask&(1<<f) == 0 {
			continue
		}
		if n++; n == 1 {
			only = uint32(pl.Count())
		}
		bm, err := liveBitmap(pl, s)
		if err != nil {
			return termDF{}, err
		}
		if acc == nil {
			acc = bm.Clone()
		} else {
			acc.Or(bm)
		}
	}
	switch {
	case n == 1:
		ts.union = only
	case acc != nil:
		ts.union = uint32(acc.GetCardinality())
	}
	return ts, nil
}

// liveBitmap returns the live documents of a postings list as a bitmap,
// which the caller must not modify.
func liveBitmap(pl segment.PostingsList, s *scratch) (*roaring.Bitmap, error) {
	s.it = pl.Iterator(false, false, false, s.it)
	if o, ok := s.it.(segment.OptimizablePostingsIterator); ok {
		if d, ok := o.DocNum1Hit(); ok {
			return roaring.BitmapOf(uint32(d)), nil
		}
		if bm := o.ActualBitmap(); bm != nil {
			return bm, nil
		}
	}
	one := roaring.New()
	for {
		p, err := s.it.Next()
		if err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		if p == nil {
			return one, nil
		}
		one.Add(uint32(p.Number()))
	}
}
