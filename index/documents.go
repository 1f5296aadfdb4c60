package index

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
)

// MaxChunksPerDocument bounds one document's chunks.
const MaxChunksPerDocument = 200_000

// change is what a batch of document updates does to the derived indexes.
type change struct {
	puts    map[string]keyword.Doc // chunk key → what the keyword index holds
	deletes map[string]bool        // chunk keys gone from the KB
	freed   []uint32               // their labels
	added   map[uint32][][]float32 // new labels and their vectors
	attrs   map[uint32]labelAttr   // labels whose attributes changed
	docs    map[string][]uint32    // each touched document's labels after the change; empty: deleted
	version uint64
	// freeUsed counts the labels taken from the end of kbState.free.
	freeUsed int
}

func newChange() *change {
	return &change{puts: map[string]keyword.Doc{}, deletes: map[string]bool{}, added: map[uint32][][]float32{},
		attrs: map[uint32]labelAttr{}, docs: map[string][]uint32{}}
}

func (ch *change) put(d keyword.Doc) { ch.puts[d.ID] = d; delete(ch.deletes, d.ID) }
func (ch *change) del(key string)    { ch.deletes[key] = true; delete(ch.puts, key) }

// PutDocument replaces doc and its chunks atomically. Chunks are keyed by
// content hash: a chunk that another document already holds is shared, not
// stored twice, and an unchanged chunk keeps its vectors and label.
func (s *Store) PutDocument(ctx context.Context, doc *kefu.Document, chunks []kefu.Chunk, vectors [][][]float32) error {
	return s.PutDocuments(ctx, []kefu.DocumentUpdate{{Doc: doc, Chunks: chunks, Vectors: vectors}})
}

// PutDocuments replaces several documents of one KB in one transaction:
// searches see all of them old or all of them new. Writing many small
// documents this way costs one commit instead of one each.
func (s *Store) PutDocuments(ctx context.Context, ups []kefu.DocumentUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	kbName := ups[0].Doc.KB
	st, err := s.state(kbName)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()

	dim := st.dim
	type prepared struct {
		keys  []string
		byKey map[string]int
	}
	preps := make([]prepared, len(ups))
	seen := map[string]bool{}
	for u, up := range ups {
		doc, chunks, vectors := up.Doc, up.Chunks, up.Vectors
		switch {
		case doc.ID == "":
			return kefu.Errorf(kefu.EINVALID, "document without an id")
		case doc.KB != kbName:
			return kefu.Errorf(kefu.EINVALID, "one batch, one knowledge base: %s and %s", kbName, doc.KB)
		case seen[doc.ID]:
			return kefu.Errorf(kefu.EINVALID, "document %s twice in one batch", doc.ID)
		case len(chunks) != len(vectors):
			return kefu.Errorf(kefu.EINVALID, "%d chunks but %d vector sets", len(chunks), len(vectors))
		case len(chunks) > MaxChunksPerDocument:
			return kefu.Errorf(kefu.ETOOLARGE, "%s: %d chunks (limit %d per document)", doc.Source, len(chunks), MaxChunksPerDocument)
		}
		seen[doc.ID] = true
		for i := range chunks {
			want := len(chunks[i].EmbedTexts())
			if len(vectors[i]) != want {
				return kefu.Errorf(kefu.EINVALID, "chunk %d of %s has %d vectors, want %d", i, doc.ID, len(vectors[i]), want)
			}
			for _, v := range vectors[i] {
				if dim == 0 {
					dim = len(v)
				}
				if len(v) != dim || dim == 0 {
					return kefu.Errorf(kefu.EINVALID, "chunk %d of %s: vector of %d dims, the knowledge base has %d", i, doc.ID, len(v), dim)
				}
			}
		}
		// Keys in document order, duplicates inside the document dropped.
		p := prepared{keys: make([]string, 0, len(chunks)), byKey: make(map[string]int, len(chunks))}
		for i := range chunks {
			c := &chunks[i]
			if c.Hash == "" {
				c.Hash = c.ContentHash()
			}
			if _, dup := p.byKey[c.Hash]; dup {
				continue
			}
			p.byKey[c.Hash] = i
			p.keys = append(p.keys, c.Hash)
		}
		preps[u] = p
	}

	ch := newChange()
	err = s.db.Update(func(tx *bolt.Tx) error {
		kb, err := getKB(tx, kbName)
		if err != nil {
			return err
		}
		b := tx.Bucket(kbBucket(kbName))
		now := time.Now().UTC()
		for u, up := range ups {
			doc, p := up.Doc, preps[u]
			old, err := docKeys(b, doc.ID)
			if err != nil {
				return err
			}
			if err := st.unref(b, ch, doc.ID, old, p.keys); err != nil {
				return err
			}
			ch.docs[doc.ID] = []uint32{}
			for seq, key := range p.keys {
				c := up.Chunks[p.byKey[key]]
				c.Seq = seq
				if err := st.ref(b, ch, doc, key, c, up.Vectors[p.byKey[key]]); err != nil {
					return err
				}
			}
			if prev, err := getDoc(b, doc.ID); err == nil {
				doc.CreatedAt = prev.CreatedAt
			} else {
				doc.CreatedAt = now
			}
			doc.UpdatedAt, doc.Chunks, doc.Status, doc.Error = now, len(p.keys), kefu.DocIndexed, ""
			if err := putJSON(b.Bucket(bucketDocs), []byte(doc.ID), doc); err != nil {
				return err
			}
			if err := putJSON(b.Bucket(bucketDocChunks), []byte(doc.ID), p.keys); err != nil {
				return err
			}
			if err := s.documentEvent(ctx, tx, doc); err != nil {
				return err
			}
		}
		if kb.Dim == 0 && dim > 0 {
			kb.Dim = dim
		}
		if err := ch.writeAttrs(b); err != nil {
			return err
		}
		return bumpVersion(tx, kb, ch)
	})
	if err != nil {
		return wrapInternal(err, "store %d documents", len(ups))
	}
	if st.dim == 0 && dim > 0 {
		st.dim = dim
	}
	return st.apply(ch)
}

// DeleteDocument removes a document and the chunks no other document shares.
func (s *Store) DeleteDocument(ctx context.Context, kb, docID string) error {
	st, err := s.state(kb)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ch := newChange()
	ch.docs[docID] = nil
	err = s.db.Update(func(tx *bolt.Tx) error {
		k, err := getKB(tx, kb)
		if err != nil {
			return err
		}
		b := tx.Bucket(kbBucket(kb))
		if b.Bucket(bucketDocs).Get([]byte(docID)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "document %q not found in %q", docID, kb)
		}
		old, err := docKeys(b, docID)
		if err != nil {
			return err
		}
		if err := st.unref(b, ch, docID, old, nil); err != nil {
			return err
		}
		if err := b.Bucket(bucketDocs).Delete([]byte(docID)); err != nil {
			return err
		}
		if err := b.Bucket(bucketDocChunks).Delete([]byte(docID)); err != nil {
			return err
		}
		if err := ch.writeAttrs(b); err != nil {
			return err
		}
		return bumpVersion(tx, k, ch)
	})
	if err != nil {
		return wrapInternal(err, "delete document %s", docID)
	}
	s.deleteSource(kb, docID)
	return st.apply(ch)
}

// unref drops docID's reference to every old key not in keep.
func (st *kbState) unref(b *bolt.Bucket, ch *change, docID string, old, keep []string) error {
	keepSet := make(map[string]bool, len(keep))
	for _, k := range keep {
		keepSet[k] = true
	}
	cb := b.Bucket(bucketChunks)
	for _, key := range old {
		if keepSet[key] {
			continue
		}
		rec, err := getChunk(cb, key)
		if err != nil {
			return err
		}
		rec.Refs = slices.DeleteFunc(rec.Refs, func(d string) bool { return d == docID })
		if len(rec.Refs) > 0 {
			// Shared: the next document becomes the owner, and the chunk
			// cites it, not the one that let go.
			rec.Chunk.DocID = rec.Refs[0]
			switch owner, err := getDoc(b, rec.Refs[0]); {
			case err == nil:
				rec.Chunk.Source, rec.Chunk.URL = owner.Source, owner.URL
				if owner.Title != "" {
					rec.Chunk.Title = owner.Title
				}
			case kefu.ErrorCode(err) != kefu.ENOTFOUND: // every referrer has a record; none keeps the old values
				return err
			}
			if err := putJSON(cb, []byte(key), rec); err != nil {
				return err
			}
			ch.put(keywordDoc(&rec.Chunk))
			ch.attrs[rec.Label] = attrOf(&rec.Chunk)
			continue
		}
		for _, bk := range [][]byte{bucketChunks, bucketVecs} {
			if err := b.Bucket(bk).Delete([]byte(key)); err != nil {
				return err
			}
		}
		if err := b.Bucket(bucketAttrs).Delete(u32key(rec.Label)); err != nil {
			return err
		}
		ch.del(key)
		delete(ch.attrs, rec.Label) // set when another document let go earlier in this change
		ch.freed = append(ch.freed, rec.Label)
	}
	return nil
}

// ref makes doc hold the chunk with this key, storing it when it is new.
func (st *kbState) ref(b *bolt.Bucket, ch *change, doc *kefu.Document, key string, c kefu.Chunk, vecs [][]float32) error {
	cb := b.Bucket(bucketChunks)
	c.ID, c.Hash = key, key
	if c.Source == "" {
		c.Source = doc.Source
	}
	if c.URL == "" {
		c.URL = doc.URL
	}
	rec, err := getChunk(cb, key)
	switch {
	case err == nil:
		if !slices.Contains(rec.Refs, doc.ID) {
			rec.Refs = append(rec.Refs, doc.ID)
		}
		if rec.Refs[0] == doc.ID {
			// The owner's new version: refresh position and metadata.
			c.DocID = doc.ID
			rec.Chunk = c
			ch.put(keywordDoc(&c))
			ch.attrs[rec.Label] = attrOf(&c)
		}
	case kefu.ErrorCode(err) == kefu.ENOTFOUND:
		c.DocID = doc.ID
		label, err := st.allocLabel(b, ch)
		if err != nil {
			return err
		}
		rec = &chunkRecord{Chunk: c, Refs: []string{doc.ID}, Label: label}
		if err := b.Bucket(bucketVecs).Put([]byte(key), encodeVectors(vecs)); err != nil {
			return err
		}
		ch.put(keywordDoc(&c))
		ch.added[label] = vecs
		ch.attrs[label] = attrOf(&c)
	default:
		return err
	}
	ch.docs[doc.ID] = append(ch.docs[doc.ID], rec.Label)
	return putJSON(cb, []byte(key), rec)
}

// writeAttrs stores the attributes the change touched.
func (ch *change) writeAttrs(b *bolt.Bucket) error {
	ab := b.Bucket(bucketAttrs)
	for l, a := range ch.attrs {
		if err := putJSON(ab, u32key(l), a); err != nil {
			return err
		}
	}
	return nil
}

// allocLabel hands out a label freed by an earlier change, else a new one.
// The counter lives in bbolt so labels stay unique across restarts; labels
// freed by this change are reused only by later ones, so a label never holds
// two chunks' vectors within one change.
func (st *kbState) allocLabel(b *bolt.Bucket, ch *change) (uint32, error) {
	for ch.freeUsed < len(st.free) {
		l := st.free[len(st.free)-1-ch.freeUsed]
		ch.freeUsed++
		if int(l) < len(st.attrs) && st.attrs[l].Key == "" {
			return l, nil
		}
	}
	meta := b.Bucket(bucketMeta)
	next := uint32(len(st.attrs))
	if v := meta.Get([]byte("next_label")); v != nil {
		n, err := strconv.ParseUint(string(v), 10, 32)
		if err != nil {
			return 0, err
		}
		next = max(next, uint32(n))
	}
	if next == ^uint32(0) {
		return 0, kefu.Errorf(kefu.ETOOLARGE, "knowledge base is out of chunk labels")
	}
	return next, meta.Put([]byte("next_label"), []byte(strconv.FormatUint(uint64(next+1), 10)))
}

func bumpVersion(tx *bolt.Tx, kb *kefu.KB, ch *change) error {
	kb.Version++
	kb.UpdatedAt = time.Now().UTC()
	ch.version = kb.Version
	return putJSON(tx.Bucket(bucketKBs), []byte(kb.Name), kb)
}

// apply brings the derived indexes in line with a committed change. A
// keyword index that fails to take the change is rebuilt from bbolt.
func (st *kbState) apply(ch *change) error {
	st.version = ch.version
	meta := st.keywordMeta()
	puts := make([]keyword.Doc, 0, len(ch.puts))
	for _, d := range ch.puts {
		puts = append(puts, d)
	}
	dels := make([]string, 0, len(ch.deletes))
	for k := range ch.deletes {
		dels = append(dels, k)
	}
	kwErr := st.kw.Apply(puts, dels, meta)

	st.free = st.free[:len(st.free)-ch.freeUsed]
	for _, l := range ch.freed {
		if st.vec != nil {
			st.vec.Delete(l)
		}
		if int(l) < len(st.attrs) {
			delete(st.labelOf, st.attrs[l].Key)
			st.attrs[l] = labelAttr{}
		}
		st.free = append(st.free, l)
	}
	for l, a := range ch.attrs {
		if a.Key != "" {
			st.setAttr(l, a)
		}
	}
	var vecErr error
	if st.vec == nil && len(ch.added) > 0 {
		// The first vectors set the dimension; the rebuild reads them
		// from bbolt, this change's included.
		vecErr = st.rebuildVectors()
	} else {
		for l, vs := range ch.added {
			if err := st.vec.Add(l, vs...); err != nil && vecErr == nil {
				vecErr = err
			}
		}
	}
	if len(ch.added) > 0 || len(ch.freed) > 0 {
		st.vecDirty = true
	}
	// A freed label belonged to the touched documents alone, so replacing
	// their lists is all the per-document bookkeeping there is.
	for d, labels := range ch.docs {
		delete(st.docLabels, d)
		if len(labels) > 0 {
			st.docLabels[d] = labels
		}
	}
	st.version = ch.version

	if kwErr != nil {
		st.s.log.Error("keyword index update failed, rebuilding", "kb", st.name, "err", kwErr)
		if err := st.rebuildKeyword(); err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "keyword index of %q: %w", st.name, err)
		}
	}
	if vecErr != nil {
		st.s.log.Error("vector index update failed, rebuilding", "kb", st.name, "err", vecErr)
		if err := st.rebuildVectors(); err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "vector index of %q: %w", st.name, err)
		}
	}
	return nil
}

func attrOf(c *kefu.Chunk) labelAttr {
	return labelAttr{Key: c.ID, Doc: c.DocID, Kind: c.Kind, Lang: c.Lang, Category: c.Category, Meta: c.Meta}
}

// Document returns one document.
func (s *Store) Document(ctx context.Context, kb, docID string) (*kefu.Document, error) {
	var d *kefu.Document
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(kb))
		if b == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
		}
		var err error
		d, err = getDoc(b, docID)
		return err
	})
	return d, err
}

// Documents lists a KB's documents by id.
func (s *Store) Documents(ctx context.Context, kb string) ([]*kefu.Document, error) {
	var out []*kefu.Document
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(kb))
		if b == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
		}
		return b.Bucket(bucketDocs).ForEach(func(k, v []byte) error {
			d := new(kefu.Document)
			if err := json.Unmarshal(v, d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// Chunks returns a document's chunks in order.
func (s *Store) Chunks(ctx context.Context, kb, docID string) ([]*kefu.Chunk, error) {
	var out []*kefu.Chunk
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(kb))
		if b == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
		}
		if b.Bucket(bucketDocs).Get([]byte(docID)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "document %q not found in %q", docID, kb)
		}
		keys, err := docKeys(b, docID)
		if err != nil {
			return err
		}
		for seq, key := range keys {
			rec, err := getChunk(b.Bucket(bucketChunks), key)
			if err != nil {
				return err
			}
			c := rec.Chunk
			c.DocID, c.Seq = docID, seq
			out = append(out, &c)
		}
		return nil
	})
	return out, err
}

// KnownVectors returns the stored vectors of chunks by content hash.
func (s *Store) KnownVectors(ctx context.Context, kb string, hashes []string) (map[string][][]float32, error) {
	out := map[string][][]float32{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(kb))
		if b == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
		}
		vb := b.Bucket(bucketVecs)
		for _, h := range hashes {
			if v := vb.Get([]byte(h)); v != nil {
				vs, err := decodeVectors(v)
				if err != nil {
					return err
				}
				out[h] = vs
			}
		}
		return nil
	})
	return out, err
}

func docKeys(b *bolt.Bucket, docID string) ([]string, error) {
	v := b.Bucket(bucketDocChunks).Get([]byte(docID))
	if v == nil {
		return nil, nil
	}
	var keys []string
	return keys, json.Unmarshal(v, &keys)
}

func getDoc(b *bolt.Bucket, docID string) (*kefu.Document, error) {
	v := b.Bucket(bucketDocs).Get([]byte(docID))
	if v == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "document %q not found", docID)
	}
	d := new(kefu.Document)
	return d, json.Unmarshal(v, d)
}

func getChunk(b *bolt.Bucket, key string) (*chunkRecord, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "chunk %q not found", key)
	}
	rec := new(chunkRecord)
	return rec, json.Unmarshal(v, rec)
}

func wrapInternal(err error, format string, args ...any) error {
	if kefu.ErrorCode(err) != kefu.EINTERNAL {
		return err
	}
	return kefu.Errorf(kefu.EINTERNAL, "%s: %w", fmt.Sprintf(format, args...), err)
}
