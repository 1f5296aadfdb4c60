package qdranttest

import (
	"context"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu/index/vector"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// read runs fn on a collection under the server's read lock.
func (s *Server) read(name string, fn func(*collection) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(name)
	if err != nil {
		return err
	}
	return fn(c)
}

// write runs fn on a collection under the server's write lock.
func (s *Server) write(name string, fn func(*collection) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(name)
	if err != nil {
		return err
	}
	return fn(c)
}

// done answers an update that completed, or its error.
func done(err error) (*qdrant.PointsOperationResponse, error) {
	if err != nil {
		return nil, err
	}
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}, nil
}

// Upsert inserts or replaces points.
func (ps points) Upsert(ctx context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	return done(ps.s.write(r.CollectionName, func(c *collection) error { return c.upsert(r.Points, r.UpdateFilter) }))
}

// Delete deletes the selected points.
func (ps points) Delete(ctx context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	return done(ps.s.write(r.CollectionName, func(c *collection) error { c.deletePoints(r.Points); return nil }))
}

// SetPayload merges keys into the selected points' payloads.
func (ps points) SetPayload(ctx context.Context, r *qdrant.SetPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	return done(ps.s.write(r.CollectionName, func(c *collection) error { return c.setPayload(r) }))
}

// DeletePayload removes keys from the selected points' payloads.
func (ps points) DeletePayload(ctx context.Context, r *qdrant.DeletePayloadPoints) (*qdrant.PointsOperationResponse, error) {
	return done(ps.s.write(r.CollectionName, func(c *collection) error { c.deletePayload(r.PointsSelector, r.Keys); return nil }))
}

// UpdateVectors replaces the named vectors given, keeping the others.
func (ps points) UpdateVectors(ctx context.Context, r *qdrant.UpdatePointVectors) (*qdrant.PointsOperationResponse, error) {
	return done(ps.s.write(r.CollectionName, func(c *collection) error { return c.updateVectors(r.Points, r.UpdateFilter) }))
}

// UpdateBatch applies its operations in order; an operation that fails
// stops the batch, leaving the earlier ones applied, as in Qdrant.
func (ps points) UpdateBatch(ctx context.Context, r *qdrant.UpdateBatchPoints) (*qdrant.UpdateBatchResponse, error) {
	out := &qdrant.UpdateBatchResponse{}
	err := ps.s.write(r.CollectionName, func(c *collection) error {
		for _, op := range r.Operations {
			var err error
			switch o := op.GetOperation().(type) {
			case *qdrant.PointsUpdateOperation_Upsert:
				err = c.upsert(o.Upsert.Points, o.Upsert.UpdateFilter)
			case *qdrant.PointsUpdateOperation_DeletePoints_:
				c.deletePoints(o.DeletePoints.Points)
			case *qdrant.PointsUpdateOperation_SetPayload_:
				err = c.setPayload(&qdrant.SetPayloadPoints{Payload: o.SetPayload.Payload, PointsSelector: o.SetPayload.PointsSelector, Key: o.SetPayload.Key})
			case *qdrant.PointsUpdateOperation_DeletePayload_:
				c.deletePayload(o.DeletePayload.PointsSelector, o.DeletePayload.Keys)
			case *qdrant.PointsUpdateOperation_UpdateVectors_:
				err = c.updateVectors(o.UpdateVectors.Points, o.UpdateVectors.UpdateFilter)
			default:
				err = status.Errorf(codes.Unimplemented, "qdranttest: batch operation %T", o)
			}
			if err != nil {
				return err
			}
			out.Result = append(out.Result, &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *collection) upsert(pts []*qdrant.PointStruct, cond *qdrant.Filter) error {
	parsed := make([]*point, len(pts))
	for i, ps := range pts {
		p, err := c.parsePoint(ps.Id, ps.Vectors, true)
		if err != nil {
			return err
		}
		p.payload = ps.Payload
		if p.payload == nil {
			p.payload = map[string]*qdrant.Value{}
		}
		parsed[i] = p
	}
	// Qdrant validates the whole request before applying any of it.
	for _, p := range parsed {
		if old, ok := c.points[p.key]; ok && cond != nil && !matchFilter(old, cond) {
			continue
		}
		c.put(p)
	}
	return nil
}

func (c *collection) deletePoints(sel *qdrant.PointsSelector) {
	for _, p := range c.selected(sel) {
		c.remove(p)
	}
}

func (c *collection) setPayload(r *qdrant.SetPayloadPoints) error {
	if r.Key != nil {
		return status.Error(codes.Unimplemented, "qdranttest: set_payload with a key")
	}
	for _, p := range c.selected(r.PointsSelector) {
		np := make(map[string]*qdrant.Value, len(p.payload)+len(r.Payload))
		for k, v := range p.payload {
			np[k] = v
		}
		for k, v := range r.Payload {
			np[k] = v
		}
		c.withPayload(p, np)
	}
	return nil
}

func (c *collection) deletePayload(sel *qdrant.PointsSelector, keys []string) {
	for _, p := range c.selected(sel) {
		np := make(map[string]*qdrant.Value, len(p.payload))
		for k, v := range p.payload {
			if !contains(keys, k) {
				np[k] = v
			}
		}
		c.withPayload(p, np)
	}
}

func (c *collection) updateVectors(pvs []*qdrant.PointVectors, cond *qdrant.Filter) error {
	parsed := make([]*point, len(pvs))
	for i, pv := range pvs {
		p, err := c.parsePoint(pv.Id, pv.Vectors, false)
		if err != nil {
			return err
		}
		if _, ok := c.points[p.key]; !ok {
			return status.Errorf(codes.NotFound, "Not found: No point with id %s found", p.key[1:])
		}
		parsed[i] = p
	}
	for _, np := range parsed {
		p := c.points[np.key]
		if cond != nil && !matchFilter(p, cond) {
			continue
		}
		up := &point{id: p.id, key: p.key, payload: p.payload, dense: map[string][][]float32{}, sparse: map[string]sparseVec{}}
		for _, from := range []*point{p, np} {
			for k, v := range from.dense {
				up.dense[k] = v
			}
			for k, v := range from.sparse {
				up.sparse[k] = v
			}
		}
		c.put(up)
	}
	return nil
}

// selected returns the points a selector names, in slot order for a filter.
func (c *collection) selected(sel *qdrant.PointsSelector) []*point {
	var out []*point
	switch v := sel.GetPointsSelectorOneOf().(type) {
	case *qdrant.PointsSelector_Points:
		for _, id := range v.Points.GetIds() {
			if p, ok := c.points[idKey(id)]; ok {
				out = append(out, p)
			}
		}
	case *qdrant.PointsSelector_Filter:
		c.matching(v.Filter).each(func(i int32) { out = append(out, c.slots[i]) })
	}
	return out
}

// Get returns points by id, in the order asked, skipping missing ones.
func (ps points) Get(ctx context.Context, r *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	out := &qdrant.GetResponse{}
	err := ps.s.read(r.CollectionName, func(c *collection) error {
		for _, id := range r.Ids {
			if p, ok := c.points[idKey(id)]; ok {
				out.Result = append(out.Result, &qdrant.RetrievedPoint{Id: p.id, Payload: p.payloadFor(r.WithPayload), Vectors: c.vectorsOut(p, r.WithVectors)})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Count counts the points that match the filter, from the payload indexes
// where the filter's conditions have one.
func (ps points) Count(ctx context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	var n int
	err := ps.s.read(r.CollectionName, func(c *collection) error {
		n = c.matching(r.Filter).count()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: uint64(n)}}, nil
}

// Scroll pages through the matching points by id.
func (ps points) Scroll(ctx context.Context, r *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	if r.OrderBy != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: scroll with order_by")
	}
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	out := &qdrant.ScrollResponse{}
	err := ps.s.read(r.CollectionName, func(c *collection) error {
		var pts []*point
		from := ""
		if r.Offset != nil {
			from = idKey(r.Offset)
		}
		c.matching(r.Filter).each(func(i int32) {
			if p := c.slots[i]; p.key >= from {
				pts = append(pts, p)
			}
		})
		slices.SortFunc(pts, func(a, b *point) int { return cmpString(a.key, b.key) })
		for i, p := range pts {
			if i == limit {
				out.NextPageOffset = p.id
				break
			}
			out.Result = append(out.Result, &qdrant.RetrievedPoint{Id: p.id, Payload: p.payloadFor(r.WithPayload), Vectors: c.vectorsOut(p, r.WithVectors)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Facet counts the points holding each value of an indexed keyword field,
// from its index: each value's postings against the filter's set.
func (ps points) Facet(ctx context.Context, r *qdrant.FacetCounts) (*qdrant.FacetResponse, error) {
	type count struct {
		value string
		n     uint64
	}
	var counts []count
	err := ps.s.read(r.CollectionName, func(c *collection) error {
		ix, ok := c.kw[r.Key]
		if !ok {
			return invalid("Index required but not found for \"%s\" of one of the following types: [keyword, integer, bool]", r.Key)
		}
		set := c.matching(r.Filter)
		for v, slots := range ix {
			n := uint64(0)
			for _, i := range slots {
				if set.has(i) {
					n++
				}
			}
			if n > 0 {
				counts = append(counts, count{v, n})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].n != counts[j].n {
			return counts[i].n > counts[j].n
		}
		return counts[i].value < counts[j].value
	})
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	out := &qdrant.FacetResponse{Hits: make([]*qdrant.FacetHit, 0, min(limit, len(counts)))}
	for _, x := range counts[:min(limit, len(counts))] {
		out.Hits = append(out.Hits, &qdrant.FacetHit{Value: qdrant.NewFacetValue(x.value), Count: x.n})
	}
	return out, nil
}

// Query runs one query.
func (ps points) Query(ctx context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	out := &qdrant.QueryResponse{}
	err := ps.s.read(r.CollectionName, func(c *collection) (err error) {
		out.Result, err = c.query(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueryBatch runs several queries of one collection on one view of it.
func (ps points) QueryBatch(ctx context.Context, r *qdrant.QueryBatchPoints) (*qdrant.QueryBatchResponse, error) {
	out := &qdrant.QueryBatchResponse{}
	err := ps.s.read(r.CollectionName, func(c *collection) error {
		// Requests of a batch with the same filter share its evaluation,
		// as Qdrant's query planner does for batched requests (qdrant#813).
		var sets []filtered
		matched := make([]bitset, len(r.QueryPoints))
	next:
		for i, q := range r.QueryPoints {
			for _, s := range sets {
				if proto.Equal(s.filter, q.Filter) {
					matched[i] = s.set
					continue next
				}
			}
			matched[i] = c.matching(q.Filter)
			sets = append(sets, filtered{q.Filter, matched[i]})
		}
		// The requests run side by side. Qdrant runs a batch on one search
		// thread per segment, and makes a segment per CPU by default, so a
		// batch uses the cores either way; here the parallelism is by
		// request rather than by segment (kefu's embedded store also runs
		// its keyword and vector sides side by side).
		out.Result = make([]*qdrant.BatchResult, len(r.QueryPoints))
		errs := make([]error, len(r.QueryPoints))
		var wg sync.WaitGroup
		for i, q := range r.QueryPoints {
			wg.Go(func() {
				res, err := c.queryWith(q, func(*qdrant.Filter) bitset { return matched[i] })
				out.Result[i], errs[i] = &qdrant.BatchResult{Result: res}, err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err // the first, as Qdrant reports it, with its status code
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// filtered is a filter and the slots of the points that match it.
type filtered struct {
	filter *qdrant.Filter
	set    bitset
}

func (c *collection) query(r *qdrant.QueryPoints) ([]*qdrant.ScoredPoint, error) {
	return c.queryWith(r, c.matching)
}

// queryWith runs a query on the points match gives for its filter, which
// it only reads.
func (c *collection) queryWith(r *qdrant.QueryPoints, match func(*qdrant.Filter) bitset) ([]*qdrant.ScoredPoint, error) {
	if len(r.Prefetch) > 0 {
		return nil, status.Error(codes.Unimplemented, "qdranttest: prefetch")
	}
	near := r.GetQuery().GetNearest()
	if near == nil {
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: query %T", r.GetQuery().GetVariant())
	}
	using := r.GetUsing()
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	off := int(r.GetOffset())
	top := &topK{n: limit + off, threshold: math.Inf(-1)}
	if r.ScoreThreshold != nil {
		top.threshold = float64(*r.ScoreThreshold)
	}
	var search func(set bitset)
	switch v := near.GetVariant().(type) {
	case *qdrant.VectorInput_Sparse:
		sp, ok := c.sparse[using]
		if !ok {
			return nil, invalid("Not existing vector name error: %s", using)
		}
		search = func(set bitset) { c.sparseSearch(using, sp, v.Sparse, set, top) }
	case *qdrant.VectorInput_Dense, *qdrant.VectorInput_MultiDense:
		var qs [][]float32
		if d := near.GetDense(); d != nil {
			qs = [][]float32{d.Data}
		}
		for _, d := range near.GetMultiDense().GetVectors() {
			qs = append(qs, d.Data)
		}
		q, err := c.denseQuery(using, qs)
		if err != nil {
			return nil, err
		}
		search = func(set bitset) { c.denseSearch(using, q, set, top) }
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: query vector %T", v)
	}
	search(match(r.Filter))
	hits := top.sorted()
	hits = hits[min(off, len(hits)):]
	out := make([]*qdrant.ScoredPoint, 0, len(hits))
	for _, h := range hits {
		out = append(out, &qdrant.ScoredPoint{Id: h.p.id, Score: float32(h.score), Payload: h.p.payloadFor(r.WithPayload), Vectors: c.vectorsOut(h.p, r.WithVectors)})
	}
	return out, nil
}

func (c *collection) denseQuery(using string, qs [][]float32) ([][]float32, error) {
	dp, ok := c.dense[using]
	if !ok {
		return nil, invalid("Not existing vector name error: %s", using)
	}
	if len(qs) > 1 && dp.MultivectorConfig == nil {
		return nil, invalid("vector %q is not a multivector", using)
	}
	out := make([][]float32, len(qs))
	for i, q := range qs {
		if uint64(len(q)) != dp.Size {
			return nil, invalid("Vector dimension error: expected dim: %d, got %d", dp.Size, len(q))
		}
		q = slices.Clone(q)
		if dp.Distance == qdrant.Distance_Cosine {
			normalize(q)
		}
		out[i] = q
	}
	return out, nil
}

// denseSearch scores every point of set by exact similarity: a dense
// vector by its dot product with the (normalised, for cosine) query, a
// multivector by MaxSim, the sum over the query's vectors of the best dot
// product with any of the point's. Only the filtered set is scored, as
// Qdrant does when a filter is selective enough to bypass its HNSW graph;
// a query of one vector (kefu's) is one scan of the collection's rows.
func (c *collection) denseSearch(using string, qs [][]float32, set bitset, top *topK) {
	if len(qs) == 1 {
		for _, r := range c.vecs[using].Search(qs[0], top.n, vector.BitsetOf(set)) {
			top.push(c.slots[r.Label], float64(r.Score))
		}
		return
	}
	set.each(func(i int32) {
		p := c.slots[i]
		vs, ok := p.dense[using]
		if !ok {
			return
		}
		var total float64
		for _, q := range qs {
			best := math.Inf(-1)
			for _, v := range vs {
				best = max(best, float64(vector.Dot(q, v)))
			}
			total += best
		}
		top.push(p, total)
	})
}

// sparseSearch scores the points of set that share an index with the query
// by the dot product, each index weighted by its idf when the vector has
// the idf modifier, reading only the postings of the query's indices.
func (c *collection) sparseSearch(using string, sp *qdrant.SparseVectorParams, q *qdrant.SparseVector, set bitset, top *topK) {
	weights := map[uint32]float64{}
	for i, ix := range q.Indices {
		if i < len(q.Values) {
			weights[ix] += float64(q.Values[i])
		}
	}
	dims := make([]uint32, 0, len(weights))
	for ix := range weights {
		dims = append(dims, ix)
	}
	slices.Sort(dims) // one order of additions: the same scores every time
	si := c.inv[using]
	if sp.GetModifier() == qdrant.Modifier_Idf {
		n := float64(len(c.points))
		for _, ix := range dims {
			df := float64(si.df[ix])
			weights[ix] *= math.Log(1 + (n-df+0.5)/(df+0.5))
		}
	}
	acc := make([]float64, len(c.slots))
	touched := make(bitset, len(set))
	for _, ix := range dims {
		w := weights[ix]
		for _, po := range si.post[ix] {
			if set.has(po.slot) {
				acc[po.slot] += w * float64(po.v)
				touched.set(po.slot)
			}
		}
	}
	touched.each(func(i int32) { top.push(c.slots[i], acc[i]) })
}

type scored struct {
	p     *point
	score float64
}

// better orders hits by score, then by id.
func better(a, b scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.p.key < b.p.key
}

// topK keeps the n best hits at or above threshold, in a bounded min-heap
// (the worst kept first).
type topK struct {
	n         int
	threshold float64
	h         []scored
}

func (t *topK) push(p *point, score float64) {
	x := scored{p, score}
	if score < t.threshold || t.n <= 0 || len(t.h) == t.n && !better(x, t.h[0]) {
		return
	}
	if len(t.h) < t.n {
		t.h = append(t.h, x)
		for i := len(t.h) - 1; i > 0; {
			up := (i - 1) / 2
			if !better(t.h[up], t.h[i]) {
				break
			}
			t.h[up], t.h[i] = t.h[i], t.h[up]
			i = up
		}
		return
	}
	t.h[0] = x
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(t.h) && better(t.h[m], t.h[l]) {
			m = l
		}
		if l+1 < len(t.h) && better(t.h[m], t.h[l+1]) {
			m = l + 1
		}
		if m == i {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// sorted returns the hits kept, best first.
func (t *topK) sorted() []scored {
	sort.Slice(t.h, func(i, j int) bool { return better(t.h[i], t.h[j]) })
	return t.h
}

// payloadFor returns the part of p's payload that sel asks for. A point
// never changes (a change makes a new one), so the last selections of
// named fields made of it serve the next requests that name the same ones.
func (p *point) payloadFor(sel *qdrant.WithPayloadSelector) map[string]*qdrant.Value {
	inc := sel.GetInclude()
	if inc == nil {
		return selectPayload(p.payload, sel)
	}
	last := p.selections.Load()
	if last != nil {
		for _, s := range *last {
			if slices.Equal(s.fields, inc.Fields) {
				return s.payload
			}
		}
	}
	out := selectPayload(p.payload, sel)
	var next []selection
	if last != nil {
		next = append(next, (*last)[max(0, len(*last)-3):]...)
	}
	next = append(next, selection{slices.Clone(inc.Fields), out})
	p.selections.Store(&next)
	return out
}

// selection is a part of a point's payload, by the fields it names.
type selection struct {
	fields  []string
	payload map[string]*qdrant.Value
}

func selectPayload(p map[string]*qdrant.Value, sel *qdrant.WithPayloadSelector) map[string]*qdrant.Value {
	switch o := sel.GetSelectorOptions().(type) {
	case *qdrant.WithPayloadSelector_Enable:
		if o.Enable {
			return p
		}
	case *qdrant.WithPayloadSelector_Include:
		out := make(map[string]*qdrant.Value, len(o.Include.Fields))
		for _, k := range o.Include.Fields {
			if v, ok := p[k]; ok {
				out[k] = v
			}
		}
		return out
	case *qdrant.WithPayloadSelector_Exclude:
		out := make(map[string]*qdrant.Value, len(p))
		for k, v := range p {
			if !contains(o.Exclude.Fields, k) {
				out[k] = v
			}
		}
		return out
	}
	return nil
}

func (c *collection) vectorsOut(p *point, sel *qdrant.WithVectorsSelector) *qdrant.VectorsOutput {
	if sel == nil {
		return nil
	}
	want := func(string) bool { return false }
	switch o := sel.GetSelectorOptions().(type) {
	case *qdrant.WithVectorsSelector_Enable:
		want = func(string) bool { return o.Enable }
	case *qdrant.WithVectorsSelector_Include:
		want = func(n string) bool { return contains(o.Include.Names, n) }
	}
	named := map[string]*qdrant.VectorOutput{}
	for n, vs := range p.dense {
		if !want(n) {
			continue
		}
		if c.dense[n].MultivectorConfig != nil {
			md := &qdrant.MultiDenseVector{}
			for _, v := range vs {
				md.Vectors = append(md.Vectors, &qdrant.DenseVector{Data: v})
			}
			named[n] = &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_MultiDense{MultiDense: md}}
		} else {
			named[n] = &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: vs[0]}}}
		}
	}
	for n, sv := range p.sparse {
		if want(n) {
			named[n] = &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Sparse{Sparse: &qdrant.SparseVector{Indices: sv.indices, Values: sv.values}}}
		}
	}
	if len(named) == 0 {
		return nil
	}
	return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: &qdrant.NamedVectorsOutput{Vectors: named}}}
}
