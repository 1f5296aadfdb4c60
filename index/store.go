// Package index is kefu's embedded store: one bbolt file holds every KB's
// documents, chunks and vectors (the source of truth, crash-safe), and each KB
// gets a bleve keyword index (index/keyword) and an in-memory vector index
// (index/vector) derived from it. Both derived indexes carry the KB version
// they reflect; at start-up an index that lags behind (a crash between the
// bbolt commit and the index write) is rebuilt from bbolt.
//
// Layout of a data directory:
//
//	kefu.db                   bbolt: KBs, documents, chunks, vectors, answer log,
//	                          conversations (conversations.go), webhooks,
//	                          channels and the outbox (webhooks.go)
//	kbs/<name>/keyword/       bleve index
//	kbs/<name>/vectors.kvec   vector index snapshot (a cache of bbolt's vectors)
//	kbs/<name>/sources/       the bytes each document was made from
//	kbs/<name>/eval/          the KB's latest evaluation report (ReportStore)
//
// Store implements kefu.Store, AnswerLog, KeyStore, SourceStore,
// ReportStore, ConversationStore, WebhookStore and ChannelStore; no other
// package reads these files. The package imports
// the root, its own keyword and vector indexes and internal/atomicfile,
// never another stage.
package index

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
	"github.com/kefu-dev/kefu/index/vector"
)

// Options configure the store.
type Options struct {
	Vector  vector.Options  // Dim is taken from each KB
	Keyword keyword.Options // analyzer and BM25 settings
	Logger  *slog.Logger
	// AnswerLogLimit bounds the answers kept per KB (default 100k); the
	// oldest go first.
	AnswerLogLimit int
	// RetryFor is how long a failing webhook delivery is retried before it
	// goes dead (default DefaultRetryFor); DeliveryRetention how long
	// finished deliveries stay in the log (default DefaultDeliveryRetention).
	RetryFor          time.Duration
	DeliveryRetention time.Duration
	// ExternalKBs says another store (Qdrant) holds the KBs: sources and
	// reports are kept here for any KB name (see external.go).
	ExternalKBs bool
}

// Store implements kefu.Store and kefu.AnswerLog on a data directory.
type Store struct {
	dir  string
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu  sync.Mutex // guards kbs
	kbs map[string]*kbState

	commits *groupCommit // conversation writes and enqueued events
}

var (
	_ kefu.Store     = (*Store)(nil)
	_ kefu.AnswerLog = (*Store)(nil)
)

// Open opens or creates the store in dir. Only one process may hold a data
// directory at a time.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AnswerLogLimit <= 0 {
		opts.AnswerLogLimit = 100_000
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = DefaultRetryFor
	}
	if opts.DeliveryRetention <= 0 {
		opts.DeliveryRetention = DefaultDeliveryRetention
	}
	if opts.Vector.Workers <= 0 {
		// Graph builds run in the background beside searches: leave them
		// half the cores.
		opts.Vector.Workers = max(1, runtime.NumCPU()/2)
	}
	if err := os.MkdirAll(filepath.Join(dir, "kbs"), 0o755); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "data directory %s: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, "kefu.db"), 0o644, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, kefu.Errorf(kefu.ECONFLICT, "data directory %s is in use by another kefu process", dir)
	}
	if err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "open %s: %w", dir, err)
	}
	s := &Store{dir: dir, db: db, opts: opts, log: opts.Logger, kbs: map[string]*kbState{}, commits: &groupCommit{db: db}}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketKBs)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	kbs, err := s.KBs(context.Background())
	if err != nil {
		db.Close()
		return nil, err
	}
	trash, _ := filepath.Glob(filepath.Join(dir, "kbs", "*"+trashSuffix+"*"))
	for _, t := range trash {
		os.RemoveAll(t)
	}
	for _, kb := range kbs {
		st, err := s.loadKB(kb)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("load knowledge base %q: %w", kb.Name, err)
		}
		s.kbs[kb.Name] = st
	}
	return s, nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close saves the vector snapshots and closes every index and the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.kbs {
		st.mu.Lock()
		st.waitGraph(closeGraphWait)
		errs = append(errs, st.saveVectors(), st.close())
		st.mu.Unlock()
	}
	s.kbs = map[string]*kbState{}
	if s.db != nil {
		errs = append(errs, s.db.Close())
		s.db = nil
	}
	return errors.Join(errs...)
}

// closeGraphWait is how long Close lets a graph build in progress finish,
// so its snapshot holds the graph; past it the snapshot is saved without
// one and the next start builds it again in the background.
const closeGraphWait = 10 * time.Second

// Flush saves every KB's vector snapshot, so the next start needs no rebuild.
func (s *Store) Flush() error {
	s.mu.Lock()
	states := make([]*kbState, 0, len(s.kbs))
	for _, st := range s.kbs {
		states = append(states, st)
	}
	s.mu.Unlock()
	var errs []error
	for _, st := range states {
		st.mu.Lock()
		errs = append(errs, st.saveVectors())
		st.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *Store) state(name string) (*kbState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.kbs[name]
	if !ok {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", name)
	}
	return st, nil
}

// CreateKB creates an empty KB. Zero settings get the defaults.
func (s *Store) CreateKB(ctx context.Context, kb *kefu.KB) error {
	if !kefu.ValidKBName(kb.Name) {
		return kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q: use 1-63 lower-case letters, digits, '-' or '_'", kb.Name)
	}
	if err := validSettings(&kb.Settings); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kbs[kb.Name]; ok {
		return kefu.Errorf(kefu.ECONFLICT, "knowledge base %q already exists", kb.Name)
	}
	now := time.Now().UTC()
	kb.CreatedAt, kb.UpdatedAt, kb.Version = now, now, 1
	kb.Incarnation = newIncarnation()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketKBs), []byte(kb.Name), kb); err != nil {
			return err
		}
		b, err := tx.CreateBucket(kbBucket(kb.Name))
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketDocs, bucketDocChunks, bucketChunks, bucketVecs, bucketAttrs, bucketAnswers, bucketAnswerIDs, bucketFeedback, bucketMeta} {
			if _, err := b.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "create knowledge base %q: %w", kb.Name, err)
	}
	st, err := s.loadKB(kb)
	if err != nil {
		// Undone, so the name is not left to a KB that cannot be opened.
		s.db.Update(func(tx *bolt.Tx) error {
			tx.Bucket(bucketKBs).Delete([]byte(kb.Name))
			return tx.DeleteBucket(kbBucket(kb.Name))
		})
		return err
	}
	s.kbs[kb.Name] = st
	return nil
}

// newIncarnation names a new KB: random, so a KB created under the name of
// a deleted one never shares it.
func newIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validSettings(set *kefu.KBSettings) error { return keyword.ValidSettings(set) }

// KB returns a KB by name.
func (s *Store) KB(ctx context.Context, name string) (*kefu.KB, error) {
	var kb *kefu.KB
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		kb, err = getKB(tx, name)
		return err
	})
	return kb, err
}

// KBs lists every KB by name.
func (s *Store) KBs(ctx context.Context) ([]*kefu.KB, error) {
	var out []*kefu.KB
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKBs).ForEach(func(k, v []byte) error {
			kb := new(kefu.KB)
			if err := json.Unmarshal(v, kb); err != nil {
				return err
			}
			out = append(out, kb)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// UpdateKB stores kb's description and settings; its model, content and
// creation time stay as stored.
func (s *Store) UpdateKB(ctx context.Context, kb *kefu.KB) error {
	if err := validSettings(&kb.Settings); err != nil {
		return err
	}
	st, err := s.state(kb.Name)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getKB(tx, kb.Name)
		if err != nil {
			return err
		}
		cur.Description, cur.Settings = kb.Description, kb.Settings
		cur.Version++
		cur.UpdatedAt = time.Now().UTC()
		*kb = *cur
		return putJSON(tx.Bucket(bucketKBs), []byte(kb.Name), cur)
	})
	if err != nil {
		return err
	}
	if err := st.setLexicon(&kb.Settings); err != nil {
		return err
	}
	return st.setVersion(kb.Version)
}

// DeleteKB removes a KB with all its documents and indexes.
func (s *Store) DeleteKB(ctx context.Context, name string) error {
	s.mu.Lock()
	st, ok := s.kbs[name]
	s.mu.Unlock()
	if !ok {
		return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", name)
	}
	st.mu.Lock()
	if st.deleted {
		st.mu.Unlock()
		return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", name)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketKBs).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.DeleteBucket(kbBucket(name))
	})
	if err != nil {
		st.mu.Unlock()
		return kefu.Errorf(kefu.EINTERNAL, "delete knowledge base %q: %w", name, err)
	}
	st.close()
	st.deleted = true
	// The files move aside before the name is freed, so a KB created under
	// it at once meets none of them; removing them may take a while.
	// (A crash leaves them aside; Open removes them.)
	trash := s.kbDir(name) + trashSuffix + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := os.Rename(s.kbDir(name), trash); err != nil {
		trash = ""
		if err := os.RemoveAll(s.kbDir(name)); err != nil {
			s.log.Error("knowledge base files left behind", "kb", name, "err", err)
		}
	}
	st.mu.Unlock()
	s.mu.Lock()
	if s.kbs[name] == st {
		delete(s.kbs, name)
	}
	s.mu.Unlock()
	if trash != "" {
		return os.RemoveAll(trash)
	}
	return nil
}

// trashSuffix marks the folder of a deleted KB on its way out: KB names
// hold no dots.
const trashSuffix = ".deleted-"

// Stats counts a KB's documents, chunks, vectors and source bytes.
func (s *Store) Stats(ctx context.Context, name string) (kefu.KBStats, error) {
	st, err := s.state(name)
	if err != nil {
		return kefu.KBStats{}, err
	}
	var stats kefu.KBStats
	st.mu.RLock()
	stats.Vectors = st.vectors()
	st.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(kbBucket(name))
		stats.Chunks = b.Bucket(bucketChunks).Stats().KeyN
		return b.Bucket(bucketDocs).ForEach(func(k, v []byte) error {
			var d kefu.Document
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			stats.Documents++
			stats.Bytes += d.Bytes
			return nil
		})
	})
	return stats, err
}

func (s *Store) kbDir(name string) string { return filepath.Join(s.dir, "kbs", name) }

func getKB(tx *bolt.Tx, name string) (*kefu.KB, error) {
	v := tx.Bucket(bucketKBs).Get([]byte(name))
	if v == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", name)
	}
	kb := new(kefu.KB)
	return kb, json.Unmarshal(v, kb)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// WaitCompacted waits until no merge of kb's keyword segments is due or
// running (they merge once writes pause; keyword.Index.WaitCompacted), or
// ctx ends, and returns the number of segments then. For benchmarks and
// tests: searches need not wait.
func (s *Store) WaitCompacted(ctx context.Context, kb string) (int, error) {
	st, err := s.state(kb)
	if err != nil {
		return 0, err
	}
	st.mu.RLock()
	kw := st.kw
	st.mu.RUnlock()
	if kw == nil {
		return 0, nil
	}
	return kw.WaitCompacted(ctx)
}

// WaitVectors waits until no vector graph build of kb is in progress, or
// ctx ends, and returns the search its vectors use then (vector.ModeFlat,
// ModeInt8 or ModeHNSW; "" without vectors). For benchmarks and tests:
// searches need not wait, they use the int8 scan meanwhile.
func (s *Store) WaitVectors(ctx context.Context, kb string) (string, error) {
	st, err := s.state(kb)
	if err != nil {
		return "", err
	}
	st.mu.RLock()
	ix := st.vec
	st.mu.RUnlock()
	if ix == nil {
		return "", nil
	}
	if err := ix.WaitBuilt(ctx); err != nil {
		return "", err
	}
	return ix.Mode(), nil
}
