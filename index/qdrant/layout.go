package qdrant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
)

// Vector names in a KB's chunk collection.
const (
	denseVector  = "dense"
	sparseVector = "bm25"
)

// Payload keys.
const (
	keyKB      = "kb"       // docs: the KB (tenant index)
	keyDocID   = "doc_id"   // docs: the document id
	keyRecord  = "record"   // kbs, docs, chunks: the JSON of the kefu record
	keyFrom    = "v_from"   // docs, chunks: the KB version the point appears in
	keyTo      = "v_to"     // docs, chunks: the KB version the point is gone in
	keyHash    = "hash"     // chunks: content hash, the chunk's id in kefu
	keyRefs    = "refs"     // chunks: the documents that hold it, owner first
	keyKind    = "kind"     // chunks
	keyMetaKV  = "meta_kv"  // chunks: "key\x00value" of lang, category and Meta
	keyTerms   = "terms"    // chunks: distinct analysed terms (facets: document frequencies)
	keyFields  = "fields"   // chunks: analysed fields, terms space-separated, fields by "\n"
	keyVectors = "nvectors" // chunks: vectors of the multivector
	// keyMatch is keyHit, then the distinct terms of the chunk's heading
	// fields and of its body in a compact form (matchValue): all a search
	// reads of a keyword hit, which sets its term masks and coverage, in
	// one payload value. Its terms are about half of keyFields, which
	// holds every term with its repeats and marks each character term;
	// keyFields was two thirds of a search's response.
	keyMatch = "match"
	// keyHit is the hash, the owner and the kind of a chunk in one string:
	// all a search reads of a vector hit, so a response carries one
	// payload value a hit instead of four (decoding them was most of a
	// search's protobuf time).
	keyHit = "hit"
)

// hitValue is keyHit's value for a chunk.
func hitValue(hash, owner string, kind kefu.ChunkKind) string {
	return hash + "\n" + owner + "\n" + string(kind)
}

// matchValue is keyMatch's value for a chunk: its keyHit, then four
// lines of its analysed fields' terms: the heading fields' words
// (space-separated) and characters (keyword.Mark's single-character terms
// without the mark, one after the other), then the body's; each term
// once. Other marked terms (bigrams) are words with their mark.
func matchValue(hit string, f *keyword.Fields) string {
	var head, body [2][]byte
	seen := map[string]bool{}
	for i, ts := range f {
		lines, side := &body, "b"
		if keyword.Head(i) {
			lines, side = &head, "h"
		}
		for _, t := range ts {
			if seen[side+t] {
				continue
			}
			seen[side+t] = true
			if _, ok := markedChar(t); ok {
				lines[1] = append(lines[1], t[len(keyword.Mark):]...)
				continue
			}
			if len(lines[0]) > 0 {
				lines[0] = append(lines[0], ' ')
			}
			lines[0] = append(lines[0], t...)
		}
	}
	return hit + "\n" + string(head[0]) + "\n" + string(head[1]) + "\n" + string(body[0]) + "\n" + string(body[1])
}

// markedChar reports the character of a single-character term
// (keyword.Mark and one valid character).
func markedChar(t string) (rune, bool) {
	c, ok := strings.CutPrefix(t, keyword.Mark)
	r, n := utf8.DecodeRuneInString(c)
	return r, ok && n == len(c) && r != utf8.RuneError
}

// eachMatch calls word with every word of a matchValue and char with
// every character (a term keyword.Mark+string(c)), and whether they are of
// the heading fields, without copying any.
func eachMatch(s string, word func(head bool, t string), char func(head bool, c rune)) {
	for range 3 { // keyHit's lines
		_, s, _ = strings.Cut(s, "\n")
	}
	for i := 0; i < 4; i++ {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		head := i < 2
		if i%2 == 0 {
			for t := range strings.SplitSeq(line, " ") {
				if t != "" {
					word(head, t)
				}
			}
			continue
		}
		for _, c := range line {
			char(head, c)
		}
	}
}

// hit is what a search reads of a hit's payload.
type hit struct {
	hash, owner string
	kind        kefu.ChunkKind
}

// hitOf reads a hit's keyMatch or keyHit, or for a point written before
// keyHit existed its hash, refs and kind.
func hitOf(p map[string]*qdrant.Value) hit {
	v, has := p[keyMatch]
	if !has {
		v, has = p[keyHit]
	}
	if has {
		hash, rest, _ := strings.Cut(v.GetStringValue(), "\n")
		owner, rest, _ := strings.Cut(rest, "\n")
		kind, _, _ := strings.Cut(rest, "\n")
		return hit{hash: hash, owner: owner, kind: kefu.ChunkKind(kind)}
	}
	h := hit{hash: p[keyHash].GetStringValue(), kind: kefu.ChunkKind(p[keyKind].GetStringValue())}
	if refs := p[keyRefs].GetListValue().GetValues(); len(refs) > 0 {
		h.owner = refs[0].GetStringValue()
	}
	return h
}

// pointID derives a stable UUID from parts, so every write is idempotent.
func pointID(parts ...string) *qdrant.PointId {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 layout
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return qdrant.NewID(x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32])
}

func kbPointID(name string) *qdrant.PointId { return pointID("kb", name) }
func docPointID(kb, doc string, v uint64) *qdrant.PointId {
	return pointID("doc", kb, doc, strconv.FormatUint(v, 10))
}
func chunkPointID(hash string, v uint64) *qdrant.PointId {
	return pointID("chunk", hash, strconv.FormatUint(v, 10))
}

// termIndex is a term's dimension in the sparse vectors. Two terms of one
// KB that collide share a dimension (about one pair in 10^5-term
// vocabularies): their document frequencies add up in the idf, as in
// Qdrant's own BM25 with murmur3.
func termIndex(term string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(term))
	return h.Sum32()
}

func metaKV(k, v string) string { return k + "\x00" + v }

// visible is the filter of the points a search at version v sees.
func visible(v uint64) *qdrant.Filter {
	fv := float64(v)
	return &qdrant.Filter{
		Must:    []*qdrant.Condition{qdrant.NewRange(keyFrom, &qdrant.Range{Lte: &fv})},
		MustNot: []*qdrant.Condition{qdrant.NewRange(keyTo, &qdrant.Range{Lte: &fv})},
	}
}

// withFilter adds a kefu filter's conditions to f.
func withFilter(f *qdrant.Filter, kf *kefu.Filter) *qdrant.Filter {
	if kf.Empty() {
		return f
	}
	if len(kf.DocIDs) > 0 {
		f.Must = append(f.Must, qdrant.NewMatchKeywords(keyRefs, kf.DocIDs...))
	}
	if len(kf.Kinds) > 0 {
		ks := make([]string, len(kf.Kinds))
		for i, k := range kf.Kinds {
			ks[i] = string(k)
		}
		f.Must = append(f.Must, qdrant.NewMatchKeywords(keyKind, ks...))
	}
	for k, v := range kf.Meta {
		f.Must = append(f.Must, qdrant.NewMatchKeyword(keyMetaKV, metaKV(k, v)))
	}
	return f
}

// kbRecord is what the kbs collection holds of a KB.
type kbRecord struct {
	KB kefu.KB `json:"kb"`
	// ID names this incarnation of the KB: its documents' tenant and its
	// collections, so a KB created under the name of one being deleted
	// never meets the old one's points.
	ID string `json:"id"`
	// Collection holds the KB's chunks; "" until the first vectors give
	// its dimension. Generation numbers its collections.
	Collection string `json:"collection"`
	Generation int    `json:"generation"`
	Stats      stats  `json:"stats"`
	// WeightAvg are the field averages the stored sparse weights use.
	WeightAvg [keyword.NumFields]float64 `json:"weight_avg"`
	// Retired lists the versions whose replaced points are still stored,
	// for searches that read an older version; they go RetireGrace after.
	Retired []retirement `json:"retired,omitempty"`
	// Dropped are collections to delete RetireGrace after At (re-embedding).
	Dropped []retirement `json:"dropped,omitempty"`
}

// retirement is a commit that left replaced points (or a collection).
type retirement struct {
	Version    uint64    `json:"version"`
	At         time.Time `json:"at"`
	Collection string    `json:"collection,omitempty"`
}

// stats are a KB's counts, kept with its record and committed with it.
type stats struct {
	Documents int                      `json:"documents"`
	Chunks    int                      `json:"chunks"`
	Vectors   int                      `json:"vectors"`
	Bytes     int64                    `json:"bytes"`
	FieldDocs [keyword.NumFields]int64 `json:"field_docs"` // chunks with each text field
	FieldSum  [keyword.NumFields]int64 `json:"field_sum"`  // their analysed lengths
}

func (st *stats) avg() [keyword.NumFields]float64 {
	var a [keyword.NumFields]float64
	for i := range a {
		if st.FieldDocs[i] > 0 {
			a[i] = float64(st.FieldSum[i]) / float64(st.FieldDocs[i])
		}
	}
	return a
}

func (st *stats) add(f *keyword.Fields, sign int64) {
	for i, ts := range f {
		if len(ts) > 0 {
			st.FieldDocs[i] += sign
			st.FieldSum[i] += sign * int64(len(ts))
		}
	}
}

// chunkState is a chunk as stored: the record, its references and its
// analysed fields.
type chunkState struct {
	id     *qdrant.PointId
	chunk  kefu.Chunk
	refs   []string
	fields keyword.Fields
	nvec   int
	from   uint64
}

func encodeFields(f *keyword.Fields) string {
	var b []byte
	for i, ts := range f {
		if i > 0 {
			b = append(b, '\n')
		}
		for j, t := range ts {
			if j > 0 {
				b = append(b, ' ')
			}
			b = append(b, t...)
		}
	}
	return string(b)
}

func decodeFields(s string) keyword.Fields {
	var f keyword.Fields
	i := 0
	start := 0
	for j := 0; j <= len(s) && i < keyword.NumFields; j++ {
		if j == len(s) || s[j] == '\n' {
			f[i] = splitSpaces(s[start:j])
			i++
			start = j + 1
		}
	}
	return f
}

// eachTerm calls fn with every term of encoded fields (encodeFields) and
// the number of its field, as decodeFields would give them, without
// copying any.
func eachTerm(s string, fn func(field int, term string)) {
	if s == "" {
		return
	}
	field := 0
	for line := range strings.SplitSeq(s, "\n") {
		if field == keyword.NumFields {
			return
		}
		if line != "" {
			for t := range strings.SplitSeq(line, " ") {
				fn(field, t)
			}
		}
		field++
	}
}

func splitSpaces(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for j := 0; j <= len(s); j++ {
		if j == len(s) || s[j] == ' ' {
			out = append(out, s[start:j])
			start = j + 1
		}
	}
	return out
}

// termsOf lists the distinct terms of a chunk's fields: its "terms"
// payload, whose facet counts are the document frequencies.
func termsOf(f *keyword.Fields) []string {
	seen := map[string]bool{}
	var out []string
	for _, ts := range f {
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// chunkPayload is what the chunk collection holds of a chunk.
func chunkPayload(cs *chunkState, v uint64) map[string]*qdrant.Value {
	rec, _ := json.Marshal(&cs.chunk)
	kv := []any{}
	if cs.chunk.Lang != "" {
		kv = append(kv, metaKV("lang", cs.chunk.Lang))
	}
	if cs.chunk.Category != "" {
		kv = append(kv, metaKV("category", cs.chunk.Category))
	}
	for k, val := range cs.chunk.Meta {
		kv = append(kv, metaKV(k, val))
	}
	terms := []any{}
	for _, t := range termsOf(&cs.fields) {
		terms = append(terms, t)
	}
	refs := make([]any, len(cs.refs))
	for i, r := range cs.refs {
		refs[i] = r
	}
	owner := ""
	if len(cs.refs) > 0 {
		owner = cs.refs[0]
	}
	hit := hitValue(cs.chunk.ID, owner, cs.chunk.Kind)
	return qdrant.NewValueMap(map[string]any{
		keyRecord: string(rec), keyHash: cs.chunk.ID, keyRefs: refs, keyKind: string(cs.chunk.Kind), keyMetaKV: kv,
		keyTerms: terms, keyFields: encodeFields(&cs.fields), keyVectors: int64(cs.nvec), keyFrom: int64(v),
		keyHit: hit, keyMatch: matchValue(hit, &cs.fields),
	})
}

// decodeChunk reads a chunk point's payload.
func decodeChunk(id *qdrant.PointId, p map[string]*qdrant.Value) (*chunkState, error) {
	cs := &chunkState{id: id}
	if err := json.Unmarshal([]byte(p[keyRecord].GetStringValue()), &cs.chunk); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "qdrant: chunk point %s: %v", id.GetUuid(), err)
	}
	for _, r := range p[keyRefs].GetListValue().GetValues() {
		cs.refs = append(cs.refs, r.GetStringValue())
	}
	cs.fields = decodeFields(p[keyFields].GetStringValue())
	cs.nvec = int(p[keyVectors].GetIntegerValue())
	cs.from = uint64(p[keyFrom].GetIntegerValue())
	return cs, nil
}

// sparseOf is a chunk's sparse vector: its BM25F weights by term index.
func sparseOf(an *keyword.Analysis, f *keyword.Fields, avg [keyword.NumFields]float64) *qdrant.Vector {
	w := an.Weights(f, avg)
	byIx := make(map[uint32]float32, len(w))
	for t, x := range w {
		byIx[termIndex(t)] += float32(x)
	}
	ix := make([]uint32, 0, len(byIx))
	vals := make([]float32, 0, len(byIx))
	for i, x := range byIx {
		ix = append(ix, i)
		vals = append(vals, x)
	}
	return qdrant.NewVectorSparse(ix, vals)
}

// ensureMeta creates the kbs and docs collections and their indexes.
func (s *Store) ensureMeta(ctx context.Context) error {
	for _, col := range []string{s.kbsCol, s.docsCol} {
		if err := s.ensureCollection(ctx, &qdrant.CreateCollection{CollectionName: col, VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{})}); err != nil {
			return err
		}
	}
	tenant := true
	if err := s.index(ctx, s.docsCol, keyKB, qdrant.FieldType_FieldTypeKeyword, &tenant); err != nil {
		return err
	}
	for _, k := range []string{keyDocID} {
		if err := s.index(ctx, s.docsCol, k, qdrant.FieldType_FieldTypeKeyword, nil); err != nil {
			return err
		}
	}
	for _, k := range []string{keyFrom, keyTo} {
		if err := s.index(ctx, s.docsCol, k, qdrant.FieldType_FieldTypeInteger, nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ensureCollection(ctx context.Context, req *qdrant.CreateCollection) error {
	var exists bool
	if err := s.call(ctx, "collection exists", func(ctx context.Context) (err error) {
		exists, err = s.client.CollectionExists(ctx, req.CollectionName)
		return err
	}); err != nil || exists {
		return err
	}
	return s.call(ctx, "create collection", func(ctx context.Context) error {
		err := s.client.CreateCollection(ctx, req)
		if err != nil {
			// A retry after a create that did land finds it there.
			if ok, e2 := s.client.CollectionExists(ctx, req.CollectionName); e2 == nil && ok {
				return nil
			}
		}
		return err
	})
}

func (s *Store) index(ctx context.Context, col, field string, t qdrant.FieldType, tenant *bool) error {
	req := &qdrant.CreateFieldIndexCollection{CollectionName: col, FieldName: field, FieldType: &t, Wait: ptr(true)}
	if tenant != nil {
		req.FieldIndexParams = qdrant.NewPayloadIndexParamsKeyword(&qdrant.KeywordIndexParams{IsTenant: tenant})
	}
	return s.call(ctx, "create payload index", func(ctx context.Context) error {
		_, err := s.client.CreateFieldIndex(ctx, req)
		return err
	})
}

// createChunks creates a KB's chunk collection for vectors of dim.
func (s *Store) createChunks(ctx context.Context, name string, dim int) error {
	idf := qdrant.Modifier_Idf
	err := s.ensureCollection(ctx, &qdrant.CreateCollection{
		CollectionName: name,
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{denseVector: {
			Size: uint64(dim), Distance: qdrant.Distance_Cosine,
			MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim},
		}}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{sparseVector: {Modifier: &idf}}),
	})
	if err != nil {
		return err
	}
	for _, k := range []string{keyHash, keyRefs, keyKind, keyMetaKV, keyTerms} {
		if err := s.index(ctx, name, k, qdrant.FieldType_FieldTypeKeyword, nil); err != nil {
			return err
		}
	}
	for _, k := range []string{keyFrom, keyTo} {
		if err := s.index(ctx, name, k, qdrant.FieldType_FieldTypeInteger, nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) chunksName(rec *kbRecord, gen int) string {
	return s.opts.Prefix + "_kb_" + rec.ID + "_" + strconv.Itoa(gen)
}

func ptr[T any](v T) *T { return &v }
