package retrieve

import (
	"math"
	"sort"

	"github.com/kefu-dev/kefu"
)

// Fuse combines the keyword and vector candidates into at most k hits, best
// first, per the fusion settings. Hits carry both raw scores and ranks.
// Ties are broken by keyword rank, then vector rank, then chunk id, so runs
// are reproducible.
func Fuse(c *kefu.Candidates, f kefu.Fusion, k int) []kefu.Hit {
	byID := make(map[string]*kefu.Hit, len(c.Keyword)+len(c.Vector))
	order := make([]*kefu.Hit, 0, len(c.Keyword)+len(c.Vector))
	get := func(id string) *kefu.Hit {
		if h, ok := byID[id]; ok {
			return h
		}
		h := &kefu.Hit{Chunk: c.Chunks[id]}
		if h.Chunk == nil {
			// Not loaded (SearchRequest.Select): id and document suffice
			// for fusion and per-document caps.
			h.Chunk = &kefu.Chunk{ID: id, DocID: c.Docs[id]}
		}
		byID[id] = h
		order = append(order, h)
		return h
	}
	for i, s := range c.Keyword {
		h := get(s.ChunkID)
		h.KeywordScore, h.KeywordRank = s.Score, i+1
	}
	for i, s := range c.Vector {
		h := get(s.ChunkID)
		h.VectorScore, h.VectorRank = s.Score, i+1
	}

	wv := clamp01(f.VectorWeight)
	wk := 1 - wv
	switch {
	case len(c.Vector) == 0:
		wk, wv = 1, 0
	case len(c.Keyword) == 0:
		wk, wv = 0, 1
	}
	switch f.Method {
	case kefu.FusionRRF:
		rk := f.RRFK
		if rk <= 0 {
			rk = 60
		}
		for _, h := range order {
			if h.KeywordRank > 0 {
				h.Score += wk / (rk + float64(h.KeywordRank))
			}
			if h.VectorRank > 0 {
				h.Score += wv / (rk + float64(h.VectorRank))
			}
		}
	default: // FusionMinMax
		kmin, kmax := scoreRange(c.Keyword)
		vmin, vmax := scoreRange(c.Vector)
		for _, h := range order {
			if h.KeywordRank > 0 {
				h.Score += wk * norm(h.KeywordScore, kmin, kmax)
			}
			if h.VectorRank > 0 {
				h.Score += wv * norm(h.VectorScore, vmin, vmax)
			}
		}
	}

	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if ra, rb := rankKey(a.KeywordRank), rankKey(b.KeywordRank); ra != rb {
			return ra < rb
		}
		if ra, rb := rankKey(a.VectorRank), rankKey(b.VectorRank); ra != rb {
			return ra < rb
		}
		return a.Chunk.ID < b.Chunk.ID
	})
	return capPerDoc(order, f.PerDocCap, k)
}

// capPerDoc keeps at most cap hits per document (0: no cap) and at most k hits.
func capPerDoc(sorted []*kefu.Hit, cap, k int) []kefu.Hit {
	out := make([]kefu.Hit, 0, min(k, len(sorted)))
	perDoc := map[string]int{}
	for _, h := range sorted {
		if len(out) >= k {
			break
		}
		if cap > 0 {
			if perDoc[h.Chunk.DocID] >= cap {
				continue
			}
			perDoc[h.Chunk.DocID]++
		}
		out = append(out, *h)
	}
	return out
}

func rankKey(r int) int {
	if r == 0 {
		return math.MaxInt
	}
	return r
}

func scoreRange(s []kefu.Scored) (lo, hi float64) {
	if len(s) == 0 {
		return 0, 0
	}
	lo, hi = s[0].Score, s[0].Score
	for _, x := range s[1:] {
		lo = math.Min(lo, x.Score)
		hi = math.Max(hi, x.Score)
	}
	return lo, hi
}

// norm maps x from [lo,hi] to [0,1]; a side whose candidates all score the
// same maps them to 1, since they are all equally its best.
func norm(x, lo, hi float64) float64 {
	if hi-lo <= 1e-12 {
		return 1
	}
	return (x - lo) / (hi - lo)
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }
