package keyword

import (
	"context"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	index "github.com/blevesearch/bleve_index_api"

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

// queryTerm is a distinct analysed query term and how often the query has it.
type queryTerm struct {
	term string
	qtf  float64
}

// queryTerms analyses query with the index's analyzer.
func (ix *Index) queryTerms(query string) []queryTerm {
	if len(query) > MaxQueryBytes {
		cut := MaxQueryBytes
		for cut > 0 && !utf8.RuneStart(query[cut]) {
			cut--
		}
		query = query[:cut]
	}
	toks := ix.analyzer.Analyze([]byte(query))
	at := make(map[string]int, len(toks))
	var out []queryTerm
	for _, t := range toks {
		if i, ok := at[string(t.Term)]; ok {
			out[i].qtf++
			continue
		}
		if len(out) == MaxQueryTerms {
			continue
		}
		at[string(t.Term)] = len(out)
		out = append(out, queryTerm{term: string(t.Term), qtf: 1})
	}
	return out
}

// scratch holds per-search arrays indexed by scorch document number, reused
// across searches through a pool. Every entry set during a search is reset
// before the scratch goes back.
type scratch struct {
	tf       []float64 // BM25F pseudo-frequency of the current term
	termHit  []uint32  // document numbers with tf set
	score    []float64
	hits     []uint32 // document numbers with score set
	clauses  []uint16 // matching clauses, for the coord variant
	allow    []uint64 // filter bitset, when filtered
	filtered bool
	tfd      index.TermFieldDoc
}

func (s *scratch) grow(n uint64) {
	if n < uint64(len(s.score)) {
		return
	}
	// Growing keeps what this search has accumulated so far.
	size := max(int(n)+1, 2*len(s.score), 1024)
	s.tf = append(s.tf, make([]float64, size-len(s.tf))...)
	s.score = append(s.score, make([]float64, size-len(s.score))...)
	s.clauses = append(s.clauses, make([]uint16, size-len(s.clauses))...)
}

func (s *scratch) reset() {
	for _, d := range s.termHit {
		s.tf[d] = 0
	}
	for _, d := range s.hits {
		s.score[d] = 0
		s.clauses[d] = 0
	}
	s.termHit, s.hits, s.allow, s.filtered = s.termHit[:0], s.hits[:0], s.allow[:0], false
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
	if k <= 0 {
		return nil, nil
	}
	k = min(k, MaxK)
	qts := ix.queryTerms(query)
	if len(qts) == 0 {
		return nil, nil
	}
	r, err := ix.adv.Reader()
	if err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	defer r.Close()
	s := ix.scratch.Get().(*scratch)
	defer func() {
		s.reset()
		ix.scratch.Put(s)
	}()
	if !f.Empty() {
		ok, err := ix.buildFilter(ctx, r, s, f)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
	}
	if err := ix.score(ctx, r, s, qts); err != nil {
		return nil, err
	}
	return topK(r, s, k)
}

// buildFilter fills s.allow with the documents f lets through and reports
// whether there are any.
func (ix *Index) buildFilter(ctx context.Context, r index.IndexReader, s *scratch, f *kefu.Filter) (bool, error) {
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
	var cur []uint64
	for gi, g := range groups {
		set, err := ix.postingSet(ctx, r, s, g)
		if err != nil {
			return false, err
		}
		if gi == 0 {
			cur = set
		} else {
			cur = cur[:min(len(cur), len(set))]
			for i := range cur {
				cur[i] &= set[i]
			}
		}
	}
	s.allow = append(s.allow[:0], cur...)
	s.filtered = true
	for _, w := range s.allow {
		if w != 0 {
			return true, nil
		}
	}
	return false, nil
}

// postingSet returns the bitset of documents holding any of terms in the
// filter field.
func (ix *Index) postingSet(ctx context.Context, r index.IndexReader, s *scratch, terms []string) ([]uint64, error) {
	var set []uint64
	for _, t := range terms {
		tfr, err := r.TermFieldReader(ctx, []byte(t), fieldFilter, false, false, false)
		if err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		for n := 0; ; n++ {
			if n%checkEvery == checkEvery-1 {
				if err := ctx.Err(); err != nil {
					_ = tfr.Close()
					return nil, err
				}
			}
			tfd, err := tfr.Next(s.tfd.Reset())
			if err != nil {
				_ = tfr.Close()
				return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
			}
			if tfd == nil {
				break
			}
			d := tfd.ID.Value()
			w := int(d >> 6)
			if w >= len(set) {
				set = append(set, make([]uint64, w+1-len(set))...)
			}
			set[w] |= 1 << (d & 63)
		}
		if err := tfr.Close(); err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
	}
	return set, nil
}

// fieldParams are the per-field constants of one search.
type fieldParams struct {
	name   string
	weight float64
	avg    float64 // average length of the field over the documents that have it
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
func (ix *Index) score(ctx context.Context, r index.IndexReader, s *scratch, qts []queryTerm) error {
	n, err := r.DocCount()
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	stats, err := readStats(r)
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	sc := ix.opts.scoring
	k1, b := ix.opts.K1, ix.opts.B
	var fields []fieldParams
	for f, name := range textFields {
		if ix.weights[f] <= 0 {
			continue
		}
		p := fieldParams{name: name, weight: ix.weights[f], avg: stats.avg(f)}
		if sc.cardinalityAvg {
			if br, ok := r.(index.BM25Reader); ok && n > 0 {
				c, err := br.FieldCardinality(name)
				if err != nil {
					return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
				}
				p.avg = math.Ceil(float64(c) / float64(n))
			}
		}
		if p.avg > 0 {
			fields = append(fields, p)
		}
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
	tfOf := func(freq uint64) float64 {
		if sc.sqrtTF {
			return math.Sqrt(float64(freq))
		}
		return float64(freq)
	}

	// The clauses of bleve's disjunction, for the queryNorm and coord
	// variants: one per term and field, weighted boost·idf.
	var queryNorm float64 = 1
	if sc.fieldSum && sc.queryNorm {
		var sum float64
		for _, qt := range qts {
			for _, fp := range fields {
				df, err := postingCount(ctx, r, qt.term, fp.name)
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

	read := 0
	for _, qt := range qts {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fp := range fields {
			tfr, err := r.TermFieldReader(ctx, []byte(qt.term), fp.name, true, true, false)
			if err != nil {
				return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
			}
			// Per-field variant: the clause's idf comes from the field's
			// document frequency, as in bleve.
			var clause float64
			if sc.fieldSum {
				w := fp.weight * qt.qtf
				df := float64(tfr.Count())
				clause = idf(df) * w
				if sc.queryNorm {
					clause *= idf(df) * queryNorm
				}
			}
			norm0 := 1 - b
			normL := b / fp.avg
			for {
				if read++; read%checkEvery == 0 {
					if err := ctx.Err(); err != nil {
						_ = tfr.Close()
						return err
					}
				}
				tfd, err := tfr.Next(s.tfd.Reset())
				if err != nil {
					_ = tfr.Close()
					return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
				}
				if tfd == nil {
					break
				}
				d := tfd.ID.Value()
				s.grow(d)
				lenNorm := norm0 + normL*lenFromNorm(tfd.Norm)
				tf := tfOf(tfd.Freq)
				if sc.fieldSum {
					if !s.allowed(d) {
						continue
					}
					if s.score[d] == 0 {
						s.hits = append(s.hits, uint32(d))
					}
					s.score[d] += clause * numer * tf / (tf + k1*lenNorm)
					s.clauses[d]++
					continue
				}
				if s.tf[d] == 0 {
					s.termHit = append(s.termHit, uint32(d))
				}
				s.tf[d] += fp.weight * tf / lenNorm
			}
			if err := tfr.Close(); err != nil {
				return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
			}
		}
		if sc.fieldSum {
			continue
		}
		w := qt.qtf * idf(float64(len(s.termHit)))
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
		}
		s.termHit = s.termHit[:0]
	}
	if sc.fieldSum && sc.coord {
		total := float64(len(qts) * len(fields))
		for _, d := range s.hits {
			s.score[d] *= float64(s.clauses[d]) / total
		}
	}
	return nil
}

func postingCount(ctx context.Context, r index.IndexReader, term, field string) (uint64, error) {
	tfr, err := r.TermFieldReader(ctx, []byte(term), field, false, false, false)
	if err != nil {
		return 0, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	c := tfr.Count()
	return c, tfr.Close()
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

// topK selects the k best of s.hits with a bounded min-heap and resolves
// their external ids.
func topK(r index.IndexReader, s *scratch, k int) ([]kefu.Scored, error) {
	h := make([]hit, 0, min(k, len(s.hits)))
	for _, d := range s.hits {
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
	var buf [8]byte
	externalID := func(d uint32) (string, error) {
		id, err := r.ExternalID(index.NewIndexInternalID(buf[:], uint64(d)))
		if err != nil {
			return "", kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		return id, nil
	}
	out := make([]kefu.Scored, len(h))
	for i, x := range h {
		id, err := externalID(x.doc)
		if err != nil {
			return nil, err
		}
		out[i] = kefu.Scored{ChunkID: id, Score: x.score}
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
		for _, d := range s.hits {
			if s.score[d] == last {
				tied = append(tied, d)
			}
		}
		if len(tied) > kept && len(tied) <= maxTies {
			ids := make([]string, len(tied))
			for i, d := range tied {
				id, err := externalID(d)
				if err != nil {
					return nil, err
				}
				ids[i] = id
			}
			slices.Sort(ids)
			for i := range kept {
				out[len(out)-kept+i].ChunkID = ids[i]
			}
		}
	}
	slices.SortStableFunc(out, func(a, b kefu.Scored) int {
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
