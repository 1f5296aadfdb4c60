// Package index is kefu's embedded store: one bbolt file holds every KB's
// documents, chunks and vectors (the source of truth, crash-safe), and each KB
// gets a bleve keyword index (index/keyword) and an in-memory vector index
// (index/vector) derived from it. Both derived indexes carry the KB version
// they reflect; at start-up an index that lags behind (a crash between the
// bbolt commit and the index write) is rebuilt from bbolt.
//
// Layout of a data directory:
//
//	kefu.db                   bbolt: KBs, documents, chunks, vectors, answer log
//	kbs/<name>/keyword/       bleve index
//	kbs/<name>/vectors.kvec   vector index snapshot (a cache of bbolt's vectors)
//	kbs/<name>/sources/       the bytes each document was made from
//	kbs/<name>/eval/          the KB's latest evaluation report (ReportStore)
//
// Store implements kefu.Store, AnswerLog, KeyStore, SourceStore and
// ReportStore; no other package reads these files. The package imports
// the root, its own keyword and vector indexes and internal/atomicfile,
// never another stage.
package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
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
}

// Store implements kefu.Store and kefu.AnswerLog on a data directory.
type Store struct {
	dir  string
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu  sync.Mutex // guards kbs
	kbs map[string]*kbState
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
	s := &Store{dir: dir, db: db, opts: opts, log: opts.Logger, kbs: map[string]*kbState{}}
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

func validSettings(set *kefu.KBSettings) error {
	def := kefu.DefaultSettings()
	if set.Threshold == 0 {
		set.Threshold = def.Threshold
	}
	if set.Floor == 0 {
		set.Floor = def.Floor
	}
	if set.Fusion.Method == "" {
		set.Fusion = def.Fusion
	}
	if set.Chunking.MaxTokens == 0 {
		set.Chunking = def.Chunking
	}
	switch {
	case set.Threshold <= 0 || set.Threshold > 1:
		return kefu.Errorf(kefu.EINVALID, "threshold %v is not in (0, 1]", set.Threshold)
	case set.Floor < 0 || set.Floor > set.Threshold:
		return kefu.Errorf(kefu.EINVALID, "floor %v must be in [0, threshold]", set.Floor)
	case set.Fusion.Method != kefu.FusionRRF && set.Fusion.Method != kefu.FusionMinMax:
		return kefu.Errorf(kefu.EINVALID, "fusion method %q: use %q or %q", set.Fusion.Method, kefu.FusionRRF, kefu.FusionMinMax)
	case set.Fusion.VectorWeight < 0 || set.Fusion.VectorWeight > 1:
		return kefu.Errorf(kefu.EINVALID, "vector weight %v is not in [0, 1]", set.Fusion.VectorWeight)
	case set.Fusion.PerDocCap < 0:
		return kefu.Errorf(kefu.EINVALID, "per-document cap %d is negative", set.Fusion.PerDocCap)
	case set.Chunking.MaxTokens < 16 || set.Chunking.MaxTokens > 8192:
		return kefu.Errorf(kefu.EINVALID, "chunk size %d tokens is not in [16, 8192]", set.Chunking.MaxTokens)
	case set.Chunking.OverlapTokens < 0 || set.Chunking.OverlapTokens >= set.Chunking.MaxTokens:
		return kefu.Errorf(kefu.EINVALID, "chunk overlap %d must be in [0, chunk size)", set.Chunking.OverlapTokens)
	case set.Lexicon != "" && set.Lexicon != kefu.LexiconNone:
		return kefu.Errorf(kefu.EINVALID, "lexicon %q: use \"\" (the built-in customer-service lexicon) or %q", set.Lexicon, kefu.LexiconNone)
	}
	if _, err := lexiconRules(set); err != nil {
		return err
	}
	return nil
}

// Weights of synonym rules: an original query word weighs 1. A word of the
// other language weighs less than one of the query's own, so that an entry
// in the question's language wins when both hold the need (shop_dev top-1
// 0.879 at 0.5, 0.886 at 0.35: English questions stop landing on the
// Chinese twin of their entry).
const (
	builtinSynonymWeight   = 0.5
	bilingualSynonymWeight = 0.35
	teamSynonymWeight      = 0.8
	learnedSynonymWeight   = 0.4
)

// lexiconRules are the synonym rules a KB's keyword index adds to queries:
// the built-in lexicons (customer-service words and their Chinese ↔
// English links), the team's rules and those learned from its FAQ.
func lexiconRules(set *kefu.KBSettings) ([]keyword.Rule, error) {
	var rules []keyword.Rule
	if set.Lexicon != kefu.LexiconNone {
		rules = append(rules, keyword.BuiltinSynonyms(builtinSynonymWeight)...)
		rules = append(rules, keyword.BilingualSynonyms(bilingualSynonymWeight)...)
	}
	for _, src := range []struct {
		lines  []string
		weight float64
		what   string
	}{{set.Synonyms, teamSynonymWeight, "synonyms"}, {set.LearnedSynonyms, learnedSynonymWeight, "learned_synonyms"}} {
		if len(src.lines) == 0 {
			continue
		}
		r, err := keyword.ParseSynonyms(strings.Join(src.lines, "\n"), src.weight)
		if err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "settings.%s: %s", src.what, kefu.ErrorMessage(err))
		}
		rules = append(rules, r...)
	}
	if len(rules) > keyword.MaxRules {
		return nil, kefu.Errorf(kefu.ETOOLARGE, "settings.synonyms: more than %d rules with the built-in lexicon", keyword.MaxRules)
	}
	return rules, nil
}

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
