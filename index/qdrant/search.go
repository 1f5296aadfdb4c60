package qdrant

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
)

// MaxCandidates bounds the candidates one search may ask for per side.
const MaxCandidates = 2000

// vocabLimit bounds the distinct terms one facet call may return: a KB's
// vocabulary beyond it is cut (the rarest terms first), which only costs
// typo correction and the document frequency of those terms.
const vocabLimit = 4_000_000

// termStats is what a KB's keyword side knows at one version: its chunk
// count and every term's document frequency, cached per KB until the
// version changes. They come from Qdrant (facet counts of the chunks'
// "terms" and a count) when a node has none for the version; a write this
// node makes carries them to the new version with what it changed
// (advanceStats), without asking Qdrant.
type termStats struct {
	version uint64
	col     string
	docs    int
	df      map[string]int // what vocab holds; the next version's starts from a copy
	vocab   *keyword.Vocabulary
	ready   chan struct{}
	err     error
	took    time.Duration
}

// analysisAt is the analysis of a KB's queries with its synonym rules.
type analysisAt struct {
	settings string // the settings it was made for
	an       *keyword.Analysis
}

// analysis returns the query analysis for a KB's current settings.
func (s *Store) analysis(kb *kefu.KB) (*keyword.Analysis, error) {
	key := strings.Join(kb.Settings.Synonyms, "\n") + "\x00" + strings.Join(kb.Settings.LearnedSynonyms, "\n") + "\x00" + kb.Settings.Lexicon
	s.mu.Lock()
	a := s.an[kb.Name]
	s.mu.Unlock()
	if a != nil && a.settings == key {
		return a.an, nil
	}
	rules, err := keyword.SettingsRules(&kb.Settings)
	if err != nil {
		return nil, err
	}
	an := keyword.NewAnalysis(s.opts.Keyword)
	an.SetLexicon(rules)
	s.mu.Lock()
	s.an[kb.Name] = &analysisAt{settings: key, an: an}
	s.mu.Unlock()
	return an, nil
}

// vocabulary returns the KB's term statistics at the record's version,
// from the cache or from one count and one facet call, made once however
// many searches wait for it.
func (s *Store) vocabulary(ctx context.Context, rec *kbRecord) (*termStats, error) {
	s.mu.Lock()
	ts := s.stats[rec.KB.Name]
	if ts != nil && ts.version == rec.KB.Version && ts.col == rec.Collection {
		s.mu.Unlock()
		select {
		case <-ts.ready:
		case <-ctx.Done():
			return nil, kefu.Errorf(kefu.ETIMEOUT, "qdrant: term statistics: %v", ctx.Err())
		}
		if ts.err != nil {
			return nil, ts.err
		}
		return ts, nil
	}
	older := ts != nil && ts.col == rec.Collection && ts.version > rec.KB.Version
	ts = &termStats{version: rec.KB.Version, col: rec.Collection, ready: make(chan struct{})}
	if older {
		// A search that read the KB just before a commit: its statistics
		// are its own, the cache keeps the newer ones.
		s.mu.Unlock()
		return ts, s.loadVocabulary(ctx, rec, ts)
	}
	s.stats[rec.KB.Name] = ts
	s.mu.Unlock()
	if err := s.fill(rec.KB.Name, ts, func() error { return s.loadVocabulary(ctx, rec, ts) }); err != nil {
		return nil, err
	}
	return ts, nil
}

// fill runs load for ts, a KB's statistics that searches may already wait
// for, and releases them; failed statistics leave the cache.
func (s *Store) fill(kb string, ts *termStats, load func() error) error {
	t := time.Now()
	ts.err = load()
	ts.took = time.Since(t)
	close(ts.ready)
	if ts.err != nil {
		s.mu.Lock()
		if s.stats[kb] == ts {
			delete(s.stats, kb)
		}
		s.mu.Unlock()
	}
	return ts.err
}

// advanceStats carries a KB's cached term statistics from version from to
// rec's, adding what this node's write changed: delta, the change in the
// number of chunks holding each term, and docs, in the number of chunks.
// When the cache holds no complete statistics of version from in rec's
// collection (another node wrote in between, a re-embedding switched
// collections, they are still loading), nothing is carried and the next
// search fetches them from Qdrant.
func (s *Store) advanceStats(rec *kbRecord, from uint64, delta map[string]int, docs int) {
	kb := rec.KB.Name
	s.mu.Lock()
	prev := s.stats[kb]
	if prev == nil || prev.version != from || prev.col != rec.Collection || prev.col == "" || !isClosed(prev.ready) || prev.err != nil {
		s.mu.Unlock()
		return
	}
	next := &termStats{version: rec.KB.Version, col: rec.Collection, ready: make(chan struct{})}
	s.stats[kb] = next
	s.mu.Unlock()
	s.fill(kb, next, func() error {
		df := maps.Clone(prev.df)
		for t, d := range delta {
			if df[t] += d; df[t] <= 0 {
				delete(df, t)
			}
		}
		next.docs = prev.docs + docs
		return next.index(df)
	})
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// index makes ts's vocabulary of df.
func (ts *termStats) index(df map[string]int) error {
	v, err := keyword.NewVocabulary(df)
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "qdrant: vocabulary: %v", err)
	}
	ts.df, ts.vocab = df, v
	return nil
}

func (s *Store) loadVocabulary(ctx context.Context, rec *kbRecord, ts *termStats) error {
	f := visible(rec.KB.Version)
	var (
		wg         sync.WaitGroup
		hits       []*qdrant.FacetHit
		count      uint64
		ferr, cerr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		ferr = s.call(ctx, "term statistics", func(ctx context.Context) (err error) {
			hits, err = s.client.Facet(ctx, &qdrant.FacetCounts{CollectionName: rec.Collection, Key: keyTerms, Filter: f, Limit: ptr(uint64(vocabLimit)), Exact: ptr(true)})
			return err
		})
	}()
	go func() {
		defer wg.Done()
		cerr = s.call(ctx, "count chunks", func(ctx context.Context) (err error) {
			count, err = s.client.Count(ctx, &qdrant.CountPoints{CollectionName: rec.Collection, Filter: f, Exact: ptr(true)})
			return err
		})
	}()
	wg.Wait()
	if ferr != nil {
		return ferr
	}
	if cerr != nil {
		return cerr
	}
	df := make(map[string]int, len(hits))
	for _, h := range hits {
		df[h.GetValue().GetStringValue()] = int(h.Count)
	}
	ts.docs = int(count)
	return ts.index(df)
}

// Search runs both sides of req in one QueryBatch call on the KB's version
// read just before, and computes what the keyword side reports beside the
// ranking (document frequencies, term masks, coverage) as kefu's own index
// does: from the cached term statistics and the hits' analysed fields.
//
// The points of the version a search read stay at least RetireGrace after
// a newer commit; a search that took longer than half of it (a stalled
// process, the segmenter loading on the first query) may have missed some,
// and runs again on the current version.
func (s *Store) Search(ctx context.Context, kb string, req kefu.SearchRequest) (*kefu.Candidates, error) {
	for attempt := 0; ; attempt++ {
		t := time.Now()
		out, err := s.search(ctx, kb, req)
		if errors.Is(err, errRetired) && attempt < 2 {
			continue
		}
		if errors.Is(err, errRetired) {
			return nil, kefu.Errorf(kefu.EUNAVAILABLE, "qdrant at %s: searches keep outliving the points they found (RetireGrace %v)", s.addr, s.opts.RetireGrace)
		}
		if err != nil || time.Since(t) < s.opts.RetireGrace/2 || attempt == 2 {
			return out, err
		}
		s.log.Debug("slow search ran again on the current version", "kb", kb, "took", time.Since(t).String())
	}
}

// search reads the KB's record and searches at its version. The record
// this node read or wrote last is usually still the current one, so the
// search runs at its version while the record is read, and runs again
// only if Qdrant returns another: one network round trip less a search.
func (s *Store) search(ctx context.Context, kb string, req kefu.SearchRequest) (*kefu.Candidates, error) {
	if req.K <= 0 {
		req.K = 10
	}
	if req.K > MaxCandidates {
		return nil, kefu.Errorf(kefu.EINVALID, "at most %d candidates per search", MaxCandidates)
	}
	last := s.lastDecoded(kb)
	if last == nil {
		rec, err := s.snapshot(ctx, kb)
		if err != nil {
			return nil, err
		}
		return s.searchAt(ctx, rec, req)
	}
	type read struct {
		raw string
		err error
	}
	cur := make(chan read, 1)
	go func() {
		raw, err := s.rawRecord(ctx, kb)
		cur <- read{raw, err}
	}()
	out, err := s.searchAt(ctx, last.rec, req)
	r := <-cur
	if r.err != nil {
		return nil, r.err
	}
	if r.raw == last.raw {
		return out, err
	}
	rec, err := s.decode(kb, r.raw)
	if err != nil {
		return nil, err
	}
	return s.searchAt(ctx, rec, req)
}

// searchAt searches a KB at the version of rec.
func (s *Store) searchAt(ctx context.Context, rec *kbRecord, req kefu.SearchRequest) (*kefu.Candidates, error) {
	kb := rec.KB.Name
	var err error
	if req.Vector != nil && rec.KB.Dim > 0 && rec.Stats.Vectors > 0 && len(req.Vector) != rec.KB.Dim {
		return nil, kefu.Errorf(kefu.EMODEL, "query vector has %d dims, knowledge base %q has %d", len(req.Vector), kb, rec.KB.Dim)
	}
	out := &kefu.Candidates{Chunks: map[string]*kefu.Chunk{}, Docs: map[string]string{}, Version: rec.KB.Version, Timings: map[kefu.TimingKey]time.Duration{}}
	var q keyword.Query
	if req.Query != "" {
		an, err := s.analysis(&rec.KB)
		if err != nil {
			return nil, err
		}
		var ts *termStats
		if rec.Collection != "" {
			if ts, err = s.vocabulary(ctx, rec); err != nil {
				return nil, err
			}
		}
		if ts != nil {
			q = an.Query(req.Query, ts.vocab)
			out.DocCount = ts.docs
			for i := range q.Terms {
				q.Terms[i].DF = ts.vocab.DF(q.Indexed[i])
			}
		} else {
			q = an.Query(req.Query, nil)
		}
		out.Terms = keyword.Terms(req.Query)
		out.QueryTerms = q.Terms
	}
	if rec.Collection == "" {
		return out, nil
	}
	filter := withFilter(visible(rec.KB.Version), req.Filter)
	// Only the payload a search reads comes back, and no vectors: one
	// value a hit, keyHit (its id, document and kind) for a vector hit,
	// keyMatch (keyHit and its distinct terms, which give its term masks
	// and coverage) for a keyword hit. The chunk records (most of a
	// payload's bytes) follow for the hits selected only, a tenth of the
	// candidates. Points written before keyHit or keyMatch existed lack
	// them: in a collection that holds any, the search asks for the keys
	// they stand for as well.
	ask := func(legacy bool) (kwAt, vecAt int, res []*qdrant.BatchResult, err error) {
		kwPayload := qdrant.NewWithPayloadInclude(keyMatch)
		vecPayload := qdrant.NewWithPayloadInclude(keyHit)
		if legacy {
			kwPayload = qdrant.NewWithPayloadInclude(keyHit, keyHash, keyRefs, keyKind, keyFields)
			vecPayload = qdrant.NewWithPayloadInclude(keyHit, keyHash, keyRefs, keyKind)
		}
		var queries []*qdrant.QueryPoints
		kwAt, vecAt = -1, -1
		if len(q.Indexed) > 0 {
			byIx := map[uint32]float32{}
			for i, t := range q.Indexed {
				byIx[termIndex(t)] += float32(q.Terms[i].Weight)
			}
			ix := make([]uint32, 0, len(byIx))
			vals := make([]float32, 0, len(byIx))
			for k, v := range byIx {
				ix = append(ix, k)
				vals = append(vals, v)
			}
			kwAt = len(queries)
			queries = append(queries, &qdrant.QueryPoints{CollectionName: rec.Collection, Query: qdrant.NewQuerySparse(ix, vals), Using: ptr(sparseVector),
				Filter: filter, Limit: ptr(uint64(req.K)), WithPayload: kwPayload})
		}
		if req.Vector != nil && rec.Stats.Vectors > 0 {
			vecAt = len(queries)
			queries = append(queries, &qdrant.QueryPoints{CollectionName: rec.Collection, Query: qdrant.NewQueryMulti([][]float32{req.Vector}), Using: ptr(denseVector),
				Filter: filter, Limit: ptr(uint64(req.K)), WithPayload: vecPayload, Params: &qdrant.SearchParams{Exact: ptr(false)}})
		}
		if len(queries) == 0 {
			return kwAt, vecAt, nil, nil
		}
		err = s.call(ctx, "search", func(ctx context.Context) (err error) {
			res, err = s.client.QueryBatch(ctx, &qdrant.QueryBatchPoints{CollectionName: rec.Collection, QueryPoints: queries})
			return err
		})
		return kwAt, vecAt, res, err
	}
	t := time.Now()
	_, legacy := s.legacy.Load(rec.Collection)
	kwAt, vecAt, res, err := ask(legacy)
	if err == nil && !legacy && !allHaveKeys(res, kwAt) {
		// Such points stay until a write replaces them: this node asks
		// for the older keys in this collection from now on.
		s.legacy.Store(rec.Collection, true)
		kwAt, vecAt, res, err = ask(true)
	}
	if err != nil {
		return nil, err
	}
	if res == nil {
		return out, nil
	}
	took := time.Since(t)
	t = time.Now()
	// Payloads are decoded as needed: the owner for every candidate, the
	// analysed fields for keyword hits, the chunk record for those loaded.
	// A chunk on both sides keeps its keyword hit's point, which has the
	// analysed fields.
	pts := map[string]*found{}
	list := func(at int) []kefu.Scored {
		if at < 0 || at >= len(res) {
			return nil
		}
		sc := make([]kefu.Scored, 0, len(res[at].Result))
		for _, p := range res[at].Result {
			h := hitOf(p.Payload)
			id := h.hash
			if pts[id] == nil {
				pts[id] = &found{hit: h, point: p}
			}
			sc = append(sc, kefu.Scored{ChunkID: id, Score: float64(p.Score)})
		}
		return sc
	}
	out.Keyword = list(kwAt)
	out.Vector = list(vecAt)
	// Equal scores in chunk id order, as kefu's own index ranks them.
	slices.SortStableFunc(out.Keyword, func(a, b kefu.Scored) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ChunkID, b.ChunkID)
	})
	if kwAt >= 0 {
		out.Timings[kefu.TimingKeyword] = took
	}
	if vecAt >= 0 {
		out.Timings[kefu.TimingVector] = took
	}
	for id, f := range pts {
		if f.owner != "" {
			out.Docs[id] = f.owner // as the chunk cites it
		}
	}
	load := make([]string, 0, len(pts))
	if req.Select != nil {
		load = req.Select(out)
	} else {
		for id := range pts {
			load = append(load, id)
		}
	}
	// The records load while the keyword hits' masks are set: a round
	// trip overlapped with the work that needs none.
	loaded := make(chan error, 1)
	go func() { loaded <- s.loadChunks(ctx, rec.Collection, load, pts, out.Chunks) }()
	describeHits(out.Keyword, &q, pts)
	if err := <-loaded; err != nil {
		return nil, err
	}
	out.Timings[kefu.TimingLoad] = time.Since(t)
	return out, nil
}

// found is a candidate of a search: what it read of the hit's payload and
// the point, whose keyMatch (or, written before it, analysed fields) a
// keyword hit carries.
type found struct {
	hit
	point *qdrant.ScoredPoint
}

// allHaveKeys reports whether every keyword hit of res (res[kwAt]) has
// keyMatch and every other hit keyHit.
func allHaveKeys(res []*qdrant.BatchResult, kwAt int) bool {
	for i, r := range res {
		key := keyHit
		if i == kwAt {
			key = keyMatch
		}
		for _, p := range r.Result {
			if _, ok := p.Payload[key]; !ok {
				return false
			}
		}
	}
	return true
}

// errRetired reports a hit whose point was deleted before its chunk was
// loaded: the search ran longer than RetireGrace and runs again.
var errRetired = errors.New("qdrant: a hit's point was retired before it was loaded")

// recordCacheSize bounds the chunk records a node keeps (a few KB each).
const recordCacheSize = 20_000

// newRecordCache makes the cache of chunk records by collection and point
// id. A point's record never changes once a search can see it (a changed
// chunk is a new point at the next version; a retirement sets only its end
// version; the points of a write that failed halfway, which no search
// sees, are removed before the next write makes its own), so a record
// read once serves every later search that keeps the point: the popular
// entries of a KB then cost no second round trip.
func newRecordCache() *lru.Cache[string, *kefu.Chunk] {
	c, err := lru.New[string, *kefu.Chunk](recordCacheSize)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return c
}

// loadChunks reads the records of the hits named in load into chunks: from
// the node's cache, the others in one call.
func (s *Store) loadChunks(ctx context.Context, col string, load []string, pts map[string]*found, chunks map[string]*kefu.Chunk) error {
	ids := make([]*qdrant.PointId, 0, len(load))
	asked := make(map[string]string, len(load)) // point → chunk id
	for _, id := range load {
		p, ok := pts[id]
		if !ok {
			continue
		}
		uuid := p.point.Id.GetUuid()
		if _, dup := asked[uuid]; dup {
			continue
		}
		asked[uuid] = id
		if c, ok := s.records.Get(col + "/" + uuid); ok {
			chunks[id] = cloneChunk(c)
			continue
		}
		ids = append(ids, p.point.Id)
	}
	if len(ids) == 0 {
		return nil
	}
	var got []*qdrant.RetrievedPoint
	err := s.call(ctx, "load chunks", func(ctx context.Context) (err error) {
		got, err = s.client.Get(ctx, &qdrant.GetPoints{CollectionName: col, Ids: ids, WithPayload: qdrant.NewWithPayloadInclude(keyRecord)})
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range got {
		c := new(kefu.Chunk)
		if err := json.Unmarshal([]byte(p.Payload[keyRecord].GetStringValue()), c); err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "qdrant: chunk point %s: %v", p.Id.GetUuid(), err)
		}
		id, ok := asked[p.Id.GetUuid()]
		if !ok {
			return kefu.Errorf(kefu.EINTERNAL, "qdrant: asked for chunk points, got %s", p.Id.GetUuid())
		}
		s.records.Add(col+"/"+p.Id.GetUuid(), c)
		chunks[id] = cloneChunk(c)
	}
	if len(got) < len(ids) {
		return errRetired
	}
	return nil
}

// cloneChunk copies a cached record for a caller, who may change it.
func cloneChunk(c *kefu.Chunk) *kefu.Chunk {
	cp := *c
	cp.Headings, cp.Questions, cp.Meta = slices.Clone(c.Headings), slices.Clone(c.Questions), maps.Clone(c.Meta)
	return &cp
}

// describeHits sets the keyword hits' coverage (the query's own terms a
// hit holds, for an FAQ entry in its questions) and, for the first
// kefu.MaskedHits, their term masks, from the hits' keyMatch (or for
// older points their analysed fields), read in place: a search reads up
// to a hundred of them.
func describeHits(hits []kefu.Scored, q *keyword.Query, pts map[string]*found) {
	if q.Counted == 0 {
		return
	}
	at := make(map[string][]int, len(q.Indexed)) // term → its places in the query
	atChar := map[rune][]int{}                   // character term → its places
	for i, t := range q.Indexed {
		at[t] = append(at[t], i)
		if c, ok := markedChar(t); ok {
			atChar[c] = append(atChar[c], i)
		}
	}
	head, body := make([]bool, len(q.Indexed)), make([]bool, len(q.Indexed))
	mark := func(places []int, isHead bool) {
		set := body
		if isHead {
			set = head
		}
		for _, i := range places {
			set[i] = true
		}
	}
	word := func(isHead bool, t string) { mark(at[t], isHead) }
	char := func(isHead bool, c rune) { mark(atChar[c], isHead) }
	for n := range hits {
		p := pts[hits[n].ChunkID]
		clear(head)
		clear(body)
		if m, ok := p.point.Payload[keyMatch]; ok {
			eachMatch(m.GetStringValue(), word, char)
		} else {
			eachTerm(p.point.Payload[keyFields].GetStringValue(), func(field int, t string) { mark(at[t], keyword.Head(field)) })
		}
		faq := p.kind == kefu.KindFAQ
		hits[n].FAQ = faq
		found := 0
		for i := range q.Indexed {
			h, b := head[i], body[i]
			if q.Terms[i].Kind != kefu.TermSynonym && (h || b && !faq) {
				found++
			}
			if n < kefu.MaskedHits && i < 64 {
				if h {
					hits[n].HeadMatch |= 1 << i
				}
				if b {
					hits[n].BodyMatch |= 1 << i
				}
			}
		}
		hits[n].Masked = n < kefu.MaskedHits
		hits[n].Coverage = float64(found) / float64(q.Counted)
		if math.IsNaN(hits[n].Coverage) {
			hits[n].Coverage = 0
		}
	}
}
