package index

import (
	"context"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/vector"
)

// MaxCandidates bounds the candidates one search may ask for per side.
const MaxCandidates = 2000

// coverageDepth is how many keyword results get a coverage figure.
const coverageDepth = 5

// Search runs the keyword and vector sides of req in parallel, under one read
// lock of the KB, and returns their candidates with the chunks they name.
func (s *Store) Search(ctx context.Context, kb string, req kefu.SearchRequest) (*kefu.Candidates, error) {
	st, err := s.state(kb)
	if err != nil {
		return nil, err
	}
	if req.K <= 0 {
		req.K = 10
	}
	if req.K > MaxCandidates {
		return nil, kefu.Errorf(kefu.EINVALID, "at most %d candidates per search", MaxCandidates)
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.deleted {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
	}
	if req.Vector != nil && st.vectors() > 0 && len(req.Vector) != st.dim {
		return nil, kefu.Errorf(kefu.EMODEL, "query vector has %d dims, knowledge base %q has %d", len(req.Vector), kb, st.dim)
	}

	out := &kefu.Candidates{Chunks: map[string]*kefu.Chunk{}, Version: st.version, Timings: map[string]time.Duration{}}
	var (
		wg     sync.WaitGroup
		kwErr  error
		kwTook time.Duration
	)
	if req.Query != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			out.Keyword, kwErr = st.kw.Search(ctx, req.Query, req.K, req.Filter)
			kwTook = time.Since(t)
		}()
	}
	if req.Vector != nil && st.vectors() > 0 {
		t := time.Now()
		var allow *vector.Bitset
		if !req.Filter.Empty() {
			allow = st.allowed(req.Filter)
		}
		for _, r := range st.vec.Search(req.Vector, req.K, allow) {
			if int(r.Label) < len(st.attrs) && st.attrs[r.Label].Key != "" {
				out.Vector = append(out.Vector, kefu.Scored{ChunkID: st.attrs[r.Label].Key, Score: float64(r.Score)})
			}
		}
		out.Timings["vector"] = time.Since(t)
	}
	wg.Wait()
	if kwErr != nil {
		return nil, kwErr
	}
	if req.Query != "" {
		out.Timings["keyword"] = kwTook
		out.Terms = st.kw.Terms(req.Query)
	}

	t := time.Now()
	err = s.db.View(func(tx *bolt.Tx) error {
		cb := tx.Bucket(kbBucket(kb)).Bucket(bucketChunks)
		for _, list := range [][]kefu.Scored{out.Keyword, out.Vector} {
			for _, sc := range list {
				if _, ok := out.Chunks[sc.ChunkID]; ok {
					continue
				}
				rec, err := getChunk(cb, sc.ChunkID)
				if err != nil {
					return err
				}
				out.Chunks[sc.ChunkID] = &rec.Chunk
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.coverage(out)
	out.Timings["load"] = time.Since(t)
	return out, nil
}

// allowed builds the allow-list of labels a filter lets through.
func (st *kbState) allowed(f *kefu.Filter) *vector.Bitset {
	bs := vector.NewBitset(uint32(len(st.attrs)))
	match := func(a *labelAttr) bool {
		if a.Key == "" {
			return false
		}
		if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, a.Kind) {
			return false
		}
		for k, v := range f.Meta {
			var got string
			switch k {
			case "lang":
				got = a.Lang
			case "category":
				got = a.Category
			default:
				got = a.Meta[k]
			}
			if got != v {
				return false
			}
		}
		return true
	}
	if len(f.DocIDs) > 0 {
		for _, d := range f.DocIDs {
			for _, l := range st.docLabels[d] {
				if match(&st.attrs[l]) {
					bs.Set(l)
				}
			}
		}
		return bs
	}
	for l := range st.attrs {
		if match(&st.attrs[l]) {
			bs.Set(uint32(l))
		}
	}
	return bs
}

// coverage sets, for the first keyword results, the share of the query's
// terms found in the chunk: in an FAQ entry's questions, in a passage's
// title, headings and text.
func (st *kbState) coverage(c *kefu.Candidates) {
	if len(c.Terms) == 0 {
		return
	}
	q := map[string]bool{}
	for _, t := range c.Terms {
		q[t] = true
	}
	for i := range c.Keyword[:min(coverageDepth, len(c.Keyword))] {
		ch := c.Chunks[c.Keyword[i].ChunkID]
		if ch == nil {
			continue
		}
		terms := st.terms.get(ch)
		found := 0
		for t := range q {
			if terms[t] {
				found++
			}
		}
		c.Keyword[i].Coverage = float64(found) / float64(len(q))
	}
}

// termCache keeps the analysed term sets of recently scored chunks.
type termCache struct {
	mu      sync.Mutex
	max     int
	sets    map[string]map[string]bool
	analyze func(string) []string // the KB's keyword analyzer
}

func newTermCache(n int, analyze func(string) []string) *termCache {
	return &termCache{max: n, sets: map[string]map[string]bool{}, analyze: analyze}
}

func (tc *termCache) get(c *kefu.Chunk) map[string]bool {
	tc.mu.Lock()
	set, ok := tc.sets[c.ID]
	tc.mu.Unlock()
	if ok {
		return set
	}
	text := c.ContextText()
	if c.Kind == kefu.KindFAQ {
		text = c.Title + "\n" + c.HeadingPath()
		for _, q := range c.Questions {
			text += "\n" + q
		}
	}
	set = map[string]bool{}
	for _, t := range tc.analyze(text) {
		set[t] = true
	}
	tc.mu.Lock()
	if len(tc.sets) >= tc.max {
		// Random eviction: map order is random enough and costs nothing.
		for k := range tc.sets {
			delete(tc.sets, k)
			if len(tc.sets) < tc.max*3/4 {
				break
			}
		}
	}
	tc.sets[c.ID] = set
	tc.mu.Unlock()
	return set
}
