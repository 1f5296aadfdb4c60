package keyword

import (
	"cmp"
	"context"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"

	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/kefu-dev/kefu"
)

// scoring selects variants of the scorer. The zero value is the product's
// scorer, textbook BM25F. The other variants reproduce bleve's BM25 one
// departure at a time so that the tests can measure what each costs.
type scoring struct {
	fieldSum       bool // sum per-field BM25 scores (bleve's disjunction over fields) instead of BM25F
	sqrtTF         bool // bleve: tf = sqrt(frequency)
	cardinalityAvg bool // bleve: "average length" = ceil(distinct terms of the field / documents)
	queryNorm      bool // bleve: each clause × boost·idf/sqrt(Σ (boost·idf)²), squaring the idf
	coord          bool // bleve: × matching clauses / clauses
	noK1Plus1      bool // bleve: numerator k1·tf instead of (k1+1)·tf; ranking-neutral
}

// bleveScoring reproduces bleve v2.6's BM25 (search/scorer/scorer_term.go and
// search/searcher/search_term.go).
var bleveScoring = scoring{fieldSum: true, sqrtTF: true, cardinalityAvg: true, queryNorm: true, coord: true, noK1Plus1: true}

// scratch holds per-search arrays indexed by document number (see snap),
// reused across searches through a pool. Every entry set during a search is
// reset before the scratch goes back.
type scratch struct {
	tf       []float64 // BM25F pseudo-frequency of the current term
	termHit  []uint32  // document numbers with tf set
	counts   []uint32  // query terms found in the document: in any field (low 16 bits), in title, headings or questions (high 16)
	headSeen []uint16  // 1 + index of the last query term found in a heading field
	score    []float64
	hits     []uint32 // document numbers with score set
	ranked   []uint32 // when not nil, the hits that can be in the top k (the scorer pruned the others)
	clauses  []uint16 // matching clauses, for the coord variant
	allow    []uint64 // filter bitset, when filtered
	filtered bool
	cand     []uint32                 // backing array of scoreBM25F's candidates
	per      []termDF                 // scoreBM25F's document frequencies per query term and segment
	mark     []uint64                 // a bitset of documents, all zero between uses (sortDocs)
	pl       segment.PostingsList     // reused by snap.postings
	it       segment.PostingsIterator // reused by the scorer
	inv      [numFields][]float64     // backing arrays of fieldParams.inv
	short    [numFields]decoded       // short postings lists decoded by scoreAll, per field
	lists    []fieldList              // backing array of scoreAll's lists
	at       []int                    // backing array of mergeFields' places

	// The k best-scored documents of scoreBM25F so far, a min-heap by
	// score, and the least of their scores once there are k (−1 before):
	// the k-th best score, which MaxScore prunes against, known after
	// every term without a pass over the hits.
	top   topDocs
	topK  int
	topLo float64

	// Whether a search wrote clauses (the coord variant) or headSeen
	// (addTF: the per-field passes, the listed candidates): most searches
	// of a merged segment write neither, and reset leaves them, 4 of the
	// 16 MB it would clear at a million chunks.
	clausesUsed, headSeenUsed bool
}

// headCount is one query term found in a heading field, in scratch.counts;
// a term found in any field adds 1. Neither count can reach 16 bits: a
// query has at most MaxQueryTerms terms. One word for both counts is one memory
// access a posting instead of two in the scorer's loops, whose arrays (one
// entry a chunk) outgrow the caches of a large index.
const headCount = 1 << 16

// countOf is what a counted query term found in a field adds to a
// document's counts: 1, and headCount in a heading field.
func countOf(head bool) uint32 {
	if head {
		return 1 + headCount
	}
	return 1
}

func matchedOf(c uint32) int { return int(c & (headCount - 1)) }
func headOf(c uint32) int    { return int(c >> 16) }

// scratches keeps the scratches of finished searches for the next ones.
// Unlike a sync.Pool it survives garbage collections and is not per P: at
// a million chunks a scratch is 24 MB, and making one again cost a search
// about 6,000 page faults (tens of milliseconds) after a collection, or on
// the other core than the one warm prepared a scratch on.
type scratches struct {
	mu   sync.Mutex
	free []*scratch
}

// maxFreeScratches bounds the scratches kept: as many as searches run at
// once on a busy node, which GOMAXPROCS bounds in CPU time anyway.
var maxFreeScratches = max(2, runtime.GOMAXPROCS(0))

// get returns a kept scratch, or a new one.
func (p *scratches) get() *scratch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		return s
	}
	return new(scratch)
}

// put keeps s, reset, for a later search (beyond maxFreeScratches it is
// left to the collector).
func (p *scratches) put(s *scratch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFreeScratches {
		p.free = append(p.free, s)
	}
}

// prepare sizes the arrays for document numbers below n, with room for
// an eighth more (scratchRoom): an index grows a chunk at a time, and new
// arrays are memory fresh from the OS, mapped a page fault at a time as a
// search first writes them. Sized to the chunk, every write that added one
// made the next searches at a million chunks pay 50 ms of faults.
func (s *scratch) prepare(n uint64) {
	if n <= uint64(len(s.score)) {
		return
	}
	n += n / scratchRoom
	s.tf = make([]float64, n)
	s.score = make([]float64, n)
	s.clauses = make([]uint16, n)
	s.counts = make([]uint32, n)
	s.headSeen = make([]uint16, n)
	s.mark = make([]uint64, (n+63)/64)
}

// scratchRoom: the scratch's arrays grow by a scratchRoom-th more than the
// index needs.
const scratchRoom = 8

// touch sizes the lists of hits and candidates for every document and
// writes every page of the arrays: memory fresh from the OS is mapped at
// its first write, a page fault each 4 KB that cost the first searches
// after a start tens of milliseconds at a million chunks. warm touches
// the scratch it leaves for them.
func (s *scratch) touch() {
	n := len(s.score)
	s.hits = slices.Grow(s.hits[:0], n)
	s.cand = slices.Grow(s.cand[:0], n)
	clear(s.hits[:n])
	clear(s.cand[:n])
	clear(s.tf)
	clear(s.score)
	clear(s.clauses)
	clear(s.counts)
	clear(s.headSeen)
	clear(s.mark)
}

// sortDocs sorts document numbers without duplicates through the mark
// bitset: a pass over n/64 words instead of a comparison sort of tens of
// thousands of candidates.
func (s *scratch) sortDocs(ds []uint32) {
	lo, hi := len(s.mark), 0
	for _, d := range ds {
		w := int(d >> 6)
		s.mark[w] |= 1 << (d & 63)
		lo, hi = min(lo, w), max(hi, w)
	}
	i := 0
	for w := lo; w <= hi && i < len(ds); w++ {
		for b := s.mark[w]; b != 0; b &= b - 1 {
			ds[i] = uint32(w<<6 + bits.TrailingZeros64(b))
			i++
		}
		s.mark[w] = 0
	}
}

func (s *scratch) reset() {
	for _, d := range s.termHit {
		s.tf[d] = 0
	}
	if len(s.hits) > len(s.score)/16 {
		// Many: clearing the arrays whole, in order, is faster than
		// visiting each hit's entries at random.
		clear(s.score)
		clear(s.counts)
		if s.clausesUsed {
			clear(s.clauses)
		}
		if s.headSeenUsed {
			clear(s.headSeen)
		}
	} else {
		for _, d := range s.hits {
			s.score[d] = 0
			s.clauses[d] = 0
			s.counts[d], s.headSeen[d] = 0, 0
		}
	}
	s.clausesUsed, s.headSeenUsed = false, false
	s.termHit, s.hits, s.allow, s.filtered, s.per = s.termHit[:0], s.hits[:0], s.allow[:0], false, s.per[:0]
	s.ranked = nil
}

func (s *scratch) allowed(d uint64) bool {
	if !s.filtered {
		return true
	}
	w := d >> 6
	return w < uint64(len(s.allow)) && s.allow[w]&(1<<(d&63)) != 0
}

// checkEvery is how many postings the scorer reads between context checks.
const checkEvery = 1 << 13

// Search returns the k best chunks for query with their BM25F scores, best
// first, among those that pass the filter (applied inside the search, so k
// matching chunks come back when k exist). The query is plain text, analysed
// like the documents; no query syntax is interpreted.
func (ix *Index) Search(ctx context.Context, query string, k int, f *kefu.Filter) ([]kefu.Scored, error) {
	hits, _, err := ix.SearchHits(ctx, query, k, f)
	if err != nil {
		return nil, err
	}
	out := make([]kefu.Scored, len(hits))
	for i, h := range hits {
		out[i] = kefu.Scored{ChunkID: h.ChunkID, Score: h.Score}
	}
	return out, nil
}

// Hit is a search result with how much of the query it holds.
type Hit struct {
	ChunkID string
	Score   float64
	// Matched counts the query's own distinct terms (words and characters,
	// not synonyms) found in any field of the chunk, Head those found in its
	// title, heading path or FAQ questions.
	Matched, Head int
	// HeadMatch and BodyMatch have bit i set when QueryInfo.Terms[i]
	// (i < 64) is in a heading field (title, heading path, FAQ questions)
	// or in the body (passage, FAQ answer) of the chunk; only the first
	// kefu.MaskedHits hits have them (Masked).
	HeadMatch, BodyMatch uint64
	Masked               bool

	doc uint32 // document number in the search's snapshot
}

// QueryInfo is what a search knew of its query: its distinct terms with
// their document frequencies, and how many live chunks there were.
type QueryInfo struct {
	Terms []kefu.QueryTerm
	Docs  int
	// Counted is the number of the query's own terms (words and
	// characters), the denominator of Hit.Matched.
	Counted int
}

// SearchHits is Search with the matched terms of every hit and what the
// index knows of the query's terms, from which a caller computes how much
// of the query a hit covers without analysing its text again.
func (ix *Index) SearchHits(ctx context.Context, query string, k int, f *kefu.Filter) (hits []Hit, info QueryInfo, err error) {
	if k <= 0 {
		return nil, info, nil
	}
	k = min(k, MaxK)
	qts := ix.queryTerms(query)
	if len(qts) == 0 {
		return nil, info, nil
	}
	for i := range qts {
		if qts[i].counted() {
			info.Counted++
		}
	}
	sn, err := ix.snapshot()
	if err != nil {
		return nil, info, err
	}
	defer sn.close()
	info.Docs = int(sn.n)
	s := ix.scratch.get()
	defer func() {
		s.reset()
		ix.scratch.put(s)
	}()
	s.prepare(sn.size())
	v := snapVocab{ix, sn, s, fieldMask(ix.scoredFields(sn))}
	translations(v.held, qts, query)
	qts = corrections(v, qts, query)
	dfs := make([]int, len(qts))
	defer func() { info.Terms = describe(qts, dfs) }()
	if !f.Empty() {
		ok, err := buildFilter(ctx, sn, s, f)
		if err != nil || !ok {
			if err == nil {
				err = ix.countDF(sn, s, qts, dfs)
			}
			return nil, info, err
		}
	}
	if err := ix.score(ctx, sn, s, qts, k, dfs); err != nil {
		return nil, info, err
	}
	hits, err = topK(sn, s, k)
	if err != nil {
		return nil, info, err
	}
	if err := ix.masks(sn, s, qts, hits); err != nil {
		return nil, info, err
	}
	return hits, info, nil
}

// describe turns the analysed terms and their document frequencies into
// the domain's QueryTerms.
func describe(qts []queryTerm, dfs []int) []kefu.QueryTerm {
	out := make([]kefu.QueryTerm, len(qts))
	for i, q := range qts {
		out[i] = kefu.QueryTerm{Text: strings.TrimPrefix(q.term, bigramMark), Surface: q.surface, Kind: q.kind, For: q.of, Weight: q.qtf, DF: dfs[i], Function: q.fn, Specificity: q.spec, Phrases: q.phrases}
	}
	return out
}

// countDF fills dfs with each term's document frequency over the text
// fields, for a search that scored nothing (an empty filter).
func (ix *Index) countDF(sn *snap, s *scratch, qts []queryTerm, dfs []int) error {
	fields := ix.searchedFields()
	for i, qt := range qts {
		st, err := sn.docFreqs(fieldMask(fields), []byte(qt.term), s, nil)
		if err != nil {
			return err
		}
		dfs[i] = int(st.union)
	}
	return nil
}

// masks sets the term masks of the first kefu.MaskedHits hits by probing
// each term's postings for their document numbers: a few hundred bitmap
// lookups, where tracking masks while scoring would cost 16 bytes per
// chunk in every search's scratch.
func (ix *Index) masks(sn *snap, s *scratch, qts []queryTerm, hits []Hit) error {
	n := min(len(hits), kefu.MaskedHits)
	if n == 0 {
		return nil
	}
	type target struct {
		doc uint64
		hit int
	}
	ts := make([]target, n)
	for i := range n {
		ts[i] = target{uint64(hits[i].doc), i}
		hits[i].Masked = true
	}
	slices.SortFunc(ts, func(a, b target) int { return cmp.Compare(a.doc, b.doc) })
	fields := ix.searchedFields()
	ns := len(sn.segs)
	for qi := range min(len(qts), 64) {
		bit := uint64(1) << qi
		term := []byte(qts[qi].term)
		var per []termDF // where the scorer counted the term, if it did
		if len(s.per) == len(qts)*ns {
			per = s.per[qi*ns : (qi+1)*ns]
		}
		for _, fp := range fields {
			j := 0
			for si := range sn.segs {
				off := sn.segs[si].offset
				end := off + sn.segs[si].ss.Segment().Count()
				for j < len(ts) && ts[j].doc < off {
					j++
				}
				if j == len(ts) {
					break
				}
				if ts[j].doc >= end || per != nil && per[si].field[fp.slot] == 0 {
					continue
				}
				pl, err := sn.postings(si, fp.slot, term, s)
				if err != nil {
					return err
				}
				if pl == nil {
					continue
				}
				s.it = pl.Iterator(false, false, false, s.it)
				var bm interface{ Contains(uint32) bool }
				if o, ok := s.it.(segment.OptimizablePostingsIterator); ok {
					if d, ok := o.DocNum1Hit(); ok {
						bm = oneDoc(d)
					} else if b := o.ActualBitmap(); b != nil {
						bm = b
					}
				}
				var cur segment.Posting
				for ; j < len(ts) && ts[j].doc < end; j++ {
					local := ts[j].doc - off
					found := false
					if bm != nil {
						found = bm.Contains(uint32(local))
					} else {
						if cur == nil || cur.Number() < local {
							if cur, err = s.it.Advance(local); err != nil {
								return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
							}
						}
						found = cur != nil && cur.Number() == local
					}
					if found {
						h := &hits[ts[j].hit]
						if fp.head {
							h.HeadMatch |= bit
						} else {
							h.BodyMatch |= bit
						}
					}
				}
			}
		}
	}
	return nil
}

type oneDoc uint64

func (d oneDoc) Contains(x uint32) bool { return uint64(d) == uint64(x) }

// scoredFields are the searched fields that some document has, as score
// sees them with the product's scoring (without their parameters).
func (ix *Index) scoredFields(sn *snap) []fieldParams {
	var out []fieldParams
	for _, fp := range ix.searchedFields() {
		if sn.stats.avg(fp.slot) > 0 {
			out = append(out, fp)
		}
	}
	return out
}

// searchedFields are the text fields with a weight, as score sees them
// (without the length parameters, which probing does not need).
func (ix *Index) searchedFields() []fieldParams {
	var out []fieldParams
	for f := range textFields {
		if ix.weights[f] > 0 {
			out = append(out, fieldParams{slot: f, head: textFields[f] != fieldBody, weight: ix.weights[f]})
		}
	}
	return out
}

// buildFilter fills s.allow with the documents f lets through and reports
// whether there are any.
func buildFilter(ctx context.Context, sn *snap, s *scratch, f *kefu.Filter) (bool, error) {
	var groups [][]string
	if len(f.DocIDs) > 0 {
		g := make([]string, len(f.DocIDs))
		for i, id := range f.DocIDs {
			g[i] = docTerm(id)
		}
		groups = append(groups, g)
	}
	if len(f.Kinds) > 0 {
		g := make([]string, len(f.Kinds))
		for i, kd := range f.Kinds {
			g[i] = kindTerm(string(kd))
		}
		groups = append(groups, g)
	}
	for key, v := range f.Meta {
		groups = append(groups, []string{metaTerm(key, v)})
	}
	words := int((sn.size() + 63) / 64)
	s.allow = slices.Grow(s.allow[:0], words)[:words]
	set := make([]uint64, words)
	for gi, g := range groups {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		clear(set)
		if err := postingSet(sn, s, g, set); err != nil {
			return false, err
		}
		if gi == 0 {
			copy(s.allow, set)
			continue
		}
		for i := range s.allow {
			s.allow[i] &= set[i]
		}
	}
	s.filtered = true
	for _, w := range s.allow {
		if w != 0 {
			return true, nil
		}
	}
	return false, nil
}

// postingSet adds to set the documents holding any of terms in the filter
// field.
func postingSet(sn *snap, s *scratch, terms []string, set []uint64) error {
	add := func(d uint64) { set[d>>6] |= 1 << (d & 63) }
	for _, t := range terms {
		for i := range sn.segs {
			pl, err := sn.postings(i, dictFilter, []byte(t), s)
			if err != nil {
				return err
			}
			if pl == nil {
				continue
			}
			off := sn.segs[i].offset
			s.it = pl.Iterator(false, false, false, s.it)
			// zap exposes the live postings as a bitmap: no decoding.
			if o, ok := s.it.(segment.OptimizablePostingsIterator); ok {
				if d, ok := o.DocNum1Hit(); ok {
					add(off + d)
					continue
				}
				if bm := o.ActualBitmap(); bm != nil {
					for it := bm.Iterator(); it.HasNext(); {
						add(off + uint64(it.Next()))
					}
					continue
				}
			}
			for {
				p, err := s.it.Next()
				if err != nil {
					return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
				}
				if p == nil {
					break
				}
				add(off + p.Number())
			}
		}
	}
	return nil
}

// fieldParams are the per-field constants of one search.
type fieldParams struct {
	slot   int  // dictionary slot (index in textFields)
	head   bool // title, headings or questions: counts for Hit.Head
	weight float64
	avg    float64   // average length of the field over the documents that have it
	inv    []float64 // 1/(1 − b + b·length/avg) for short lengths: a multiplication per posting instead of a division
	norm0  float64   // 1 − b
	normL  float64   // b/avg
}

// invLengths is the number of lengths fieldParams.inv holds: most chunks are
// shorter.
const invLengths = 512

// fieldParams are the per-field constants of a search on sn: the searched
// fields that some document has, with their length normalisation.
func (ix *Index) fieldParams(sn *snap, s *scratch) ([]fieldParams, error) {
	n, sc, b := sn.n, ix.opts.scoring, ix.opts.B
	var fields []fieldParams
	for f := range textFields {
		if ix.weights[f] <= 0 {
			continue
		}
		p := fieldParams{slot: f, head: textFields[f] != fieldBody, weight: ix.weights[f], avg: sn.stats.avg(f)}
		if sc.cardinalityAvg {
			br, ok := sn.r.(index.BM25Reader)
			if ok && n > 0 {
				c, err := br.FieldCardinality(textFields[f])
				if err != nil {
					return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
				}
				p.avg = math.Ceil(float64(c) / float64(n))
			}
		}
		if p.avg > 0 {
			p.norm0, p.normL = 1-b, b/p.avg
			p.inv = s.inv[f][:0]
			for l := range invLengths {
				p.inv = append(p.inv, 1/(1-b+b*float64(l)/p.avg))
			}
			s.inv[f] = p.inv
			fields = append(fields, p)
		}
	}
	return fields, nil
}

// score accumulates the BM25F score of every matching, allowed document in
// s.score, term at a time: for each term, the weighted, length-normalised
// frequencies of all fields are summed per document (s.tf), then saturated
// once and multiplied by the idf of the term, whose document frequency is
// counted exactly over the union of the fields.
//
// Why by hand: bleve's searchers score each term×field clause on its own
// (so a term found in title and body saturates twice), and its BM25 differs
// from the textbook one (see scoring); bleve gives the postings, this the
// ranking. Term-at-a-time over dense arrays is the simplest exact method and
// fast enough at 100k chunks (see BenchmarkSearch).
func (ix *Index) score(ctx context.Context, sn *snap, s *scratch, qts []queryTerm, k int, dfs []int) error {
	n := sn.n
	sc := ix.opts.scoring
	k1 := ix.opts.K1
	fields, err := ix.fieldParams(sn, s)
	if err != nil {
		return err
	}
	if n == 0 || len(fields) == 0 {
		return nil
	}
	numer := k1 + 1
	if sc.noK1Plus1 {
		numer = k1
	}
	idf := func(df float64) float64 {
		return math.Log(1 + (float64(n)-df+0.5)/(df+0.5))
	}

	if !sc.fieldSum {
		return ix.scoreBM25F(ctx, sn, s, qts, fields, k, numer, idf, dfs)
	}

	// The clauses of bleve's disjunction, for the queryNorm and coord
	// variants: one per term and field, weighted boost·idf.
	queryNorm := 1.0
	if sc.fieldSum && sc.queryNorm {
		var sum float64
		for _, qt := range qts {
			for _, fp := range fields {
				df, err := sn.count(fp.slot, []byte(qt.term), s)
				if err != nil {
					return err
				}
				w := fp.weight * qt.qtf * idf(float64(df))
				sum += w * w
			}
		}
		if sum > 0 {
			queryNorm = 1 / math.Sqrt(sum)
		}
	}

	for qi, qt := range qts {
		for _, fp := range fields {
			df, err := sn.count(fp.slot, []byte(qt.term), s)
			if err != nil {
				return err
			}
			dfs[qi] = max(dfs[qi], int(df))
		}
	}
	read := 0
	for _, qt := range qts {
		if err := ctx.Err(); err != nil {
			return err
		}
		term := []byte(qt.term)
		for _, fp := range fields {
			// The clause's idf comes from the field's document frequency,
			// as in bleve.
			df, err := sn.count(fp.slot, term, s)
			if err != nil {
				return err
			}
			clause := idf(float64(df)) * fp.weight * qt.qtf
			if sc.queryNorm {
				clause *= idf(float64(df)) * queryNorm
			}
			err = eachPosting(ctx, sn, s, fp, term, nil, &read, func(d uint64, freq uint64, inv float64) {
				tf := float64(freq)
				if sc.sqrtTF {
					tf = math.Sqrt(tf)
				}
				if !s.allowed(d) {
					return
				}
				if s.score[d] == 0 {
					s.hits = append(s.hits, uint32(d))
				}
				s.score[d] += clause * numer * tf / (tf + k1/inv)
				s.clauses[d]++
				s.clausesUsed = true
			})
			if err != nil {
				return err
			}
		}
	}
	if sc.coord {
		total := float64(len(qts) * len(fields))
		for _, d := range s.hits {
			s.score[d] *= float64(s.clauses[d]) / total
		}
	}
	return nil
}

// hit is a scored document number.
type hit struct {
	score float64
	doc   uint32
}

// better orders hits best first; equal scores go to the earlier document so
// that results are deterministic.
func better(a, b hit) bool {
	return a.score > b.score || (a.score == b.score && a.doc < b.doc)
}

// topK selects the k best of s.hits (of s.ranked when the scorer pruned)
// with a bounded min-heap and resolves their external ids.
func topK(sn *snap, s *scratch, k int) ([]Hit, error) {
	from := s.hits
	if s.ranked != nil {
		from = s.ranked
	}
	h := make([]hit, 0, min(k, len(from)))
	for _, d := range from {
		x := hit{s.score[d], d}
		if len(h) < k {
			h = append(h, x)
			// sift up: the root is the worst hit
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !better(h[p], h[i]) {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
			continue
		}
		if !better(x, h[0]) {
			continue
		}
		h[0] = x
		for i := 0; ; {
			l, m := 2*i+1, i
			if l < len(h) && better(h[m], h[l]) {
				m = l
			}
			if l+1 < len(h) && better(h[m], h[l+1]) {
				m = l + 1
			}
			if m == i {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	slices.SortFunc(h, func(a, b hit) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	externalID := func(d uint32) (string, error) { return sn.externalID(uint64(d)) }
	out := make([]Hit, len(h))
	for i, x := range h {
		id, err := externalID(x.doc)
		if err != nil {
			return nil, err
		}
		out[i] = Hit{ChunkID: id, Score: x.score, Matched: matchedOf(s.counts[x.doc]), Head: headOf(s.counts[x.doc]), doc: x.doc}
	}
	// Document numbers change as bleve merges segments, so equal scores are
	// ordered by chunk id instead, including at the cut: the chunks tied
	// with the last one kept compete for its place by id.
	if len(h) == k {
		last := h[len(h)-1].score
		kept := 0
		for _, x := range h {
			if x.score == last {
				kept++
			}
		}
		var tied []uint32
		for _, d := range from {
			if s.score[d] == last {
				tied = append(tied, d)
			}
		}
		if len(tied) > kept && len(tied) <= maxTies {
			type idDoc struct {
				id  string
				doc uint32
			}
			ids := make([]idDoc, len(tied))
			for i, d := range tied {
				id, err := externalID(d)
				if err != nil {
					return nil, err
				}
				ids[i] = idDoc{id, d}
			}
			slices.SortFunc(ids, func(a, b idDoc) int { return strings.Compare(a.id, b.id) })
			for i := range kept {
				d := ids[i].doc
				out[len(out)-kept+i] = Hit{ChunkID: ids[i].id, Score: last, Matched: matchedOf(s.counts[d]), Head: headOf(s.counts[d]), doc: d}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Hit) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ChunkID, b.ChunkID)
	})
	return out, nil
}

// maxTies bounds the chunk ids looked up to order a tie at the cut; beyond
// it the tie is broken by document number.
const maxTies = 4096
