package qdrant

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
)

// Limits of writes.
const (
	MaxChunksPerDocument = 200_000 // as the embedded store
	writeBatch           = 128     // points per upsert call
	keysPerFilter        = 512     // hashes or ids per match-any filter
)

// ReweightDrift is how far (relative) a KB's field averages may drift from
// those its stored sparse weights use before every chunk is re-weighted.
// At 2% the keyword scores stay within 1% of the exact BM25F ones.
const ReweightDrift = 0.02

// docState is a stored document version.
type docState struct {
	id   *qdrant.PointId
	doc  kefu.Document
	keys []string
}

// PutDocument replaces doc and its chunks atomically. Chunks are keyed by
// content hash, shared between the documents that hold the same one.
func (s *Store) PutDocument(ctx context.Context, doc *kefu.Document, chunks []kefu.Chunk, vectors [][][]float32) error {
	return s.PutDocuments(ctx, []kefu.DocumentUpdate{{Doc: doc, Chunks: chunks, Vectors: vectors}})
}

// PutDocuments replaces several documents of one KB as one change: one
// version, committed by one write of the KB's record.
func (s *Store) PutDocuments(ctx context.Context, ups []kefu.DocumentUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	return s.change(ctx, ups[0].Doc.KB, ups, nil)
}

// DeleteDocument removes a document and the chunks no other document shares.
func (s *Store) DeleteDocument(ctx context.Context, kb, docID string) error {
	return s.change(ctx, kb, nil, []string{docID})
}

// validate checks a batch as the embedded store does and returns the
// vectors' dimension.
func validate(kbName string, dim int, ups []kefu.DocumentUpdate) (int, [][]string, error) {
	seen := map[string]bool{}
	keys := make([][]string, len(ups))
	for u, up := range ups {
		doc, chunks, vectors := up.Doc, up.Chunks, up.Vectors
		switch {
		case doc.ID == "":
			return 0, nil, kefu.Errorf(kefu.EINVALID, "document without an id")
		case doc.KB != kbName:
			return 0, nil, kefu.Errorf(kefu.EINVALID, "one batch, one knowledge base: %s and %s", kbName, doc.KB)
		case seen[doc.ID]:
			return 0, nil, kefu.Errorf(kefu.EINVALID, "document %s twice in one batch", doc.ID)
		case len(chunks) != len(vectors):
			return 0, nil, kefu.Errorf(kefu.EINVALID, "%d chunks but %d vector sets", len(chunks), len(vectors))
		case len(chunks) > MaxChunksPerDocument:
			return 0, nil, kefu.Errorf(kefu.ETOOLARGE, "%s: %d chunks (limit %d per document)", doc.Source, len(chunks), MaxChunksPerDocument)
		}
		seen[doc.ID] = true
		byKey := map[string]bool{}
		for i := range chunks {
			c := &chunks[i]
			want := len(c.EmbedTexts())
			if len(vectors[i]) != want {
				return 0, nil, kefu.Errorf(kefu.EINVALID, "chunk %d of %s has %d vectors, want %d", i, doc.ID, len(vectors[i]), want)
			}
			for _, v := range vectors[i] {
				if dim == 0 {
					dim = len(v)
				}
				if len(v) != dim || dim == 0 {
					return 0, nil, kefu.Errorf(kefu.EINVALID, "chunk %d of %s: vector of %d dims, the knowledge base has %d", i, doc.ID, len(v), dim)
				}
			}
			if c.Hash == "" {
				c.Hash = c.ContentHash()
			}
			if !byKey[c.Hash] {
				byKey[c.Hash] = true
				keys[u] = append(keys[u], c.Hash)
			}
		}
	}
	return dim, keys, nil
}

// work is one change being prepared: the chunks it touches as they will
// be, and what it retires.
type work struct {
	s      *Store
	rec    *kbRecord
	cur    map[string]*chunkState // hash → state after the change; nil: deleted
	old    map[string]*chunkState // hash → state before the change
	dirty  map[string]bool
	vecs   map[string][][]float32
	docs   map[string]*docState // doc id → stored version
	st     stats
	an     *keyword.Analysis
	newDoc map[string]*kefu.Document
}

func (s *Store) change(ctx context.Context, kbName string, ups []kefu.DocumentUpdate, dels []string) error {
	w := s.writer(kbName)
	w.Lock()
	defer w.Unlock()
	rec, err := s.record(ctx, kbName)
	if err != nil {
		return err
	}
	if err := kefu.CheckIncarnation(ctx, &rec.KB); err != nil {
		return err
	}
	dim, keys, err := validate(kbName, rec.KB.Dim, ups)
	if err != nil {
		return err
	}
	nv := rec.KB.Version + 1
	if rec.Collection == "" && dim > 0 {
		name := s.chunksName(rec, rec.Generation+1)
		if err := s.createChunks(ctx, name, dim); err != nil {
			return err
		}
		rec.Collection, rec.Generation = name, rec.Generation+1
	}
	if err := s.cleanup(ctx, rec, true); err != nil {
		return err
	}
	wk := &work{s: s, rec: rec, cur: map[string]*chunkState{}, old: map[string]*chunkState{}, dirty: map[string]bool{}, vecs: map[string][][]float32{},
		docs: map[string]*docState{}, st: rec.Stats, an: s.fields, newDoc: map[string]*kefu.Document{}}
	var ids []string
	for _, up := range ups {
		ids = append(ids, up.Doc.ID)
	}
	ids = append(ids, dels...)
	if err := wk.loadDocs(ctx, ids); err != nil {
		return err
	}
	for _, d := range dels {
		if wk.docs[d] == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "document %q not found in %q", d, kbName)
		}
	}
	var need []string
	for _, d := range wk.docs {
		need = append(need, d.keys...)
	}
	for _, k := range keys {
		need = append(need, k...)
	}
	if err := wk.loadChunks(ctx, need); err != nil {
		return err
	}

	now := time.Now().UTC()
	var docPoints []*qdrant.PointStruct
	var retireDocs []*qdrant.PointId
	for _, d := range dels {
		old := wk.docs[d]
		if err := wk.unref(ctx, d, old.keys, nil); err != nil {
			return err
		}
		retireDocs = append(retireDocs, old.id)
		wk.st.Documents--
		wk.st.Bytes -= old.doc.Bytes
	}
	for u, up := range ups {
		doc := up.Doc
		wk.newDoc[doc.ID] = doc
		old := wk.docs[doc.ID]
		var oldKeys []string
		if old != nil {
			oldKeys = old.keys
		}
		if err := wk.unref(ctx, doc.ID, oldKeys, keys[u]); err != nil {
			return err
		}
		byKey := map[string]int{}
		for i := range up.Chunks {
			if _, ok := byKey[up.Chunks[i].Hash]; !ok {
				byKey[up.Chunks[i].Hash] = i
			}
		}
		for seq, key := range keys[u] {
			i := byKey[key]
			c := up.Chunks[i]
			c.Seq = seq
			wk.ref(doc, key, c, up.Vectors[i])
		}
		if old != nil {
			doc.CreatedAt = old.doc.CreatedAt
			retireDocs = append(retireDocs, old.id)
			wk.st.Bytes -= old.doc.Bytes
		} else {
			doc.CreatedAt = now
			wk.st.Documents++
		}
		wk.st.Bytes += doc.Bytes
		doc.UpdatedAt, doc.Chunks, doc.Status, doc.Error = now, len(keys[u]), kefu.DocIndexed, ""
		b, _ := json.Marshal(doc)
		ks := make([]any, len(keys[u]))
		for i, k := range keys[u] {
			ks[i] = k
		}
		kb, _ := json.Marshal(keys[u])
		docPoints = append(docPoints, &qdrant.PointStruct{Id: docPointID(rec.ID, doc.ID, nv),
			Payload: qdrant.NewValueMap(map[string]any{keyKB: rec.ID, keyDocID: doc.ID, keyRecord: string(b), "keys": string(kb), keyFrom: int64(nv)}),
			Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{})})
	}
	if err := wk.fetchMissingVectors(ctx); err != nil {
		return err
	}
	// The statistics after the change decide the weights of new chunks.
	for h := range wk.dirty {
		if o := wk.old[h]; o != nil {
			wk.st.add(&o.fields, -1)
			wk.st.Chunks--
			wk.st.Vectors -= o.nvec
		}
		if c := wk.cur[h]; c != nil {
			wk.st.add(&c.fields, 1)
			wk.st.Chunks++
			wk.st.Vectors += c.nvec
		}
	}
	if rec.WeightAvg == ([keyword.NumFields]float64{}) {
		rec.WeightAvg = wk.st.avg()
	}
	var chunkPoints []*qdrant.PointStruct
	var retireChunks []*qdrant.PointId
	// What the change does to the term statistics, which this node's
	// cache carries to the new version (advanceStats).
	dfDelta, docsDelta := map[string]int{}, 0
	for h := range wk.dirty {
		if o := wk.old[h]; o != nil {
			retireChunks = append(retireChunks, o.id)
			for _, t := range termsOf(&o.fields) {
				dfDelta[t]--
			}
			docsDelta--
		}
		c := wk.cur[h]
		if c == nil {
			continue
		}
		for _, t := range termsOf(&c.fields) {
			dfDelta[t]++
		}
		docsDelta++
		vectors := map[string]*qdrant.Vector{denseVector: qdrant.NewVectorMulti(wk.vecs[h]), sparseVector: sparseOf(wk.an, &c.fields, rec.WeightAvg)}
		chunkPoints = append(chunkPoints, &qdrant.PointStruct{Id: chunkPointID(h, nv), Payload: chunkPayload(c, nv), Vectors: qdrant.NewVectorsMap(vectors)})
	}
	if len(chunkPoints) > 0 && rec.Collection == "" {
		return kefu.Errorf(kefu.EINTERNAL, "qdrant: chunks without vectors")
	}
	if err := s.upsert(ctx, rec.Collection, chunkPoints); err != nil {
		return err
	}
	if err := s.upsert(ctx, s.docsCol, docPoints); err != nil {
		return err
	}
	if err := s.markRetired(ctx, rec.Collection, retireChunks, nv); err != nil {
		return err
	}
	if err := s.markRetired(ctx, s.docsCol, retireDocs, nv); err != nil {
		return err
	}
	rec.Stats = wk.st
	rec.KB.Version = nv
	rec.KB.UpdatedAt = now
	if rec.KB.Dim == 0 && dim > 0 {
		rec.KB.Dim = dim
	}
	if len(retireChunks)+len(retireDocs) > 0 {
		// The grace counts from just before the commit: no search can
		// have read the old version later than that.
		rec.Retired = append(rec.Retired, retirement{Version: nv, At: time.Now()})
	}
	if err := s.commit(ctx, rec, false); err != nil {
		return err
	}
	s.advanceStats(rec, nv-1, dfDelta, docsDelta)
	s.later(kbName)
	if drifted(rec.Stats.avg(), rec.WeightAvg) {
		if err := s.reweight(ctx, rec); err != nil {
			s.log.Error("re-weighting the keyword side failed; scores use the older field averages until the next write", "kb", kbName, "err", err)
		}
	}
	return nil
}

func drifted(now, used [keyword.NumFields]float64) bool {
	for i := range now {
		if now[i] == 0 && used[i] == 0 {
			continue
		}
		if used[i] == 0 || math.Abs(now[i]-used[i]) > ReweightDrift*used[i] {
			return true
		}
	}
	return false
}

// loadDocs reads the stored versions of these documents.
func (wk *work) loadDocs(ctx context.Context, ids []string) error {
	for i := 0; i < len(ids); i += keysPerFilter {
		f := visible(wk.rec.KB.Version)
		f.Must = append(f.Must, qdrant.NewMatchKeyword(keyKB, wk.rec.ID), qdrant.NewMatchKeywords(keyDocID, ids[i:min(i+keysPerFilter, len(ids))]...))
		err := wk.s.scroll(ctx, wk.s.docsCol, f, false, func(p *qdrant.RetrievedPoint) error {
			d, err := decodeDoc(p)
			if err == nil {
				wk.docs[d.doc.ID] = d
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeDoc(p *qdrant.RetrievedPoint) (*docState, error) {
	d := &docState{id: p.Id}
	if err := json.Unmarshal([]byte(p.Payload[keyRecord].GetStringValue()), &d.doc); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "qdrant: document point: %v", err)
	}
	if err := json.Unmarshal([]byte(p.Payload["keys"].GetStringValue()), &d.keys); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "qdrant: document point: %v", err)
	}
	return d, nil
}

// loadChunks reads the visible chunks with these hashes.
func (wk *work) loadChunks(ctx context.Context, hashes []string) error {
	if wk.rec.Collection == "" {
		return nil
	}
	return wk.s.chunksByHash(ctx, wk.rec, hashes, false, func(cs *chunkState, _ *qdrant.RetrievedPoint) {
		wk.old[cs.chunk.ID] = cs
		c := *cs
		c.refs = slices.Clone(cs.refs)
		wk.cur[cs.chunk.ID] = &c
	})
}

// chunksByHash calls fn with each visible chunk whose hash is among hashes.
func (s *Store) chunksByHash(ctx context.Context, rec *kbRecord, hashes []string, vectors bool, fn func(*chunkState, *qdrant.RetrievedPoint)) error {
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	for i := 0; i < len(hashes); i += keysPerFilter {
		f := visible(rec.KB.Version)
		f.Must = append(f.Must, qdrant.NewMatchKeywords(keyHash, hashes[i:min(i+keysPerFilter, len(hashes))]...))
		err := s.scroll(ctx, rec.Collection, f, vectors, func(p *qdrant.RetrievedPoint) error {
			cs, err := decodeChunk(p.Id, p.Payload)
			if err == nil {
				fn(cs, p)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// unref drops docID's reference to every old key not in keep.
func (wk *work) unref(ctx context.Context, docID string, old, keep []string) error {
	for _, key := range old {
		if slices.Contains(keep, key) {
			continue
		}
		cs := wk.cur[key]
		if cs == nil {
			continue // gone already in this change
		}
		cs.refs = slices.DeleteFunc(cs.refs, func(d string) bool { return d == docID })
		wk.dirty[key] = true
		if len(cs.refs) == 0 {
			wk.cur[key] = nil
			continue
		}
		// Shared: the next document becomes the owner, and the chunk
		// cites it, not the one that let go.
		owner := cs.refs[0]
		cs.chunk.DocID = owner
		d := wk.newDoc[owner]
		if d == nil {
			if st := wk.docs[owner]; st != nil {
				d = &st.doc
			} else {
				if err := wk.loadDocs(ctx, []string{owner}); err != nil {
					return err
				}
				if st := wk.docs[owner]; st != nil {
					d = &st.doc
				}
			}
		}
		if d != nil {
			cs.chunk.Source, cs.chunk.URL = d.Source, d.URL
			if d.Title != "" {
				cs.chunk.Title = d.Title
			}
		}
	}
	return nil
}

// ref makes doc hold the chunk with this key.
func (wk *work) ref(doc *kefu.Document, key string, c kefu.Chunk, vecs [][]float32) {
	c.ID, c.Hash = key, key
	if c.Source == "" {
		c.Source = doc.Source
	}
	if c.URL == "" {
		c.URL = doc.URL
	}
	cs := wk.cur[key]
	if cs == nil {
		c.DocID = doc.ID
		d := keyword.FromChunk(&c)
		wk.cur[key] = &chunkState{chunk: c, refs: []string{doc.ID}, fields: wk.an.Fields(&d), nvec: len(vecs)}
		wk.vecs[key] = vecs
		wk.dirty[key] = true
		return
	}
	if !slices.Contains(cs.refs, doc.ID) {
		cs.refs = append(cs.refs, doc.ID)
		wk.dirty[key] = true
	}
	if cs.refs[0] == doc.ID {
		// The owner's new version: refresh position and metadata.
		c.DocID = doc.ID
		if a, b := mustJSON(&cs.chunk), mustJSON(&c); a != b {
			cs.chunk = c
			wk.dirty[key] = true
		}
	}
	if wk.dirty[key] {
		wk.vecs[key] = vecs
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fetchMissingVectors reads the stored vectors of chunks that change
// (another document let go of them) but that no update of the batch holds.
func (wk *work) fetchMissingVectors(ctx context.Context) error {
	var ids []*qdrant.PointId
	byID := map[string]string{}
	for h := range wk.dirty {
		if wk.cur[h] != nil && wk.vecs[h] == nil {
			o := wk.old[h]
			ids = append(ids, o.id)
			byID[o.id.GetUuid()] = h
		}
	}
	for i := 0; i < len(ids); i += writeBatch {
		var pts []*qdrant.RetrievedPoint
		err := wk.s.call(ctx, "read vectors", func(ctx context.Context) (err error) {
			pts, err = wk.s.client.Get(ctx, &qdrant.GetPoints{CollectionName: wk.rec.Collection, Ids: ids[i:min(i+writeBatch, len(ids))], WithVectors: qdrant.NewWithVectorsInclude(denseVector)})
			return err
		})
		if err != nil {
			return err
		}
		for _, p := range pts {
			wk.vecs[byID[p.Id.GetUuid()]] = denseOf(p.Vectors)
		}
	}
	for h := range wk.dirty {
		if wk.cur[h] != nil && wk.vecs[h] == nil {
			return kefu.Errorf(kefu.EINTERNAL, "qdrant: the vectors of chunk %s are missing", h)
		}
	}
	return nil
}

func denseOf(v *qdrant.VectorsOutput) [][]float32 {
	out := v.GetVectors().GetVectors()[denseVector]
	if md := out.GetMultiDense(); md != nil {
		vs := make([][]float32, len(md.Vectors))
		for i, d := range md.Vectors {
			vs[i] = d.Data
		}
		return vs
	}
	if d := out.GetDense(); d != nil {
		return [][]float32{d.Data}
	}
	return nil
}

func (s *Store) upsert(ctx context.Context, col string, pts []*qdrant.PointStruct) error {
	for i := 0; i < len(pts); i += writeBatch {
		batch := pts[i:min(i+writeBatch, len(pts))]
		err := s.call(ctx, "upsert points", func(ctx context.Context) error {
			_, err := s.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: col, Wait: ptr(true), Points: batch})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// markRetired tags points as gone from version v on.
func (s *Store) markRetired(ctx context.Context, col string, ids []*qdrant.PointId, v uint64) error {
	for i := 0; i < len(ids); i += keysPerFilter {
		batch := ids[i:min(i+keysPerFilter, len(ids))]
		err := s.call(ctx, "retire points", func(ctx context.Context) error {
			_, err := s.client.SetPayload(ctx, &qdrant.SetPayloadPoints{CollectionName: col, Wait: ptr(true),
				Payload: qdrant.NewValueMap(map[string]any{keyTo: int64(v)}), PointsSelector: qdrant.NewPointsSelectorIDs(batch)})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Document returns one document.
func (s *Store) Document(ctx context.Context, kb, docID string) (*kefu.Document, error) {
	rec, err := s.record(ctx, kb)
	if err != nil {
		return nil, err
	}
	wk := &work{s: s, rec: rec, docs: map[string]*docState{}}
	if err := wk.loadDocs(ctx, []string{docID}); err != nil {
		return nil, err
	}
	d := wk.docs[docID]
	if d == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "document %q not found", docID)
	}
	return &d.doc, nil
}

// Documents lists a KB's documents by id.
func (s *Store) Documents(ctx context.Context, kb string) ([]*kefu.Document, error) {
	rec, err := s.record(ctx, kb)
	if err != nil {
		return nil, err
	}
	f := visible(rec.KB.Version)
	f.Must = append(f.Must, qdrant.NewMatchKeyword(keyKB, rec.ID))
	var out []*kefu.Document
	err = s.scroll(ctx, s.docsCol, f, false, func(p *qdrant.RetrievedPoint) error {
		d, err := decodeDoc(p)
		if err == nil {
			out = append(out, &d.doc)
		}
		return err
	})
	slices.SortFunc(out, func(a, b *kefu.Document) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, err
}

// Chunks returns a document's chunks in order.
func (s *Store) Chunks(ctx context.Context, kb, docID string) ([]*kefu.Chunk, error) {
	rec, err := s.record(ctx, kb)
	if err != nil {
		return nil, err
	}
	wk := &work{s: s, rec: rec, docs: map[string]*docState{}}
	if err := wk.loadDocs(ctx, []string{docID}); err != nil {
		return nil, err
	}
	d := wk.docs[docID]
	if d == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "document %q not found in %q", docID, kb)
	}
	byHash := map[string]*kefu.Chunk{}
	if rec.Collection != "" {
		err = s.chunksByHash(ctx, rec, slices.Clone(d.keys), false, func(cs *chunkState, _ *qdrant.RetrievedPoint) {
			c := cs.chunk
			byHash[c.ID] = &c
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]*kefu.Chunk, 0, len(d.keys))
	for seq, k := range d.keys {
		c := byHash[k]
		if c == nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "qdrant: chunk %s of %s is missing", k, docID)
		}
		cc := *c
		cc.DocID, cc.Seq = docID, seq
		out = append(out, &cc)
	}
	return out, nil
}

// KnownVectors returns the stored vectors of chunks by content hash.
func (s *Store) KnownVectors(ctx context.Context, kb string, hashes []string) (map[string][][]float32, error) {
	rec, err := s.record(ctx, kb)
	if err != nil {
		return nil, err
	}
	out := map[string][][]float32{}
	if rec.Collection == "" || len(hashes) == 0 {
		return out, nil
	}
	err = s.chunksByHash(ctx, rec, slices.Clone(hashes), true, func(cs *chunkState, p *qdrant.RetrievedPoint) {
		out[cs.chunk.ID] = denseOf(p.Vectors)
	})
	return out, err
}
