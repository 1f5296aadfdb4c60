package qdranttest

import (
	"context"
	"math"
	"sort"
	"strings"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu/index/vector"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Delete deletes the selected points.
func (ps points) Delete(ctx context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	s := ps.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	c.deletePoints(r.Points)
	return done(), nil
}

func (c *collection) deletePoints(sel *qdrant.PointsSelector) {
	for _, p := range c.selected(sel) {
		delete(c.points, idKey(p.id))
		c.gen++
	}
}

// Get returns points by id, in the order asked, skipping missing ones.
func (ps points) Get(ctx context.Context, r *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	s := ps.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	var out []*qdrant.RetrievedPoint
	for _, id := range r.Ids {
		if p, ok := c.points[idKey(id)]; ok {
			out = append(out, &qdrant.RetrievedPoint{Id: p.id, Payload: selectPayload(p.payload, r.WithPayload), Vectors: c.vectorsOut(p, r.WithVectors)})
		}
	}
	return &qdrant.GetResponse{Result: out}, nil
}

// SetPayload merges keys into the selected points' payloads.
func (ps points) SetPayload(ctx context.Context, r *qdrant.SetPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	s := ps.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	if r.Key != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: set_payload with a key")
	}
	c.setPayload(r.PointsSelector, r.Payload)
	return done(), nil
}

func (c *collection) setPayload(sel *qdrant.PointsSelector, payload map[string]*qdrant.Value) {
	for _, p := range c.selected(sel) {
		c.gen++
		np := make(map[string]*qdrant.Value, len(p.payload)+len(payload))
		for k, v := range p.payload {
			np[k] = v
		}
		for k, v := range payload {
			np[k] = v
		}
		p.payload = np
	}
}

// DeletePayload removes keys from the selected points' payloads.
func (ps points) DeletePayload(ctx context.Context, r *qdrant.DeletePayloadPoints) (*qdrant.PointsOperationResponse, error) {
	s := ps.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	c.deletePayload(r.PointsSelector, r.Keys)
	return done(), nil
}

func (c *collection) deletePayload(sel *qdrant.PointsSelector, keys []string) {
	for _, p := range c.selected(sel) {
		c.gen++
		np := make(map[string]*qdrant.Value, len(p.payload))
		for k, v := range p.payload {
			np[k] = v
		}
		for _, k := range keys {
			delete(np, k)
		}
		p.payload = np
	}
}

// UpdateVectors replaces the named vectors given, keeping the others.
func (ps points) UpdateVectors(ctx context.Context, r *qdrant.UpdatePointVectors) (*qdrant.PointsOperationResponse, error) {
	s := ps.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	if err := c.updateVectors(r.Points, r.UpdateFilter); err != nil {
		return nil, err
	}
	return done(), nil
}

func (c *collection) updateVectors(pvs []*qdrant.PointVectors, cond *qdrant.Filter) error {
	parsed := make([]*point, len(pvs))
	for i, pv := range pvs {
		p, err := c.parsePoint(pv.Id, pv.Vectors, false)
		if err != nil {
			return err
		}
		if _, ok := c.points[idKey(pv.Id)]; !ok {
			return status.Errorf(codes.NotFound, "Not found: No point with id %s found", idKey(pv.Id)[1:])
		}
		parsed[i] = p
	}
	for _, np := range parsed {
		p := c.points[idKey(np.id)]
		if cond != nil && !matchFilter(p, cond) {
			continue
		}
		up := &point{id: p.id, payload: p.payload, dense: map[string][][]float32{}, sparse: map[string]sparseVec{}}
		for k, v := range p.dense {
			up.dense[k] = v
		}
		for k, v := range p.sparse {
			up.sparse[k] = v
		}
		for k, v := range np.dense {
			up.dense[k] = v
		}
		for k, v := range np.sparse {
			up.sparse[k] = v
		}
		c.points[idKey(p.id)] = up
		c.gen++
	}
	return nil
}

// UpdateBatch applies its operations in order; an operation that fails
// stops the batch, leaving the earlier ones applied, as in Qdrant.
func (ps points) UpdateBatch(ctx context.Context, r *qdrant.UpdateBatchPoints) (*qdrant.UpdateBatchResponse, error) {
	s := ps.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	var out []*qdrant.UpdateResult
	for _, op := range r.Operations {
		var err error
		switch o := op.GetOperation().(type) {
		case *qdrant.PointsUpdateOperation_Upsert:
			err = c.upsert(o.Upsert.Points, o.Upsert.UpdateFilter)
		case *qdrant.PointsUpdateOperation_DeletePoints_:
			c.deletePoints(o.DeletePoints.Points)
		case *qdrant.PointsUpdateOperation_SetPayload_:
			if o.SetPayload.Key != nil {
				err = status.Error(codes.Unimplemented, "qdranttest: set_payload with a key")
			} else {
				c.setPayload(o.SetPayload.PointsSelector, o.SetPayload.Payload)
			}
		case *qdrant.PointsUpdateOperation_DeletePayload_:
			c.deletePayload(o.DeletePayload.PointsSelector, o.DeletePayload.Keys)
		case *qdrant.PointsUpdateOperation_UpdateVectors_:
			err = c.updateVectors(o.UpdateVectors.Points, o.UpdateVectors.UpdateFilter)
		default:
			err = status.Errorf(codes.Unimplemented, "qdranttest: batch operation %T", o)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed})
	}
	return &qdrant.UpdateBatchResponse{Result: out}, nil
}

// Count counts the points that match the filter.
func (ps points) Count(ctx context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	s := ps.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, p := range c.candidates(r.Filter) {
		if r.Filter == nil || matchFilter(p, r.Filter) {
			n++
		}
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: n}}, nil
}

// Scroll pages through the matching points by id.
func (ps points) Scroll(ctx context.Context, r *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	s := ps.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	if r.OrderBy != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: scroll with order_by")
	}
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	keys := make([]string, 0, len(c.points))
	for _, p := range c.candidates(r.Filter) {
		if r.Filter == nil || matchFilter(p, r.Filter) {
			keys = append(keys, idKey(p.id))
		}
	}
	sort.Strings(keys)
	start := 0
	if r.Offset != nil {
		start = sort.SearchStrings(keys, idKey(r.Offset))
	}
	out := &qdrant.ScrollResponse{}
	for i := start; i < len(keys); i++ {
		if len(out.Result) == limit {
			out.NextPageOffset = c.points[keys[i]].id
			break
		}
		p := c.points[keys[i]]
		out.Result = append(out.Result, &qdrant.RetrievedPoint{Id: p.id, Payload: selectPayload(p.payload, r.WithPayload), Vectors: c.vectorsOut(p, r.WithVectors)})
	}
	return out, nil
}

// Facet counts the points holding each value of an indexed keyword field.
func (ps points) Facet(ctx context.Context, r *qdrant.FacetCounts) (*qdrant.FacetResponse, error) {
	s := ps.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	if ix, ok := c.indexes[r.Key]; !ok || ix.DataType != qdrant.PayloadSchemaType_Keyword {
		return nil, invalid("Index required but not found for \"%s\" of one of the following types: [keyword, integer, bool]", r.Key)
	}
	counts := map[string]uint64{}
	for _, p := range c.candidates(r.Filter) {
		if r.Filter != nil && !matchFilter(p, r.Filter) {
			continue
		}
		seen := map[string]bool{}
		for _, v := range lookup(p.payload, r.Key) {
			if sv, ok := v.GetKind().(*qdrant.Value_StringValue); ok && !seen[sv.StringValue] {
				seen[sv.StringValue] = true
				counts[sv.StringValue]++
			}
		}
	}
	vals := make([]string, 0, len(counts))
	for v := range counts {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool {
		if counts[vals[i]] != counts[vals[j]] {
			return counts[vals[i]] > counts[vals[j]]
		}
		return vals[i] < vals[j]
	})
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	out := &qdrant.FacetResponse{}
	for _, v := range vals[:min(limit, len(vals))] {
		out.Hits = append(out.Hits, &qdrant.FacetHit{Value: qdrant.NewFacetValue(v), Count: counts[v]})
	}
	return out, nil
}

// Query runs one query.
func (ps points) Query(ctx context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	s := ps.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	res, err := c.query(r)
	if err != nil {
		return nil, err
	}
	return &qdrant.QueryResponse{Result: res}, nil
}

// QueryBatch runs several queries of one collection on one view of it.
func (ps points) QueryBatch(ctx context.Context, r *qdrant.QueryBatchPoints) (*qdrant.QueryBatchResponse, error) {
	s := ps.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	out := &qdrant.QueryBatchResponse{}
	for _, q := range r.QueryPoints {
		res, err := c.query(q)
		if err != nil {
			return nil, err
		}
		out.Result = append(out.Result, &qdrant.BatchResult{Result: res})
	}
	return out, nil
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
	return idKey(a.p.id) < idKey(b.p.id)
}

// best returns the n best hits in order, with a bounded heap.
func best(hits []scored, n int, keep func(*point) bool) []scored {
	if n <= 0 {
		return nil
	}
	h := make([]scored, 0, min(n, len(hits))) // min-heap: the worst kept first
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(h) && better(h[m], h[l]) {
				m = l
			}
			if l+1 < len(h) && better(h[m], h[l+1]) {
				m = l + 1
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	// The filter is asked only of hits that would enter the heap: the
	// result is that of filtering first, at a fraction of the checks.
	for _, x := range hits {
		if len(h) == n && !better(x, h[0]) || !keep(x.p) {
			continue
		}
		if len(h) < n {
			h = append(h, x)
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
		h[0] = x
		down(0)
	}
	sort.Slice(h, func(i, j int) bool { return better(h[i], h[j]) })
	return h
}

func (c *collection) query(r *qdrant.QueryPoints) ([]*qdrant.ScoredPoint, error) {
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
	var hits []scored
	switch v := near.GetVariant().(type) {
	case *qdrant.VectorInput_Sparse:
		sp, ok := c.sparse[using]
		if !ok {
			return nil, invalid("Not existing vector name error: %s", using)
		}
		hits = c.sparseSearch(using, sp, v.Sparse, r.Filter)
	case *qdrant.VectorInput_Dense:
		q, err := c.denseQuery(using, [][]float32{v.Dense.Data})
		if err != nil {
			return nil, err
		}
		hits = c.denseSearch(using, q, r.Filter)
	case *qdrant.VectorInput_MultiDense:
		var qs [][]float32
		for _, d := range v.MultiDense.Vectors {
			qs = append(qs, d.Data)
		}
		q, err := c.denseQuery(using, qs)
		if err != nil {
			return nil, err
		}
		hits = c.denseSearch(using, q, r.Filter)
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: query vector %T", v)
	}
	if r.ScoreThreshold != nil {
		kept := hits[:0]
		for _, h := range hits {
			if h.score >= float64(*r.ScoreThreshold) {
				kept = append(kept, h)
			}
		}
		hits = kept
	}
	hits = best(hits, limit+int(r.GetOffset()), func(p *point) bool { return r.Filter == nil || matchFilter(p, r.Filter) })
	off := 0
	if r.Offset != nil {
		off = int(*r.Offset)
	}
	if off > len(hits) {
		off = len(hits)
	}
	hits = hits[off:]
	out := make([]*qdrant.ScoredPoint, 0, min(limit, len(hits)))
	for _, h := range hits[:min(limit, len(hits))] {
		out = append(out, &qdrant.ScoredPoint{Id: h.p.id, Score: float32(h.score), Payload: selectPayload(h.p.payload, r.WithPayload), Vectors: c.vectorsOut(h.p, r.WithVectors)})
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
		q = slicesClone(q)
		if dp.Distance == qdrant.Distance_Cosine {
			normalize(q)
		}
		out[i] = q
	}
	return out, nil
}

// denseSearch scores the points the filter's keyword indexes allow (the
// rest of the filter applies as hits enter the top, see best) by exact
// similarity: a dense
// vector by its dot product with the (normalised, for cosine) query, a
// multivector by MaxSim, the sum over the query's vectors of the best dot
// product with any of the point's.
func (c *collection) denseSearch(using string, qs [][]float32, f *qdrant.Filter) []scored {
	var out []scored
	for _, p := range c.candidates(f) {
		vs, ok := p.dense[using]
		if !ok {
			continue
		}
		var total float64
		for _, q := range qs {
			best := math.Inf(-1)
			for _, v := range vs {
				best = max(best, float64(vector.Dot(q, v)))
			}
			total += best
		}
		out = append(out, scored{p, total})
	}
	return out
}

// sparseSearch scores the points that share an index with the
// query by the dot product, each index weighted by its idf when the vector
// has the idf modifier.
func (c *collection) sparseSearch(using string, sp *qdrant.SparseVectorParams, q *qdrant.SparseVector, f *qdrant.Filter) []scored {
	weights := map[uint32]float64{}
	for i, ix := range q.Indices {
		if i < len(q.Values) {
			weights[ix] += float64(q.Values[i])
		}
	}
	inv := c.inverted(using)
	if sp.GetModifier() == qdrant.Modifier_Idf {
		n := float64(len(c.points))
		for ix, w := range weights {
			df := float64(len(inv[ix]))
			weights[ix] = w * math.Log(1+(n-df+0.5)/(df+0.5))
		}
	}
	acc := map[*point]float64{}
	for ix, w := range weights {
		for _, po := range inv[ix] {
			acc[po.p] += w * float64(po.v)
		}
	}
	out := make([]scored, 0, len(acc))
	for p, score := range acc {
		out = append(out, scored{p, score})
	}
	return out
}

// candidates returns the points a filter can match: through a keyword
// payload index when the filter's must holds a match on an indexed field
// (as Qdrant plans a filtered request), else all of them.
func (c *collection) candidates(f *qdrant.Filter) []*point {
	var best []*point
	found := false
	for _, cond := range f.GetMust() {
		fc := cond.GetField()
		if fc == nil || fc.Match == nil {
			continue
		}
		if ix, ok := c.indexes[fc.Key]; !ok || ix.DataType != qdrant.PayloadSchemaType_Keyword {
			continue
		}
		var values []string
		switch m := fc.Match.GetMatchValue().(type) {
		case *qdrant.Match_Keyword:
			values = []string{m.Keyword}
		case *qdrant.Match_Keywords:
			values = m.Keywords.Strings
		default:
			continue
		}
		byValue := c.keywordIndex(fc.Key)
		n := 0
		for _, v := range values {
			n += len(byValue[v])
		}
		if found && n >= len(best) {
			continue
		}
		seen := map[*point]bool{}
		var out []*point
		for _, v := range values {
			for _, p := range byValue[v] {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
		best, found = out, true
	}
	if found {
		return best
	}
	out := make([]*point, 0, len(c.points))
	for _, p := range c.points {
		out = append(out, p)
	}
	return out
}

// keywordIndex maps each value of an indexed keyword field to its points,
// rebuilt after changes.
func (c *collection) keywordIndex(key string) map[string][]*point {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	if c.kw == nil || c.kwGen != c.gen {
		c.kw, c.kwGen = map[string]map[string][]*point{}, c.gen
	}
	if m, ok := c.kw[key]; ok {
		return m
	}
	m := map[string][]*point{}
	for _, p := range c.points {
		seen := map[string]bool{}
		for _, v := range lookup(p.payload, key) {
			if sv, ok := v.GetKind().(*qdrant.Value_StringValue); ok && !seen[sv.StringValue] {
				seen[sv.StringValue] = true
				m[sv.StringValue] = append(m[sv.StringValue], p)
			}
		}
	}
	c.kw[key] = m
	return m
}

type posting struct {
	p *point
	v float32
}

// inverted returns the postings of a sparse vector, rebuilt after changes.
func (c *collection) inverted(using string) map[uint32][]posting {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	if c.inv == nil || c.invGen != c.gen {
		c.inv, c.invGen = map[string]map[uint32][]posting{}, c.gen
	}
	if m, ok := c.inv[using]; ok {
		return m
	}
	m := map[uint32][]posting{}
	for _, p := range c.points {
		sv := p.sparse[using]
		for i, ix := range sv.indices {
			m[ix] = append(m[ix], posting{p, sv.values[i]})
		}
	}
	c.inv[using] = m
	return m
}

func selectPayload(p map[string]*qdrant.Value, sel *qdrant.WithPayloadSelector) map[string]*qdrant.Value {
	switch o := sel.GetSelectorOptions().(type) {
	case *qdrant.WithPayloadSelector_Enable:
		if o.Enable {
			return p
		}
	case *qdrant.WithPayloadSelector_Include:
		out := map[string]*qdrant.Value{}
		for _, k := range o.Include.Fields {
			if v, ok := p[k]; ok {
				out[k] = v
			}
		}
		return out
	case *qdrant.WithPayloadSelector_Exclude:
		out := map[string]*qdrant.Value{}
		for k, v := range p {
			out[k] = v
		}
		for _, k := range o.Exclude.Fields {
			delete(out, k)
		}
		return out
	}
	return nil
}

func (c *collection) vectorsOut(p *point, sel *qdrant.WithVectorsSelector) *qdrant.VectorsOutput {
	want := func(string) bool { return false }
	switch o := sel.GetSelectorOptions().(type) {
	case *qdrant.WithVectorsSelector_Enable:
		want = func(string) bool { return o.Enable }
	case *qdrant.WithVectorsSelector_Include:
		want = func(n string) bool {
			for _, x := range o.Include.Names {
				if x == n {
					return true
				}
			}
			return false
		}
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

// lookup returns the values at a dotted key, arrays flattened: Qdrant
// matches a condition on an array when any element matches.
func lookup(p map[string]*qdrant.Value, key string) []*qdrant.Value {
	var cur []*qdrant.Value
	if !strings.Contains(key, ".") {
		if v, ok := p[key]; ok {
			cur = []*qdrant.Value{v}
		}
		return flatten(cur)
	}
	cur = []*qdrant.Value{qdrant.NewValueFromFields(p)}
	for _, part := range strings.Split(key, ".") {
		var next []*qdrant.Value
		for _, v := range cur {
			if st := v.GetStructValue(); st != nil {
				if x, ok := st.Fields[part]; ok {
					next = append(next, x)
				}
			}
		}
		cur = next
	}
	return flatten(cur)
}

func flatten(cur []*qdrant.Value) []*qdrant.Value {
	if len(cur) == 1 && cur[0].GetListValue() == nil {
		return cur
	}
	var out []*qdrant.Value
	for _, v := range cur {
		if l := v.GetListValue(); l != nil {
			out = append(out, l.Values...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

func matchFilter(p *point, f *qdrant.Filter) bool {
	for _, c := range f.Must {
		if !matchCond(p, c) {
			return false
		}
	}
	for _, c := range f.MustNot {
		if matchCond(p, c) {
			return false
		}
	}
	if len(f.Should) > 0 {
		any := false
		for _, c := range f.Should {
			if matchCond(p, c) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	if ms := f.MinShould; ms != nil {
		n := uint64(0)
		for _, c := range ms.Conditions {
			if matchCond(p, c) {
				n++
			}
		}
		if n < ms.MinCount {
			return false
		}
	}
	return true
}

func matchCond(p *point, c *qdrant.Condition) bool {
	switch o := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Filter:
		return matchFilter(p, o.Filter)
	case *qdrant.Condition_HasId:
		k := idKey(p.id)
		for _, id := range o.HasId.HasId {
			if idKey(id) == k {
				return true
			}
		}
		return false
	case *qdrant.Condition_IsEmpty:
		vs := lookup(p.payload, o.IsEmpty.Key)
		for _, v := range vs {
			if _, null := v.GetKind().(*qdrant.Value_NullValue); !null {
				return false
			}
		}
		return true
	case *qdrant.Condition_IsNull:
		for _, v := range lookup(p.payload, o.IsNull.Key) {
			if _, null := v.GetKind().(*qdrant.Value_NullValue); null {
				return true
			}
		}
		return false
	case *qdrant.Condition_Field:
		if v, ok := p.payload[o.Field.Key]; ok && v.GetListValue() == nil {
			one := [1]*qdrant.Value{v}
			return matchField(one[:], o.Field)
		}
		return matchField(lookup(p.payload, o.Field.Key), o.Field)
	}
	return false
}

func matchField(vs []*qdrant.Value, fc *qdrant.FieldCondition) bool {
	if m := fc.Match; m != nil {
		switch mv := m.GetMatchValue().(type) {
		case *qdrant.Match_Keyword:
			return anyValue(vs, func(v *qdrant.Value) bool {
				s, ok := v.GetKind().(*qdrant.Value_StringValue)
				return ok && s.StringValue == mv.Keyword
			})
		case *qdrant.Match_Integer:
			return anyValue(vs, func(v *qdrant.Value) bool {
				i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
				return ok && i.IntegerValue == mv.Integer
			})
		case *qdrant.Match_Boolean:
			return anyValue(vs, func(v *qdrant.Value) bool {
				b, ok := v.GetKind().(*qdrant.Value_BoolValue)
				return ok && b.BoolValue == mv.Boolean
			})
		case *qdrant.Match_Keywords:
			return anyValue(vs, func(v *qdrant.Value) bool {
				s, ok := v.GetKind().(*qdrant.Value_StringValue)
				if !ok {
					return false
				}
				for _, k := range mv.Keywords.Strings {
					if k == s.StringValue {
						return true
					}
				}
				return false
			})
		case *qdrant.Match_Integers:
			return anyValue(vs, func(v *qdrant.Value) bool {
				i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
				if !ok {
					return false
				}
				for _, k := range mv.Integers.Integers {
					if k == i.IntegerValue {
						return true
					}
				}
				return false
			})
		case *qdrant.Match_ExceptKeywords:
			// Qdrant: true when the field is absent, or any value is
			// none of the keywords.
			if len(vs) == 0 {
				return true
			}
			return anyValue(vs, func(v *qdrant.Value) bool {
				s, ok := v.GetKind().(*qdrant.Value_StringValue)
				if !ok {
					return true
				}
				for _, k := range mv.ExceptKeywords.Strings {
					if k == s.StringValue {
						return false
					}
				}
				return true
			})
		}
		return false
	}
	if r := fc.Range; r != nil {
		return anyValue(vs, func(v *qdrant.Value) bool {
			var x float64
			switch n := v.GetKind().(type) {
			case *qdrant.Value_IntegerValue:
				x = float64(n.IntegerValue)
			case *qdrant.Value_DoubleValue:
				x = n.DoubleValue
			default:
				return false
			}
			return (r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte) && (r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte)
		})
	}
	return false
}

func anyValue(vs []*qdrant.Value, f func(*qdrant.Value) bool) bool {
	for _, v := range vs {
		if f(v) {
			return true
		}
	}
	return false
}
