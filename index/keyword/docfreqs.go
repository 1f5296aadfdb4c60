package keyword

import (
	"math/bits"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/kefu-dev/kefu"
)

// termDF are a term's document frequencies in a segment or a view of the
// index: per text field, and over the union of the searched fields (a chunk
// holding the term in its title and its body counts once); in a segment,
// also the impacts of its postings in those fields.
type termDF struct {
	field  [numFields]uint32
	union  uint32
	impact [numFields]impacts
}

// impactBuckets are the frequency ranges of impacts: 1, 2, 3–4, 5 and more.
const impactBuckets = 4

// impacts bound a term's length-normalised frequency in a field of a
// segment: per range of frequencies, the highest frequency and the shortest
// field among its postings, which bound freq/(1 − b + b·len/avg) whatever
// the average length is when a search reads them.
type impacts struct {
	freq, len [impactBuckets]uint32
}

func (m *impacts) add(freq, l uint32) {
	k := min(bits.Len32(max(freq, 1)-1), impactBuckets-1) // 1→0, 2→1, 3–4→2, 5+→3
	if m.freq[k] == 0 || l < m.len[k] {
		m.len[k] = l
	}
	m.freq[k] = max(m.freq[k], freq)
}

// bound is the largest freq·inv(len) the impacts allow in field fp.
func (m *impacts) bound(fp *fieldParams) float64 {
	b := 0.0
	for k := range impactBuckets {
		if m.freq[k] > 0 {
			b = max(b, float64(m.freq[k])*fp.invOf(m.len[k]))
		}
	}
	return b
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
// segment, the least recently searched forgotten first: the single Han
// characters and common words that recur in most queries, whose counts and
// bounds cost a pass over lists as long as the KB, stay. (Forgotten all
// together at the bound, as they were, every few thousand new words made
// the next searches count them all again.)
type segTerms struct {
	m *lru.Cache[string, termDF]
}

// Bounds of the document frequencies kept (all indexes of the process):
// segments, and terms per segment (about 200 bytes each: at most 50 MB).
const (
	dfCacheSegments = 32
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
		terms, err := lru.New[string, termDF](dfCacheTerms)
		if err != nil {
			panic(err) // only for a size ≤ 0
		}
		st = &segTerms{m: terms}
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
		df, ok := st.m.Get(string(term))
		if !ok {
			var err error
			if df, err = sn.segDocFreqs(i, mask, term, s); err != nil {
				return termDF{}, err
			}
			st.m.Add(string(term), df)
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
		ts    termDF
		acc   *roaring.Bitmap
		first = -1 // the first field holding the term: its count is the union while it is the only one
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
		if err := sn.impactsOf(i, f, term, pl, s, &ts.impact[f]); err != nil {
			return termDF{}, err
		}
		if first < 0 {
			first, ts.union = f, ts.field[f]
			continue
		}
		if acc == nil { // a second field: the union needs the first one's bitmap
			pl0, err := sn.postings(i, first, term, s)
			if err != nil {
				return termDF{}, err
			}
			bm, err := liveBitmap(pl0, s)
			if err != nil {
				return termDF{}, err
			}
			acc = bm.Clone()
			if pl, err = sn.postings(i, f, term, s); err != nil {
				return termDF{}, err
			}
		}
		bm, err := liveBitmap(pl, s)
		if err != nil {
			return termDF{}, err
		}
		acc.Or(bm)
		ts.union = uint32(acc.GetCardinality())
	}
	return ts, nil
}

// impactsOf reads the impacts of a postings list of segment i, field f:
// from its decoded postings when it is long enough to be cached (the
// scorer decodes it anyway), else from the postings themselves.
func (sn *snap) impactsOf(i, f int, term []byte, pl segment.PostingsList, s *scratch, m *impacts) error {
	dec, err := decodedPostings(sn, s, i, fieldParams{slot: f}, term, pl)
	if err != nil {
		return err
	}
	if dec != nil {
		for j := range dec.docs {
			m.add(uint32(dec.freqs[j]), uint32(dec.lens[j]))
		}
		return nil
	}
	exact := sn.segs[i].exactLen
	s.it = pl.Iterator(true, true, false, s.it)
	for {
		p, err := s.it.Next()
		if err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		if p == nil {
			return nil
		}
		l := uint64(0)
		if lb, ok := p.(lengthBits); ok && exact {
			l = lb.NormUint64()
		} else {
			l = uint64(lenFromNorm(p.Norm()))
		}
		m.add(uint32(min(p.Frequency(), 1<<32-1)), uint32(min(l, 1<<32-1)))
	}
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
