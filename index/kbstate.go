package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
	"github.com/kefu-dev/kefu/index/vector"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

// kbState is one KB's derived indexes and the in-memory label tables that
// map vector labels to chunks and back. mu serialises writers against
// searches: a search holds the read lock for both sides, a document update
// holds the write lock while it changes both indexes, so a search sees a
// document's old chunks or its new ones, never a mix.
type kbState struct {
	mu      sync.RWMutex
	s       *Store
	name    string
	version uint64 // the KB version both indexes reflect
	dim     int

	kw  *keyword.Index
	vec *vector.Index

	attrs     []labelAttr         // label → attributes; Key "" for a free label
	labelOf   map[string]uint32   // chunk key → label
	docLabels map[string][]uint32 // doc id → labels of the chunks it owns or shares
	free      []uint32            // freed labels, reused first

	vecDirty bool // the snapshot on disk lags behind
	deleted  bool
}

func (st *kbState) keywordDir() string { return filepath.Join(st.s.kbDir(st.name), "keyword") }
func (st *kbState) vectorPath() string { return filepath.Join(st.s.kbDir(st.name), "vectors.kvec") }

// loadKB opens a KB's indexes, rebuilding whichever lags behind bbolt.
func (s *Store) loadKB(kb *kefu.KB) (*kbState, error) {
	st := &kbState{s: s, name: kb.Name, version: kb.Version, dim: kb.Dim,
		labelOf: map[string]uint32{}, docLabels: map[string][]uint32{}}
	if err := os.MkdirAll(s.kbDir(kb.Name), 0o755); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := st.loadAttrs(); err != nil {
		return nil, err
	}
	var err error
	if st.kw, err = keyword.Open(st.keywordDir(), s.opts.Keyword); errors.Is(err, keyword.ErrInUse) {
		return nil, kefu.Errorf(kefu.ECONFLICT, "keyword index of %q is in use by another process", kb.Name)
	} else if err != nil {
		// A keyword index that cannot be opened is derived data: rebuild it.
		s.log.Warn("keyword index unreadable, rebuilding", "kb", kb.Name, "err", err)
		if err := os.RemoveAll(st.keywordDir()); err != nil {
			return nil, err
		}
		if st.kw, err = keyword.Open(st.keywordDir(), s.opts.Keyword); err != nil {
			return nil, err
		}
	}
	v, _ := st.kw.Meta("version")
	av, _ := st.kw.Meta("analyzer_version")
	if v == "" && len(st.labelOf) == 0 {
		// A new KB: nothing to rebuild, only the metadata to write.
		if err := st.kw.Apply(nil, nil, st.keywordMeta()); err != nil {
			return nil, err
		}
	} else if v != strconv.FormatUint(kb.Version, 10) || av != keyword.AnalyzerVersion {
		s.log.Info("keyword index behind the store or built by another analyzer, rebuilding", "kb", kb.Name,
			"index_version", v, "store_version", kb.Version, "analyzer", av, "want_analyzer", keyword.AnalyzerVersion)
		if err := st.rebuildKeyword(); err != nil {
			return nil, err
		}
	}
	if err := st.loadVectors(); err != nil {
		return nil, err
	}
	if err := st.setLexicon(&kb.Settings); err != nil {
		return nil, err
	}
	s.log.Debug("knowledge base loaded", "kb", kb.Name, "chunks", len(st.labelOf), "vectors", st.vectors(), "ms", time.Since(t0).Milliseconds())
	return st, nil
}

func (st *kbState) vectorOptions() vector.Options {
	o := st.s.opts.Vector
	o.Dim = st.dim
	return o
}

func (st *kbState) loadAttrs() error {
	return st.s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(st.name)).Bucket(bucketAttrs)
		return b.ForEach(func(k, v []byte) error {
			label := binary.BigEndian.Uint32(k)
			var a labelAttr
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("label %d: %w", label, err)
			}
			st.setAttr(label, a)
			return nil
		})
	})
}

func (st *kbState) setAttr(label uint32, a labelAttr) {
	for uint32(len(st.attrs)) <= label {
		st.attrs = append(st.attrs, labelAttr{})
	}
	st.attrs[label] = a
	st.labelOf[a.Key] = label
}

// rebuildFreeList recomputes the free labels and per-document labels after
// the attribute table changed wholesale.
func (st *kbState) rebuildTables(refs map[string][]string) {
	st.free = st.free[:0]
	st.docLabels = map[string][]uint32{}
	for l, a := range st.attrs {
		if a.Key == "" {
			st.free = append(st.free, uint32(l))
			continue
		}
		for _, d := range refs[a.Key] {
			st.docLabels[d] = append(st.docLabels[d], uint32(l))
		}
	}
}

// loadVectors loads the vector snapshot when it matches the store's version,
// else rebuilds the vector index from bbolt; it also fills docLabels.
func (st *kbState) loadVectors() error {
	refs := map[string][]string{}
	err := st.s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(kbBucket(st.name)).Bucket(bucketDocChunks).ForEach(func(k, v []byte) error {
			var keys []string
			if err := json.Unmarshal(v, &keys); err != nil {
				return err
			}
			for _, key := range keys {
				refs[key] = append(refs[key], string(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	st.rebuildTables(refs)
	if st.dim == 0 {
		return nil // no vectors yet: the index is made with the first ones
	}
	if ix, err := vector.Load(st.vectorPath(), st.vectorOptions()); err == nil {
		if v, err := readSnapshotVersion(st.vectorPath() + ".version"); err == nil && v == st.version {
			st.vec = ix
			return nil
		}
		ix.Close() // stale: it may have started a graph build of its own
	} else if !errors.Is(err, os.ErrNotExist) {
		st.s.log.Warn("vector snapshot unreadable, rebuilding", "kb", st.name, "err", err)
	}
	return st.rebuildVectors()
}

func (st *kbState) rebuildVectors() error {
	if st.vec != nil {
		st.vec.Close()
	}
	if st.dim == 0 {
		st.vec = nil
		return nil
	}
	ix, err := vector.New(st.vectorOptions())
	if err != nil {
		return err
	}
	err = st.s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(st.name)).Bucket(bucketVecs)
		return b.ForEach(func(k, v []byte) error {
			label, ok := st.labelOf[string(k)]
			if !ok {
				return nil
			}
			vs, err := decodeVectors(v)
			if err != nil {
				return fmt.Errorf("chunk %s: %w", k, err)
			}
			return ix.Add(label, vs...)
		})
	})
	if err != nil {
		ix.Close()
		st.vec = nil
		return err
	}
	st.vec = ix
	st.vecDirty = true
	return nil
}

// rebuildKeyword re-indexes every chunk from bbolt into a fresh keyword index.
func (st *kbState) rebuildKeyword() error {
	if st.kw != nil {
		st.kw.Close()
	}
	if err := os.RemoveAll(st.keywordDir()); err != nil {
		return err
	}
	kw, err := keyword.Open(st.keywordDir(), st.s.opts.Keyword)
	if err != nil {
		return err
	}
	st.kw = kw
	const batch = 2000
	var puts []keyword.Doc
	flush := func(meta map[string]string) error {
		err := st.kw.Apply(puts, nil, meta)
		puts = puts[:0]
		return err
	}
	err = st.s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(kbBucket(st.name)).Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			var rec chunkRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			puts = append(puts, keywordDoc(&rec.Chunk))
			if len(puts) >= batch {
				return flush(nil)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return flush(st.keywordMeta())
}

// saveVectors writes the vector snapshot and the version it reflects.
func (st *kbState) saveVectors() error {
	if !st.vecDirty || st.deleted {
		return nil
	}
	if st.vec == nil {
		st.vecDirty = false
		return nil
	}
	if st.vec.Len() == 0 {
		os.Remove(st.vectorPath())
		os.Remove(st.vectorPath() + ".version")
		st.vecDirty = false
		return nil
	}
	if err := st.vec.Save(st.vectorPath()); err != nil {
		return err
	}
	if err := writeSnapshotVersion(st.vectorPath()+".version", st.version); err != nil {
		return err
	}
	st.vecDirty = false
	return nil
}

func (st *kbState) close() error {
	if st.vec != nil {
		st.vec.Close() // stops a graph build in progress
	}
	if st.kw == nil {
		return nil
	}
	err := st.kw.Close()
	st.kw = nil
	return err
}

// keywordDoc is what the keyword index holds of a chunk.
func keywordDoc(c *kefu.Chunk) keyword.Doc { return keyword.FromChunk(c) }

// keywordMeta is the metadata written with every keyword batch: the KB
// version and the analyzer the index reflects.
func (st *kbState) keywordMeta() map[string]string {
	return map[string]string{"version": strconv.FormatUint(st.version, 10), "analyzer_version": keyword.AnalyzerVersion}
}

// The snapshot's version lives in a small side file written after the
// snapshot itself: a crash between the two leaves an old version number, so
// the next start rebuilds rather than trusting a snapshot it cannot date.
func readSnapshotVersion(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func writeSnapshotVersion(path string, v uint64) error {
	return atomicfile.WriteFile(path, strconv.AppendUint(nil, v, 10), 0o600)
}

// setVersion records a committed change that touched neither index (a KB's
// settings): both indexes are told the new version, so the next start does
// not take them for stale and rebuild them.
func (st *kbState) setVersion(v uint64) error {
	st.version = v
	if st.vec != nil && !st.vecDirty && st.vec.Len() > 0 {
		if err := writeSnapshotVersion(st.vectorPath()+".version", v); err != nil {
			return err
		}
	}
	return st.kw.Apply(nil, nil, st.keywordMeta())
}

// vectors returns the number of live vectors.
func (st *kbState) vectors() int {
	if st.vec == nil {
		return 0
	}
	return st.vec.Len()
}

// waitGraph waits up to d for a vector graph build in progress, so the
// snapshot saved next holds the graph.
func (st *kbState) waitGraph(d time.Duration) {
	if st.vec == nil || !st.vec.Building() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := st.vec.WaitBuilt(ctx); err != nil {
		st.s.log.Warn("vector graph still building at close; the next start builds it again", "kb", st.name)
	}
}

// setLexicon gives the keyword index the synonym rules of the KB's settings.
func (st *kbState) setLexicon(set *kefu.KBSettings) error {
	rules, err := keyword.SettingsRules(set)
	if err != nil {
		return err
	}
	st.kw.SetLexicon(rules)
	return nil
}
