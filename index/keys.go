package index

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
)

var (
	bucketKeys      = []byte("api_keys")       // key id → keyRecord JSON
	bucketKeyHashes = []byte("api_key_hashes") // secret hash → key id
)

var _ kefu.KeyStore = (*Store)(nil)

type keyRecord struct {
	kefu.Key
	Hash string `json:"hash"`
}

// CreateKey stores an API key by the hash of its secret.
func (s *Store) CreateKey(ctx context.Context, k *kefu.Key) error {
	if k.ID == "" || len(k.Hash) != 64 || !kefu.ValidScope(k.Scope) {
		return kefu.Errorf(kefu.EINVALID, "a key needs an id, a sha256 hash and a scope (admin, ingest or query)")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		kb, err := tx.CreateBucketIfNotExists(bucketKeys)
		if err != nil {
			return err
		}
		hb, err := tx.CreateBucketIfNotExists(bucketKeyHashes)
		if err != nil {
			return err
		}
		if kb.Get([]byte(k.ID)) != nil || hb.Get([]byte(k.Hash)) != nil {
			return kefu.Errorf(kefu.ECONFLICT, "key %q exists", k.ID)
		}
		if err := putJSON(kb, []byte(k.ID), keyRecord{*k, k.Hash}); err != nil {
			return err
		}
		return hb.Put([]byte(k.Hash), []byte(k.ID))
	})
}

// KeyByHash finds a key by the sha256 of its secret.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*kefu.Key, error) {
	var k *kefu.Key
	err := s.db.View(func(tx *bolt.Tx) error {
		hb, kb := tx.Bucket(bucketKeyHashes), tx.Bucket(bucketKeys)
		if hb == nil || kb == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "unknown key")
		}
		id := hb.Get([]byte(hash))
		if id == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "unknown key")
		}
		var rec keyRecord
		if err := json.Unmarshal(kb.Get(id), &rec); err != nil {
			return err
		}
		rec.Key.Hash = rec.Hash
		k = &rec.Key
		return nil
	})
	return k, err
}

// Keys lists the API keys, oldest first, without their hashes.
func (s *Store) Keys(ctx context.Context) ([]*kefu.Key, error) {
	var out []*kefu.Key
	err := s.db.View(func(tx *bolt.Tx) error {
		kb := tx.Bucket(bucketKeys)
		if kb == nil {
			return nil
		}
		return kb.ForEach(func(_, v []byte) error {
			var rec keyRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			k := rec.Key
			out = append(out, &k)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// DeleteKey revokes a key.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		kb, hb := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyHashes)
		if kb == nil || kb.Get([]byte(id)) == nil {
			return kefu.Errorf(kefu.ENOTFOUND, "key %q not found", id)
		}
		var rec keyRecord
		if err := json.Unmarshal(kb.Get([]byte(id)), &rec); err != nil {
			return err
		}
		if err := hb.Delete([]byte(rec.Hash)); err != nil {
			return err
		}
		return kb.Delete([]byte(id))
	})
}
