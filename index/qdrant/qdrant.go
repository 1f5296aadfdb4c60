// Package qdrant is kefu's scale-out store: kefu.Store on a Qdrant server
// through its official gRPC client (github.com/qdrant/go-client), so that
// several kefu nodes serve the same KBs. It imports the root and
// index/keyword (the analysis whose BM25F weights it stores), never
// another stage.
//
// # Layout
//
// A deployment (a collection prefix, default "kefu") has:
//
//	<prefix>_kbs            one point per KB: its record, version, statistics and chunk collection
//	<prefix>_docs           one point per document version, every KB's, with a tenant index on "kb"
//	<prefix>_kb_<name>_<n>  one collection per KB (generation n): its chunks, with a dense
//	                        multivector "dense" (cosine, MaxSim: a chunk scores by its best
//	                        phrasing) and a sparse vector "bm25" with Qdrant's idf modifier
//
// Chunks get a collection per KB because Qdrant computes the idf of a sparse
// vector over its whole collection: in one collection shared by all KBs, a
// KB's keyword scores would depend on every other KB's words (measured in
// BENCHMARKS.md: SciFact nDCG@10 drops when it shares a collection with
// afqmc). A KB's own collection also makes re-embedding under a model of
// another dimension, and deleting a KB, one switch or one drop. Documents,
// which no statistic depends on, share one collection with a tenant index.
//
// # Keyword side
//
// Each chunk's sparse vector holds, for every term kefu's analyzer makes of
// it (gse words and Han characters, stemmed English), its BM25F weight
// without idf (keyword.Analysis.Weights), indexed by a 32-bit FNV-1a hash of
// the term; queries send each term's query weight. Qdrant multiplies by the
// idf, ln(1 + (N − df + 0.5)/(df + 0.5)) as kefu's own index, so scores are
// kefu's BM25F. The field averages the weights use are the KB's at the
// time they were written; when the KB's averages drift by more than
// ReweightDrift, every chunk is re-weighted. A chunk's terms are also a
// keyword payload ("terms") whose facet counts are the document
// frequencies and the vocabulary (typo correction) a search reports,
// fetched when a node meets a KB version it did not write and carried
// across the node's own writes; its distinct terms ("match", beside the
// analysed fields "fields" that rewrites read) give the hits' term masks
// and coverage. A search is three calls, two in sequence: the KB record,
// read while both sides run in one QueryBatch at the version the node saw
// last (one payload value a hit: a vector hit's "hit", its hash, owner and
// kind; a keyword hit's "match", the same and its terms), and one Get of
// the records of the hits kept that the node has not read before (a
// point's record never changes, so a node keeps them), made while the
// keyword hits' masks are set.
//
// # Versions and atomicity
//
// Points carry the KB version they appear in (v_from) and, once replaced,
// the one they disappear in (v_to). A search reads the KB's committed
// version V and filters v_from ≤ V < v_to, so a write is invisible until
// its last step, the KB record's upsert with version V+1: searches see the
// old document or the new one, never both or neither. Replaced points are
// deleted RetireGrace after the commit (and by the next write at the
// latest); a write that fails halfway leaves points tagged V+1 that no
// search sees, and the next write removes them before it starts. Only one
// node should write a KB at a time (each node serialises its own writes);
// see README's "Scale out with Qdrant".
package qdrant

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
)

// APIVersion is the Qdrant version whose API and semantics the backend
// follows (go-client v1.17.1).
const APIVersion = "1.17"

// Options configure the store.
type Options struct {
	Host   string
	Port   int    // gRPC port, default 6334
	APIKey string // sent as api-key; default $KEFU_QDRANT_API_KEY
	TLS    bool
	Prefix string // collection prefix, default "kefu"
	// Timeout bounds each call to Qdrant (default 10 s); Retries is how
	// many times a call that failed for want of Qdrant is tried again
	// (default 3), with exponential backoff from 100 ms.
	Timeout time.Duration
	Retries int
	// RetireGrace is how long replaced points stay after a commit, for
	// searches that read the previous version just before it (default 2 s).
	RetireGrace time.Duration
	Keyword     keyword.Options
	Logger      *slog.Logger
}

// Bounds of a store URL's timeout and retries: a call to Qdrant waits at
// most maxTimeout × (maxRetries+1) plus the backoff.
const (
	maxTimeout = 10 * time.Minute
	maxRetries = 10
)

// ParseURL reads a store URL: qdrant://host[:port][?prefix=P&tls=1&timeout=10s&retries=3]
// (qdrants:// for TLS). The API key comes from $KEFU_QDRANT_API_KEY, or
// api_key= in the URL.
func ParseURL(raw string) (Options, error) {
	var o Options
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "qdrant" && u.Scheme != "qdrants") || u.Hostname() == "" {
		return o, kefu.Errorf(kefu.EINVALID, "store %q: use qdrant://HOST[:PORT][?prefix=kefu&tls=1&timeout=10s]", raw)
	}
	o.Host, o.TLS = u.Hostname(), u.Scheme == "qdrants"
	if p := u.Port(); p != "" {
		if o.Port, err = strconv.Atoi(p); err != nil || o.Port < 1 || o.Port > 65535 {
			return o, kefu.Errorf(kefu.EINVALID, "store %q: port %q", raw, p)
		}
	}
	q := u.Query()
	o.Prefix, o.APIKey = q.Get("prefix"), q.Get("api_key")
	if v := q.Get("tls"); v != "" {
		o.TLS = v == "1" || v == "true"
	}
	if v := q.Get("timeout"); v != "" {
		if o.Timeout, err = time.ParseDuration(v); err != nil || o.Timeout <= 0 || o.Timeout > maxTimeout {
			return o, kefu.Errorf(kefu.EINVALID, "store %q: timeout %q (from 1ns to %s)", raw, v, maxTimeout)
		}
	}
	if v := q.Get("retries"); v != "" {
		if o.Retries, err = strconv.Atoi(v); err != nil || o.Retries < 0 || o.Retries > maxRetries {
			return o, kefu.Errorf(kefu.EINVALID, "store %q: retries %q (0 to %d)", raw, v, maxRetries)
		}
	}
	return o, nil
}

// Store implements kefu.Store on a Qdrant server.
type Store struct {
	opts   Options
	client *qdrant.Client
	log    *slog.Logger
	addr   string

	kbsCol, docsCol string

	mu      sync.Mutex
	writers map[string]*sync.Mutex          // per KB: this node's writes, one at a time
	stats   map[string]*termStats           // per KB: the vocabulary of one version
	an      map[string]*analysisAt          // per KB: analysis with the KB's lexicon
	decoded map[string]*decodedRecord       // per KB: the record searches read last
	records *lru.Cache[string, *kefu.Chunk] // chunk records by collection and point id (see loadChunks)
	legacy  sync.Map                        // collections holding points written before keyHit (see searchAt)

	fields *keyword.Analysis // analyses chunks (no lexicon)

	healthy  atomic.Bool
	failures atomic.Int64         // calls that failed for want of Qdrant
	retire   sync.WaitGroup       // clean-ups scheduled or running
	timers   map[*time.Timer]bool // clean-ups scheduled
	closed   atomic.Bool
}

var _ kefu.Store = (*Store)(nil)

// Open connects to Qdrant and creates the deployment's collections when
// they are missing.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Port == 0 {
		opts.Port = 6334
	}
	if opts.Prefix == "" {
		opts.Prefix = "kefu"
	}
	if opts.APIKey == "" {
		opts.APIKey = os.Getenv("KEFU_QDRANT_API_KEY")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.RetireGrace <= 0 {
		opts.RetireGrace = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if !validPrefix(opts.Prefix) {
		return nil, kefu.Errorf(kefu.EINVALID, "qdrant: collection prefix %q: use letters, digits, '-' or '_'", opts.Prefix)
	}
	cfg := &qdrant.Config{Host: opts.Host, Port: opts.Port, APIKey: opts.APIKey, UseTLS: opts.TLS, SkipCompatibilityCheck: true, PoolSize: 1,
		GrpcOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20))}}
	if opts.TLS {
		cfg.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c, err := qdrant.NewClient(cfg)
	if err != nil {
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "qdrant at %s: %v", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)), err)
	}
	s := &Store{opts: opts, client: c, log: opts.Logger, addr: net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)),
		kbsCol: opts.Prefix + "_kbs", docsCol: opts.Prefix + "_docs",
		writers: map[string]*sync.Mutex{}, stats: map[string]*termStats{}, an: map[string]*analysisAt{}, decoded: map[string]*decodedRecord{}, timers: map[*time.Timer]bool{}, fields: keyword.NewAnalysis(opts.Keyword),
		records: newRecordCache()}
	if err := s.Health(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.ensureMeta(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func validPrefix(p string) bool {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return p != "" && len(p) <= 64
}

// Close cancels the clean-ups not started (the next write of each KB does
// them), waits for those running and closes the connection.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	for t := range s.timers {
		if t.Stop() {
			s.retire.Done()
		}
	}
	s.timers = nil
	s.mu.Unlock()
	s.retire.Wait()
	return s.client.Close()
}

// Backend names the store for logs, /readyz and metrics.
func (s *Store) Backend() string { return "qdrant " + s.addr }

// Health asks Qdrant whether it is up; the error, if any, names Qdrant and
// is EUNAVAILABLE.
func (s *Store) Health(ctx context.Context) error {
	err := s.call(ctx, "health check", func(ctx context.Context) error {
		_, err := s.client.HealthCheck(ctx)
		return err
	})
	s.healthy.Store(err == nil)
	return err
}

// Healthy reports the outcome of the last call that reached Qdrant or
// failed for want of it.
func (s *Store) Healthy() bool { return s.healthy.Load() }

// Failures counts the calls that failed for want of Qdrant (after their
// retries).
func (s *Store) Failures() int64 { return s.failures.Load() }

// call runs fn with the call timeout, retrying with exponential backoff
// and jitter while Qdrant is unreachable, overloaded or slow. Every call
// kefu makes is idempotent: point ids are derived from content and
// versions, deletes and payload updates name what they change.
func (s *Store) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	if s.closed.Load() {
		return kefu.Errorf(kefu.EINTERNAL, "qdrant %s: the store is closed", what)
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		err := fn(cctx)
		cancel()
		if err == nil {
			s.healthy.Store(true)
			return nil
		}
		if !transient(err) || ctx.Err() != nil || attempt >= s.opts.Retries {
			return s.wrap(what, err)
		}
		d := backoff + rand.N(backoff/2)
		s.log.Warn("qdrant call failed, retrying", "call", what, "attempt", attempt+1, "in", d.String(), "err", err)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return s.wrap(what, ctx.Err())
		}
		backoff *= 2
	}
}

func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	var rl *qdrant.QdrantResourceExhaustedError
	return errors.As(err, &rl)
}

// wrap turns a gRPC error into kefu's, naming Qdrant.
func (s *Store) wrap(what string, err error) error {
	var ke *kefu.Error
	if errors.As(err, &ke) {
		return err
	}
	st, _ := status.FromError(err)
	msg := st.Message()
	switch {
	case errors.Is(err, context.Canceled):
		return kefu.Errorf(kefu.ETIMEOUT, "qdrant %s: cancelled", what)
	case status.Code(err) == codes.Unavailable, status.Code(err) == codes.DeadlineExceeded, errors.Is(err, context.DeadlineExceeded), transient(err):
		s.healthy.Store(false)
		s.failures.Add(1)
		return kefu.Errorf(kefu.EUNAVAILABLE, "qdrant at %s is unavailable (%s): %s", s.addr, what, msg)
	case status.Code(err) == codes.NotFound:
		return kefu.Errorf(kefu.ENOTFOUND, "qdrant %s: %s", what, msg)
	case status.Code(err) == codes.Unauthenticated, status.Code(err) == codes.PermissionDenied:
		s.healthy.Store(false)
		return kefu.Errorf(kefu.EUNAVAILABLE, "qdrant at %s refused kefu's API key (%s): %s", s.addr, what, msg)
	}
	return kefu.Errorf(kefu.EINTERNAL, "qdrant %s: %s", what, strings.TrimSpace(fmt.Sprint(msg)))
}
