package qdranttest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/qdrant/go-client/qdrant"
)

// randomCollection fills a collection with n points of random payloads
// (indexed and unindexed keyword fields, an indexed integer field, arrays,
// missing values), sparse and dense vectors, then replaces, re-tags and
// deletes some of them, enough to compact the slots at least once.
func randomCollection(t *testing.T, rng *rand.Rand, n int) *collection {
	t.Helper()
	c := newCollection()
	c.dense["dense"] = &qdrant.VectorParams{Size: 8, Distance: qdrant.Distance_Cosine}
	idf := qdrant.Modifier_Idf
	c.sparse["bm25"] = &qdrant.SparseVectorParams{Modifier: &idf}
	c.indexes["kw"] = &qdrant.PayloadSchemaInfo{DataType: qdrant.PayloadSchemaType_Keyword}
	c.indexes["tags"] = &qdrant.PayloadSchemaInfo{DataType: qdrant.PayloadSchemaType_Keyword}
	c.indexes["v"] = &qdrant.PayloadSchemaInfo{DataType: qdrant.PayloadSchemaType_Integer}
	c.reindex()
	put := func(id uint64) {
		payload := map[string]any{"plain": fmt.Sprint("p", rng.IntN(3))}
		if rng.IntN(5) > 0 {
			payload["kw"] = fmt.Sprint("k", rng.IntN(4))
		}
		tags := []any{}
		for range rng.IntN(3) {
			tags = append(tags, fmt.Sprint("t", rng.IntN(5)))
		}
		payload["tags"] = tags
		switch rng.IntN(5) {
		case 0: // none
		case 1:
			payload["v"] = []any{int64(rng.IntN(10)), int64(rng.IntN(10))}
		default:
			payload["v"] = int64(rng.IntN(10))
		}
		ix, vals := []uint32{}, []float32{}
		for _, d := range rng.Perm(12)[:1+rng.IntN(4)] {
			ix, vals = append(ix, uint32(d)), append(vals, rng.Float32())
		}
		dense := make([]float32, 8)
		for i := range dense {
			dense[i] = rng.Float32()*2 - 1
		}
		err := c.upsert([]*qdrant.PointStruct{{Id: qdrant.NewIDNum(id), Payload: qdrant.NewValueMap(payload),
			Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"dense": qdrant.NewVectorDense(dense), "bm25": qdrant.NewVectorSparse(ix, vals)})}}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		put(uint64(i))
	}
	gen := c.gen
	for range 10 * n {
		switch id := uint64(rng.IntN(n)); rng.IntN(4) {
		case 0:
			put(id)
		case 1:
			c.deletePoints(qdrant.NewPointsSelector(qdrant.NewIDNum(id)))
		default:
			if err := c.setPayload(&qdrant.SetPayloadPoints{PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(id)),
				Payload: qdrant.NewValueMap(map[string]any{"v": int64(rng.IntN(10))})}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.gen == gen {
		t.Fatalf("%d changes to %d points, no compaction", 10*n, n)
	}
	return c
}

// randomFilter draws a filter of the conditions kefu and the suite use,
// nested up to depth levels.
func randomFilter(rng *rand.Rand, depth int) *qdrant.Filter {
	cond := func() *qdrant.Condition {
		x := func() float64 { return float64(rng.IntN(10)) }
		switch rng.IntN(9) {
		case 0:
			return qdrant.NewMatchKeyword([]string{"kw", "tags", "plain"}[rng.IntN(3)], fmt.Sprint([]string{"k", "t", "p"}[rng.IntN(3)], rng.IntN(4)))
		case 1:
			return qdrant.NewMatchKeywords("tags", fmt.Sprint("t", rng.IntN(5)), fmt.Sprint("t", rng.IntN(5)))
		case 2:
			return qdrant.NewRange("v", &qdrant.Range{Lte: ptr(x())})
		case 3:
			return qdrant.NewRange("v", &qdrant.Range{Gt: ptr(x()), Lt: ptr(x())})
		case 4:
			return qdrant.NewHasID(qdrant.NewIDNum(uint64(rng.IntN(200))), qdrant.NewIDNum(uint64(rng.IntN(200))))
		case 5:
			return qdrant.NewIsEmpty("v")
		case 6:
			return qdrant.NewMatchExcept("kw", fmt.Sprint("k", rng.IntN(4)))
		case 7:
			if depth > 0 {
				return qdrant.NewFilterAsCondition(randomFilter(rng, depth-1))
			}
			return qdrant.NewMatchInt("v", int64(rng.IntN(10)))
		}
		return qdrant.NewMatchKeyword("kw", fmt.Sprint("k", rng.IntN(4)))
	}
	conds := func() []*qdrant.Condition {
		var out []*qdrant.Condition
		for range rng.IntN(3) {
			out = append(out, cond())
		}
		return out
	}
	f := &qdrant.Filter{Must: conds(), MustNot: conds(), Should: conds()}
	if rng.IntN(4) == 0 {
		f.MinShould = &qdrant.MinShould{Conditions: conds(), MinCount: uint64(rng.IntN(3))}
	}
	return f
}

func ptr[T any](v T) *T { return &v }

// The payload indexes select exactly the points that the condition by
// condition check (matchFilter) accepts, after replacements, payload
// updates, deletions and compactions.
func TestIndexedFilterMatchesScan(t *testing.T) {
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 1))
		c := randomCollection(t, rng, 200)
		for range 300 {
			f := randomFilter(rng, 2)
			var got, want []string
			c.matching(f).each(func(i int32) { got = append(got, c.slots[i].key) })
			for k, p := range c.points {
				if matchFilter(p, f) {
					want = append(want, k)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d, filter %v:\nindexes %v\nscan    %v", seed, f, got, want)
			}
		}
	}
}

// Sparse and dense searches over the indexes return the best points of
// the filtered set by the scores a direct computation gives: for sparse,
// the dot product with Qdrant's idf, ln(1 + (N − df + 0.5)/(df + 0.5)),
// df counted over the collection's live points.
func TestIndexedSearchMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	c := randomCollection(t, rng, 300)
	for range 100 {
		f := randomFilter(rng, 1)
		ix := []uint32{uint32(rng.IntN(12)), uint32(rng.IntN(12))}
		vals := []float32{rng.Float32(), rng.Float32()}
		if ix[0] == ix[1] {
			ix, vals = ix[:1], vals[:1]
		}
		q := make([]float32, 8)
		for i := range q {
			q[i] = rng.Float32()*2 - 1
		}
		for _, sparse := range []bool{true, false} {
			r := &qdrant.QueryPoints{Filter: f, Limit: ptr(uint64(7)), Using: ptr("dense"), Query: qdrant.NewQueryDense(q)}
			if sparse {
				r.Using, r.Query = ptr("bm25"), qdrant.NewQuerySparse(ix, vals)
			}
			res, err := c.query(r)
			if err != nil {
				t.Fatal(err)
			}
			type hit struct {
				key   string
				score float64
			}
			var want []hit
			nq := slices.Clone(q)
			normalize(nq)
			for k, p := range c.points {
				if !matchFilter(p, f) {
					continue
				}
				if !sparse {
					var d float64
					for i, x := range p.dense["dense"][0] {
						d += float64(x) * float64(nq[i])
					}
					want = append(want, hit{k, d})
					continue
				}
				var score float64
				shares := false
				for i, d := range ix {
					df := 0
					for _, o := range c.points {
						if slices.Contains(o.sparse["bm25"].indices, d) {
							df++
						}
					}
					n := float64(len(c.points))
					idf := math.Log(1 + (n-float64(df)+0.5)/(float64(df)+0.5))
					if j := slices.Index(p.sparse["bm25"].indices, d); j >= 0 {
						score += float64(vals[i]) * idf * float64(p.sparse["bm25"].values[j])
						shares = true
					}
				}
				if shares {
					want = append(want, hit{k, score})
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i].score > want[j].score })
			want = want[:min(7, len(want))]
			if len(res) != len(want) {
				t.Fatalf("sparse %v, filter %v: %d hits, want %d", sparse, f, len(res), len(want))
			}
			for i, h := range res {
				if k := idKey(h.Id); k != want[i].key && math.Abs(float64(h.Score)-want[i].score) > 1e-5 || math.Abs(float64(h.Score)-want[i].score) > 1e-5 {
					t.Fatalf("sparse %v, filter %v: hit %d is %s %.6f, want %s %.6f", sparse, f, i, k, h.Score, want[i].key, want[i].score)
				}
			}
		}
	}
}
