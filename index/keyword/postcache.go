package keyword

import (
	"cmp"
	"container/list"
	"context"
	"math"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/kefu-dev/kefu"
)

// decoded is a postings list read once: local document numbers (sorted),
// term frequencies and field lengths. Frequencies and lengths take 16 bits
// each (8 bytes a posting, so a third more postings fit the cache); a list
// with a larger one is never decoded (decode reports it) and is read from
// the segment instead: the cache keeps it as wide, so that it is not
// decoded again in vain.
type decoded struct {
	docs  []uint32
	freqs []uint16
	lens  []uint16
	wide  bool
}

func (d *decoded) bytes() int64 { return int64(8*len(d.docs)) + 64 }

// postKey names a postings list: segments are immutable, and a segment's
// deletions are a new bitmap whenever they change, so the pair identifies
// the live postings exactly.
type postKey struct {
	seg   segment.Segment
	del   *roaring.Bitmap
	field int
	term  string
}

// postCache keeps the decoded postings of frequent terms, least recently
// used out first, within a byte budget shared by every index of the
// process.
//
// Why: zap stores frequencies and norms as varints in chunks, so every
// search decodes each posting again (about three quarters of a search's
// time at 100k chunks), and its Advance decodes through the postings it
// skips. Common terms (single Han characters, frequent words) recur from
// query to query; decoded once, they are read at memory speed and skipped
// by binary search.
type postCache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	order  *list.List // of *postEntry, most recent first
	byKey  map[postKey]*list.Element
}

type postEntry struct {
	key postKey
	d   *decoded
}

// cacheMinPostings is the shortest postings list worth caching: shorter
// ones decode in a few microseconds.
const cacheMinPostings = 256

// PostingsCacheBytes bounds the memory of decoded postings (all indexes)
// until an index of more than PostingsCacheBytes/postingsBytesPerDoc
// chunks is searched; the bound is then postingsBytesPerDoc per chunk of
// the largest index searched.
const PostingsCacheBytes = 128 << 20

// postingsBytesPerDoc is the cache's budget per chunk of a large index:
// the 600 queries of `kefu-bench search` (SciFact and afqmc) read 383 MB
// of decoded postings at a million chunks, and with 128 MB their common
// terms were decoded again at almost every search.
const postingsBytesPerDoc = 384

var postings = &postCache{budget: PostingsCacheBytes, order: list.New(), byKey: map[postKey]*list.Element{}}

func (c *postCache) get(k postKey) *decoded {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*postEntry).d
	}
	return nil
}

// put caches d under k, first raising the budget to budget when it is less.
func (c *postCache) put(k postKey, d *decoded, budget int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget = max(c.budget, budget)
	if _, ok := c.byKey[k]; ok || d.bytes() > c.budget/4 {
		return
	}
	c.byKey[k] = c.order.PushFront(&postEntry{k, d})
	c.used += d.bytes()
	for c.used > c.budget {
		e := c.order.Back()
		pe := e.Value.(*postEntry)
		c.order.Remove(e)
		delete(c.byKey, pe.key)
		c.used -= pe.d.bytes()
	}
}

// decodedPostings returns segment i's postings of term in field fp decoded
// and cached when the list is long enough to be worth it and fits 16 bits,
// else nil (the caller then iterates pl; a list of cacheMinPostings or more
// is then wide).
func decodedPostings(sn *snap, s *scratch, i int, fp fieldParams, term []byte, pl segment.PostingsList) (*decoded, error) {
	if pl.Count() < cacheMinPostings {
		return nil, nil
	}
	sv := &sn.segs[i]
	k := postKey{seg: sv.ss.Segment(), del: sv.ss.Deleted(), field: fp.slot, term: string(term)}
	budget := cacheBudget(sn)
	if d := postings.get(k); d != nil {
		if d.wide {
			return nil, nil
		}
		return d, nil
	}
	d, ok, err := decode(sn, s, i, pl, &decoded{})
	if err != nil {
		return nil, err
	}
	if !ok {
		postings.put(k, &decoded{wide: true}, budget)
		return nil, nil
	}
	postings.put(k, d, budget)
	return d, nil
}

// decode reads segment i's postings list pl into d, replacing what d held;
// ok is false, and d partial, when a frequency or length takes more than
// 16 bits.
func decode(sn *snap, s *scratch, i int, pl segment.PostingsList, d *decoded) (_ *decoded, ok bool, err error) {
	if done, ok := decodeBulk(pl, sn.segs[i].exactLen, d); done {
		return d, ok, nil
	}
	return decodeEach(sn, s, i, pl, d)
}

// decodeEach is decode through zap's iterator, a posting at a time.
func decodeEach(sn *snap, s *scratch, i int, pl segment.PostingsList, d *decoded) (_ *decoded, ok bool, err error) {
	sv := &sn.segs[i]
	n := int(pl.Count())
	d.docs, d.freqs, d.lens = slices.Grow(d.docs[:0], n), slices.Grow(d.freqs[:0], n), slices.Grow(d.lens[:0], n)
	s.it = pl.Iterator(true, true, false, s.it)
	for {
		p, err := s.it.Next()
		if err != nil {
			return nil, false, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		if p == nil {
			return d, true, nil
		}
		l := uint64(0)
		if lb, ok := p.(lengthBits); ok && sv.exactLen {
			l = lb.NormUint64()
		} else {
			l = uint64(lenFromNorm(p.Norm()))
		}
		f := p.Frequency()
		if l > math.MaxUint16 || f > math.MaxUint16 {
			return d, false, nil
		}
		d.docs = append(d.docs, uint32(p.Number()))
		d.freqs = append(d.freqs, uint16(f))
		d.lens = append(d.lens, uint16(l))
	}
}

// inv is 1/(length normalisation) of a field length.
func (fp *fieldParams) invOf(l uint32) float64 {
	if int(l) < len(fp.inv) {
		return fp.inv[l]
	}
	return 1 / (fp.norm0 + fp.normL*float64(l))
}

// warmShare is how much of its budget, in eighths, warm fills the postings
// cache to: the searches' own lists take the rest, and evict the warmed
// lists they do not use. At a million chunks, warmed to half the budget,
// the first pass of TestMeasureLongPostings decoded about 100 MB of lists
// more (it logs the cache's size after warming and at the end).
const warmShare = 7

// warm decodes the longest postings lists of the index's scored fields
// (those holding at least a 256th of its chunks) into the postings cache,
// longest first, while the cache is under warmShare of its budget, with
// their terms' document frequencies and bounds, sizes a scratch for the
// index and builds its pinyin index (sounds). After a start
// or a merge, the first searches with common terms would otherwise decode
// them: at a million chunks that was half of a first search's time, and
// the first pass's p99 was twice the second's (BENCHMARKS.md, "Long
// postings at a million chunks"). It never evicts: lists that do not fit
// are left to the searches.
func (ix *Index) warm(ctx context.Context) error {
	// The segments on disk: an in-memory segment is about to be replaced
	// by its persisted copy, under another cache key.
	if err := ix.waitPersisted(ctx); err != nil {
		return err
	}
	sn, err := ix.snapshot()
	if err != nil {
		return err
	}
	defer sn.close()
	least := max(cacheMinPostings, sn.n/256)
	type long struct {
		seg  int
		fp   fieldParams
		term string
		n    uint64
	}
	var lists []long
	for i := range sn.segs {
		for _, fp := range ix.scoredFields(sn) {
			err := sn.eachTerm(ctx, i, fp.slot, func(term string, count uint64) bool {
				if count >= least {
					lists = append(lists, long{i, fp, term, count})
				}
				return true
			})
			if err != nil {
				return err
			}
		}
	}
	slices.SortFunc(lists, func(a, b long) int { return cmp.Compare(b.n, a.n) })
	budget := cacheBudget(sn)
	// The first search after a start finds its arrays made (and their
	// pages faulted in) as well.
	s := ix.scratch.get()
	defer ix.scratch.put(s)
	s.prepare(sn.size())
	s.touch()
	mask := fieldMask(ix.scoredFields(sn))
	counted := map[string]bool{}
	for _, l := range lists {
		if err := ctx.Err(); err != nil {
			return err
		}
		if postings.bytesUsed()+int64(8*l.n) > budget*warmShare/8 {
			break
		}
		if _, _, err := termPostings(sn, s, l.seg, l.fp, []byte(l.term)); err != nil {
			return err
		}
		// The term's document frequencies and bounds too (a pass over
		// each of its lists, and a union of bitmaps when it is in several
		// fields), which a search would otherwise compute the first time
		// it meets the term.
		if !counted[l.term] && len(counted) < dfCacheTerms/2 {
			counted[l.term] = true
			if _, err := sn.docFreqs(mask, []byte(l.term), s, nil); err != nil {
				return err
			}
		}
	}
	// And the pinyin index of typo correction, which the first search
	// with a Chinese word the KB does not hold would otherwise build: 17–33
	// ms at a million chunks (BENCHMARKS.md, "The benchmark's own queries
	// in the harness").
	ix.sounds(sn)
	return nil
}

// cacheBudget is what the postings cache may hold while sn's index is
// searched (postingsBytesPerDoc a chunk; PostingsCacheBytes at least).
func cacheBudget(sn *snap) int64 {
	return max(PostingsCacheBytes, int64(sn.n)*postingsBytesPerDoc)
}

// bytesUsed is the memory the cache holds now.
func (c *postCache) bytesUsed() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
