package qdranttest

import (
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu/index/vector"
)

// collection is one collection's configuration, points and indexes.
//
// As in a Qdrant segment, every point has an internal offset (its slot)
// that the indexes refer to, and a change never edits a point in place: the
// new version takes a new slot and the old one is marked dead, skipped by
// every index until a compaction (Qdrant's vacuum optimizer) renumbers the
// live points. So the indexes only ever grow between compactions and a
// search reads them without taking any lock but the server's.
type collection struct {
	dense   map[string]*qdrant.VectorParams
	sparse  map[string]*qdrant.SparseVectorParams
	indexes map[string]*qdrant.PayloadSchemaInfo
	points  map[string]*point // by idKey

	slots []*point // nil: the slot's point was replaced or deleted
	live  bitset
	dead  int
	gen   int // compactions so far

	vecs map[string]*vector.Index  // dense vectors by name, labelled by slot
	inv  map[string]*sparseIndex   // sparse vectors by name
	kw   map[string]keywordIndex   // keyword payload indexes by field
	nums map[string]*numericColumn // integer payload indexes by field
}

type point struct {
	id      *qdrant.PointId
	key     string // idKey(id)
	slot    int32
	payload map[string]*qdrant.Value
	dense   map[string][][]float32 // one vector, or a multivector's
	sparse  map[string]sparseVec

	selections atomic.Pointer[[]selection] // payloadFor's last few
}

type sparseVec struct {
	indices []uint32
	values  []float32
}

// sparseIndex is the inverted index of one named sparse vector: its
// postings (dead slots included until compaction) and, per dimension, how
// many live points hold it (the df of Qdrant's idf modifier).
type sparseIndex struct {
	post map[uint32][]posting
	df   map[uint32]int
}

type posting struct {
	slot int32
	v    float32
}

// keywordIndex maps each string value of a field to the slots holding it,
// each slot once per value.
type keywordIndex map[string][]int32

// numericColumn holds each slot's numeric values of a field: one in one
// (NaN: none, or several, then in many).
type numericColumn struct {
	one  []float64
	many map[int32][]float64
}

func (nc *numericColumn) add(slot int32, xs []float64) {
	switch len(xs) {
	case 1:
		nc.one = append(nc.one, xs[0])
	case 0:
		nc.one = append(nc.one, math.NaN())
	default:
		nc.one = append(nc.one, math.NaN())
		nc.many[slot] = xs
	}
}

// any reports whether a value of slot i satisfies ok.
func (nc *numericColumn) any(i int32, ok func(float64) bool) bool {
	if x := nc.one[i]; !math.IsNaN(x) {
		return ok(x)
	}
	return slices.ContainsFunc(nc.many[i], ok)
}

func newCollection() *collection {
	c := &collection{dense: map[string]*qdrant.VectorParams{}, sparse: map[string]*qdrant.SparseVectorParams{},
		indexes: map[string]*qdrant.PayloadSchemaInfo{}, points: map[string]*point{}}
	c.reindex()
	return c
}

// put stores p, replacing the point of the same id.
func (c *collection) put(p *point) {
	if old, ok := c.points[p.key]; ok {
		c.unindex(old)
	}
	c.points[p.key] = p
	c.index(p)
	c.compact()
}

// remove deletes p.
func (c *collection) remove(p *point) {
	c.unindex(p)
	delete(c.points, p.key)
	c.compact()
}

// withPayload stores p with another payload, as a new version of it.
func (c *collection) withPayload(p *point, payload map[string]*qdrant.Value) {
	c.put(&point{id: p.id, key: p.key, payload: payload, dense: p.dense, sparse: p.sparse})
}

// index gives p the next slot and adds it to every index.
func (c *collection) index(p *point) {
	p.slot = int32(len(c.slots))
	c.slots = append(c.slots, p)
	if int(p.slot)>>6 >= len(c.live) {
		c.live = append(c.live, 0)
	}
	c.live.set(p.slot)
	for name, ix := range c.vecs {
		if vs := p.dense[name]; len(vs) > 0 {
			ix.Add(uint32(p.slot), vs...) // parsePoint checked dimensions and values
		}
	}
	for name, si := range c.inv {
		sv := p.sparse[name]
		for i, ix := range sv.indices {
			si.post[ix] = append(si.post[ix], posting{p.slot, sv.values[i]})
			si.df[ix]++
		}
	}
	for field, ix := range c.kw {
		for _, v := range keywords(p.payload, field) {
			ix[v] = append(ix[v], p.slot)
		}
	}
	for field, col := range c.nums {
		col.add(p.slot, numbers(p.payload, field))
	}
}

// unindex marks p's slot dead.
func (c *collection) unindex(p *point) {
	c.slots[p.slot] = nil
	c.live.clear(p.slot)
	c.dead++
	for _, ix := range c.vecs {
		ix.Delete(uint32(p.slot))
	}
	for name, si := range c.inv {
		for _, ix := range p.sparse[name].indices {
			if si.df[ix]--; si.df[ix] == 0 {
				delete(si.df, ix)
			}
		}
	}
}

// compact rebuilds the indexes once the dead slots outnumber the live ones.
func (c *collection) compact() {
	if c.dead > 1024 && c.dead > len(c.slots)/2 {
		c.reindex()
	}
}

// reindex rebuilds every index from the live points, in id order.
func (c *collection) reindex() {
	pts := make([]*point, 0, len(c.points))
	for _, p := range c.points {
		pts = append(pts, p)
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].key < pts[j].key })
	c.slots, c.live, c.dead = make([]*point, 0, len(pts)), make(bitset, 0, (len(pts)+63)/64), 0
	c.gen++
	for _, ix := range c.vecs {
		ix.Close()
	}
	c.vecs, c.inv, c.kw, c.nums = map[string]*vector.Index{}, map[string]*sparseIndex{}, map[string]keywordIndex{}, map[string]*numericColumn{}
	for name, p := range c.dense {
		// kefu's own exact scan (flat: float32, no graph), which scores a
		// multivector by its best vector.
		c.vecs[name], _ = vector.New(vector.Options{Dim: int(p.Size), Mode: vector.ModeFlat, Workers: 1})
	}
	for name := range c.sparse {
		c.inv[name] = &sparseIndex{post: map[uint32][]posting{}, df: map[uint32]int{}}
	}
	for field, ix := range c.indexes {
		switch ix.DataType {
		case qdrant.PayloadSchemaType_Keyword:
			c.kw[field] = keywordIndex{}
		case qdrant.PayloadSchemaType_Integer:
			c.nums[field] = &numericColumn{many: map[int32][]float64{}}
		}
	}
	for _, p := range pts {
		c.index(p)
	}
}

// keywords returns the distinct string values at a payload key.
func keywords(payload map[string]*qdrant.Value, key string) []string {
	var out []string
	for _, v := range lookup(payload, key) {
		if sv, ok := v.GetKind().(*qdrant.Value_StringValue); ok && !contains(out, sv.StringValue) {
			out = append(out, sv.StringValue)
		}
	}
	return out
}

// numbers returns the numeric values at a payload key.
func numbers(payload map[string]*qdrant.Value, key string) []float64 {
	var out []float64
	for _, v := range lookup(payload, key) {
		if x, ok := number(v); ok {
			out = append(out, x)
		}
	}
	return out
}

func number(v *qdrant.Value) (float64, bool) {
	switch n := v.GetKind().(type) {
	case *qdrant.Value_IntegerValue:
		return float64(n.IntegerValue), true
	case *qdrant.Value_DoubleValue:
		return n.DoubleValue, true
	}
	return 0, false
}

func contains[T comparable](s []T, x T) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// bitset is a set of slots.
type bitset []uint64

func (b bitset) set(i int32)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) clear(i int32)    { b[i>>6] &^= 1 << (i & 63) }
func (b bitset) has(i int32) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) clone() bitset    { return append(bitset(nil), b...) }

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// each calls fn with every slot in b, in order.
func (b bitset) each(fn func(int32)) {
	for i, w := range b {
		for w != 0 {
			fn(int32(i<<6 + bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}

// keep clears the slots of b for which fn is false.
func (b bitset) keep(fn func(int32) bool) {
	b.each(func(i int32) {
		if !fn(i) {
			b.clear(i)
		}
	})
}

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) andNot(o bitset) {
	for i := range b {
		b[i] &^= o[i]
	}
}

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}
