package qdrant

import (
	"context"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
)

// cleanup prepares a KB for a write: it removes what a failed write left
// (points of versions never committed, retirement tags of the committed
// version's points) and, with due, the replaced points and collections
// whose grace has passed.
func (s *Store) cleanup(ctx context.Context, rec *kbRecord, due bool) error {
	v := float64(rec.KB.Version)
	var gone float64 = -1
	cut := time.Now().Add(-s.opts.RetireGrace)
	var keep []retirement
	for _, r := range rec.Retired {
		if due && r.At.Before(cut) {
			gone = max(gone, float64(r.Version))
		} else {
			keep = append(keep, r)
		}
	}
	var drops []retirement
	var keepDrops []retirement
	for _, d := range rec.Dropped {
		if due && d.At.Before(cut) {
			drops = append(drops, d)
		} else {
			keepDrops = append(keepDrops, d)
		}
	}
	ops := []*qdrant.PointsUpdateOperation{
		qdrant.NewPointsUpdateDeletePoints(&qdrant.PointsUpdateOperation_DeletePoints{Points: qdrant.NewPointsSelectorFilter(
			&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange(keyFrom, &qdrant.Range{Gt: &v})}})}),
		qdrant.NewPointsUpdateDeletePayload(&qdrant.PointsUpdateOperation_DeletePayload{Keys: []string{keyTo}, PointsSelector: qdrant.NewPointsSelectorFilter(
			&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange(keyTo, &qdrant.Range{Gt: &v})}})}),
	}
	if gone >= 0 {
		ops = append(ops, qdrant.NewPointsUpdateDeletePoints(&qdrant.PointsUpdateOperation_DeletePoints{Points: qdrant.NewPointsSelectorFilter(
			&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange(keyTo, &qdrant.Range{Lte: &gone})}})}))
	}
	tenant := qdrant.NewMatchKeyword(keyKB, rec.ID)
	docOps := make([]*qdrant.PointsUpdateOperation, len(ops))
	for i, op := range ops {
		docOps[i] = withTenant(op, tenant)
	}
	if rec.Collection != "" {
		if err := s.batch(ctx, rec.Collection, ops); err != nil {
			return err
		}
	}
	if err := s.batch(ctx, s.docsCol, docOps); err != nil {
		return err
	}
	for _, d := range drops {
		if err := s.drop(ctx, d.Collection); err != nil {
			return err
		}
	}
	rec.Retired, rec.Dropped = keep, keepDrops
	return nil
}

// withTenant restricts a filtered operation on the shared docs collection
// to one KB.
func withTenant(op *qdrant.PointsUpdateOperation, tenant *qdrant.Condition) *qdrant.PointsUpdateOperation {
	add := func(sel *qdrant.PointsSelector) *qdrant.PointsSelector {
		f := sel.GetFilter()
		return qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: append([]*qdrant.Condition{tenant}, f.Must...)})
	}
	switch o := op.GetOperation().(type) {
	case *qdrant.PointsUpdateOperation_DeletePoints_:
		return qdrant.NewPointsUpdateDeletePoints(&qdrant.PointsUpdateOperation_DeletePoints{Points: add(o.DeletePoints.Points)})
	case *qdrant.PointsUpdateOperation_DeletePayload_:
		return qdrant.NewPointsUpdateDeletePayload(&qdrant.PointsUpdateOperation_DeletePayload{Keys: o.DeletePayload.Keys, PointsSelector: add(o.DeletePayload.PointsSelector)})
	}
	return op
}

func (s *Store) batch(ctx context.Context, col string, ops []*qdrant.PointsUpdateOperation) error {
	return s.call(ctx, "update batch", func(ctx context.Context) error {
		_, err := s.client.UpdateBatch(ctx, &qdrant.UpdateBatchPoints{CollectionName: col, Wait: ptr(true), Operations: ops})
		return err
	})
}

// later deletes a KB's replaced points once their grace has passed, unless
// the next write does it first or the store closes.
func (s *Store) later(kb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	s.retire.Add(1)
	var t *time.Timer
	t = time.AfterFunc(s.opts.RetireGrace+10*time.Millisecond, func() {
		defer s.retire.Done()
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
		if s.closed.Load() {
			return
		}
		w := s.writer(kb)
		w.Lock()
		defer w.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 4*s.opts.Timeout)
		defer cancel()
		rec, err := s.record(ctx, kb)
		if err != nil || len(rec.Retired)+len(rec.Dropped) == 0 {
			return
		}
		if err := s.cleanup(ctx, rec, true); err != nil {
			s.log.Warn("deleting replaced points failed; the next write retries", "kb", kb, "err", err)
			return
		}
		if err := s.commit(ctx, rec, false); err != nil {
			s.log.Warn("deleting replaced points failed; the next write retries", "kb", kb, "err", err)
		}
	})
	s.timers[t] = true
}

// reweight rewrites every visible chunk's sparse vector with the KB's
// current field averages, in place: a search meanwhile sees some chunks
// weighted with the old averages and some with the new, never other
// content.
func (s *Store) reweight(ctx context.Context, rec *kbRecord) error {
	avg := rec.Stats.avg()
	var batch []*qdrant.PointVectors
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b := batch
		batch = nil
		return s.call(ctx, "re-weight chunks", func(ctx context.Context) error {
			_, err := s.client.UpdateVectors(ctx, &qdrant.UpdatePointVectors{CollectionName: rec.Collection, Wait: ptr(true), Points: b})
			return err
		})
	}
	err := s.scroll(ctx, rec.Collection, visible(rec.KB.Version), false, func(p *qdrant.RetrievedPoint) error {
		cs, err := decodeChunk(p.Id, p.Payload)
		if err != nil {
			return err
		}
		batch = append(batch, &qdrant.PointVectors{Id: p.Id, Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{sparseVector: sparseOf(s.fields, &cs.fields, avg)})})
		if len(batch) == writeBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	rec.WeightAvg = avg
	return s.commit(ctx, rec, false)
}

// Reembed replaces every vector of the KB by embed's, under a new model id
// and dimension: the chunks are copied into a new collection with the new
// vectors, and the KB's record switches to it in one write; the old
// collection goes RetireGrace later. A failure leaves the old vectors in
// place.
func (s *Store) Reembed(ctx context.Context, kb string, model kefu.ModelID, dim int, embed func(ctx context.Context, texts []string) ([][]float32, error)) error {
	w := s.writer(kb)
	w.Lock()
	defer w.Unlock()
	rec, err := s.record(ctx, kb)
	if err != nil {
		return err
	}
	if err := s.cleanup(ctx, rec, true); err != nil {
		return err
	}
	var chunks []*chunkState
	if rec.Collection != "" {
		err = s.scroll(ctx, rec.Collection, visible(rec.KB.Version), false, func(p *qdrant.RetrievedPoint) error {
			cs, err := decodeChunk(p.Id, p.Payload)
			if err == nil {
				chunks = append(chunks, cs)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	var texts []string
	for _, c := range chunks {
		texts = append(texts, c.chunk.EmbedTexts()...)
	}
	vecs, err := kefu.EmbedAll(ctx, kb, texts, dim, embed)
	if err != nil {
		return err
	}
	nv := rec.KB.Version + 1
	old := rec.Collection
	name := s.chunksName(rec, rec.Generation+1)
	if err := s.createChunks(ctx, name, dim); err != nil {
		return err
	}
	var pts []*qdrant.PointStruct
	off := 0
	for _, c := range chunks {
		n := len(c.chunk.EmbedTexts())
		c.nvec = n
		pts = append(pts, &qdrant.PointStruct{Id: chunkPointID(c.chunk.ID, nv), Payload: chunkPayload(c, nv), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			denseVector: qdrant.NewVectorMulti(vecs[off : off+n]), sparseVector: sparseOf(s.fields, &c.fields, rec.WeightAvg)})})
		off += n
	}
	if err := s.upsert(ctx, name, pts); err != nil {
		if derr := s.drop(ctx, name); derr != nil {
			s.log.Warn("a failed re-embedding left a collection behind", "collection", name, "err", derr)
		}
		return err
	}
	now := time.Now().UTC()
	rec.Collection, rec.Generation = name, rec.Generation+1
	rec.KB.Model, rec.KB.Dim, rec.KB.Version, rec.KB.UpdatedAt = model, dim, nv, now
	if old != "" {
		rec.Dropped = append(rec.Dropped, retirement{Version: nv, At: time.Now(), Collection: old})
	}
	if err := s.commit(ctx, rec, false); err != nil {
		return err
	}
	s.later(kb)
	return nil
}
