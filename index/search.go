package index

import (
	"context"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
	"github.com/kefu-dev/kefu/index/vector"
)

// MaxCandidates bounds the candidates one search may ask for per side.
const MaxCandidates = 2000

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

	out := &kefu.Candidates{Chunks: map[string]*kefu.Chunk{}, Docs: map[string]string{}, Version: st.version, Timings: map[kefu.TimingKey]time.Duration{}}
	var (
		wg     sync.WaitGroup
		kwErr  error
		kwTook time.Duration
		kwHits []keyword.Hit
		kwInfo keyword.QueryInfo
	)
	if req.Query != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			kwHits, kwInfo, kwErr = st.kw.SearchHits(ctx, req.Query, req.K, req.Filter)
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
		out.Timings[kefu.TimingVector] = time.Since(t)
	}
	wg.Wait()
	if kwErr != nil {
		return nil, kwErr
	}
	if req.Query != "" {
		out.Timings[kefu.TimingKeyword] = kwTook
		out.Terms = st.kw.Terms(req.Query)
		out.QueryTerms, out.DocCount = kwInfo.Terms, kwInfo.Docs
		out.Keyword = st.coverage(kwHits, kwInfo.Counted)
	}

	for _, list := range [][]kefu.Scored{out.Keyword, out.Vector} {
		for _, sc := range list {
			if l, ok := st.labelOf[sc.ChunkID]; ok {
				out.Docs[sc.ChunkID] = st.attrs[l].Doc
			}
		}
	}
	var load []string
	if req.Select != nil {
		load = req.Select(out)
	} else {
		for id := range out.Docs {
			load = append(load, id)
		}
	}
	t := time.Now()
	err = s.db.View(func(tx *bolt.Tx) error {
		cb := tx.Bucket(kbBucket(kb)).Bucket(bucketChunks)
		for _, id := range load {
			if _, ok := out.Chunks[id]; ok {
				continue
			}
			rec, err := getChunk(cb, id)
			if err != nil {
				return err
			}
			out.Chunks[id] = &rec.Chunk
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Timings[kefu.TimingLoad] = time.Since(t)
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

// coverage turns keyword hits into candidates with the share of the
// query's distinct terms each holds: for an FAQ entry, in its questions,
// title and headings (what a question is matched against); for a passage,
// anywhere.
func (st *kbState) coverage(hits []keyword.Hit, nTerms int) []kefu.Scored {
	out := make([]kefu.Scored, len(hits))
	for i, h := range hits {
		out[i] = kefu.Scored{ChunkID: h.ChunkID, Score: h.Score, HeadMatch: h.HeadMatch, BodyMatch: h.BodyMatch, Masked: h.Masked}
		if l, ok := st.labelOf[h.ChunkID]; ok && st.attrs[l].Kind == kefu.KindFAQ {
			out[i].FAQ = true
		}
		if nTerms == 0 {
			continue
		}
		found := h.Matched
		if out[i].FAQ {
			found = h.Head
		}
		out[i].Coverage = float64(found) / float64(nTerms)
	}
	return out
}
