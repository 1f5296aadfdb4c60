package index

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
)

// Reembed replaces every vector of the KB with embed's, recording the new
// model and dimension. Searches wait while it runs; the KB is never seen
// half re-embedded, and a failure leaves the old vectors in place.
func (s *Store) Reembed(ctx context.Context, kb string, model kefu.ModelID, dim int, embed func(ctx context.Context, texts []string) ([][]float32, error)) error {
	st, err := s.state(kb)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()

	type item struct {
		key string
		n   int
	}
	var (
		items []item
		texts []string
	)
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(kbBucket(kb)).Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			var rec chunkRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			t := rec.Chunk.EmbedTexts()
			items = append(items, item{string(k), len(t)})
			texts = append(texts, t...)
			return nil
		})
	})
	if err != nil {
		return err
	}
	vecs, err := kefu.EmbedAll(ctx, kb, texts, dim, embed)
	if err != nil {
		return err
	}
	var version uint64
	err = s.db.Update(func(tx *bolt.Tx) error {
		k, err := getKB(tx, kb)
		if err != nil {
			return err
		}
		vb := tx.Bucket(kbBucket(kb)).Bucket(bucketVecs)
		off := 0
		for _, it := range items {
			if err := vb.Put([]byte(it.key), encodeVectors(vecs[off:off+it.n])); err != nil {
				return err
			}
			off += it.n
		}
		k.Model, k.Dim = model, dim
		k.Version++
		k.UpdatedAt = time.Now().UTC()
		version = k.Version
		return putJSON(tx.Bucket(bucketKBs), []byte(kb), k)
	})
	if err != nil {
		return wrapInternal(err, "re-embed %s", kb)
	}
	st.dim, st.version = dim, version
	if err := st.rebuildVectors(); err != nil {
		return err
	}
	// The keyword index is unchanged but must carry the new version.
	return st.kw.Apply(nil, nil, st.keywordMeta())
}
