package keyword

import (
	"context"
	"sort"

	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	zapv17 "github.com/blevesearch/zapx/v17"

	"github.com/kefu-dev/kefu"
)

// snap is one consistent view of the index for one search: the segments of
// a scorch snapshot, read directly.
//
// Why below bleve's IndexReader: its TermFieldReader turns every posting
// into a TermFieldDoc with an encoded id and a float norm from which the
// length must be recomputed, which took about half of a search's time; the
// segments give document number, frequency and (zap v17) the exact field
// length directly. Chunk ids still come from bleve (SegmentSnapshot.DocID).
type snap struct {
	r     index.IndexReader // holds the snapshot; closed by close
	segs  []segView
	n     uint64 // live documents
	stats fieldStats
	gen   uint64 // Index.gen when it was taken: it holds at least that generation's writes
}

// segView is one segment with its place in the dense document numbering of
// the search (offset + the segment's own document number).
type segView struct {
	ss        *scorch.SegmentSnapshot
	offset    uint64
	exactLen  bool // zap v17: a posting's NormUint64 is the field length
	dicts     [numDicts]segment.TermDictionary
	loaded    [numDicts]bool
	terms     *segTerms // cached document frequencies (snap.segTermsOf)
	termsMask uint8
}

// Dictionary slots: the text fields, then the filter field.
const (
	dictFilter = numFields
	numDicts   = numFields + 1
)

func dictField(f int) string {
	if f == dictFilter {
		return fieldFilter
	}
	return textFields[f]
}

// lengthBits is zap's access to the raw norm bits of a posting, which v17
// sets to the field length.
type lengthBits interface{ NormUint64() uint64 }

func (ix *Index) snapshot() (*snap, error) {
	// The generation first: a write between the two makes the snapshot
	// newer than its label (what is built from it is built again), never
	// older.
	gen := ix.gen.Load()
	r, err := ix.adv.Reader()
	if err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	sn := &snap{r: r, gen: gen}
	is, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		sn.close()
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: reader %T is not a scorch snapshot", r)
	}
	var off uint64
	for _, ss := range is.Segments() {
		seg := ss.Segment()
		var exact bool
		switch seg.(type) {
		case *zapv17.Segment, *zapv17.SegmentBase:
			exact = true
		}
		sn.segs = append(sn.segs, segView{ss: ss, offset: off, exactLen: exact})
		off += seg.Count()
	}
	if sn.n, err = r.DocCount(); err == nil {
		sn.stats, err = readStats(r)
	}
	if err != nil {
		sn.close()
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	return sn, nil
}

func (sn *snap) close() { _ = sn.r.Close() }

// size is one more than the largest document number of the view.
func (sn *snap) size() uint64 {
	if len(sn.segs) == 0 {
		return 0
	}
	last := sn.segs[len(sn.segs)-1]
	return last.offset + last.ss.Segment().Count()
}

// dict returns the terms dictionary of slot f in segment i (nil when the
// segment has no such field).
func (sn *snap) dict(i, f int) (segment.TermDictionary, error) {
	sv := &sn.segs[i]
	if !sv.loaded[f] {
		d, err := sv.ss.Segment().Dictionary(dictField(f))
		if err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		sv.dicts[f], sv.loaded[f] = d, true
	}
	return sv.dicts[f], nil
}

// eachTerm calls fn with every term of dictionary slot f in segment i and
// the number of documents holding it (deleted ones included), in order,
// until fn returns false or ctx is done.
func (sn *snap) eachTerm(ctx context.Context, i, f int, fn func(term string, count uint64) bool) error {
	d, err := sn.dict(i, f)
	if err != nil || d == nil {
		return err
	}
	it := d.AutomatonIterator(nil, nil, nil)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := it.Next()
		if err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		if e == nil || !fn(e.Term, e.Count) {
			return nil
		}
	}
}

// postings returns the postings of term in dictionary slot f of segment i,
// without deleted documents, or nil when the segment lacks the term.
func (sn *snap) postings(i, f int, term []byte, s *scratch) (segment.PostingsList, error) {
	d, err := sn.dict(i, f)
	if err != nil || d == nil {
		return nil, err
	}
	sv := &sn.segs[i]
	pl, err := d.PostingsList(term, sv.ss.Deleted(), s.pl)
	if err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	if pl == nil || pl.Count() == 0 {
		return nil, nil
	}
	s.pl = pl
	return pl, nil
}

// count returns the number of live documents with term in slot f.
func (sn *snap) count(f int, term []byte, s *scratch) (uint64, error) {
	var n uint64
	for i := range sn.segs {
		pl, err := sn.postings(i, f, term, s)
		if err != nil {
			return 0, err
		}
		if pl != nil {
			n += pl.Count()
		}
	}
	return n, nil
}

// externalID returns the chunk id of document number d.
func (sn *snap) externalID(d uint64) (string, error) {
	i := sort.Search(len(sn.segs), func(i int) bool { return sn.segs[i].offset > d }) - 1
	if i < 0 {
		return "", kefu.Errorf(kefu.EINTERNAL, "keyword: document number %d out of range", d)
	}
	id, err := sn.segs[i].ss.DocID(d - sn.segs[i].offset)
	if err != nil {
		return "", kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	return string(id), nil
}
