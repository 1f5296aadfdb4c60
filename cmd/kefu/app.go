package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/desk"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/index/qdrant"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/demo"
	"github.com/kefu-dev/kefu/models"
	"github.com/kefu-dev/kefu/retrieve"
)

// common holds the flags every command takes.
type common struct {
	dataDir  string
	store    string
	model    string
	ortLib   string
	logLevel string
	logJSON  bool
	sessions int
	threads  int
	limits   ingest.Limits
	retryFor time.Duration // webhook deliveries' retry window (serve's --webhook-retry-for)
}

func (c *common) register(fs *flag.FlagSet) {
	def := os.Getenv("KEFU_DATA_DIR")
	if def == "" {
		def = "data"
	}
	fs.StringVar(&c.dataDir, "data-dir", def, "data directory (env KEFU_DATA_DIR)")
	fs.StringVar(&c.store, "store", os.Getenv("KEFU_STORE"), "where KB content lives: empty for the data directory, or qdrant://HOST[:6334][?prefix=kefu&tls=1&timeout=10s] (env KEFU_STORE; API key in KEFU_QDRANT_API_KEY); keys, answer log, conversations, webhooks and their outbox, channels, sources and reports stay in the data directory")
	fs.StringVar(&c.model, "model", os.Getenv("KEFU_MODEL"), "embedding model: a name from 'kefu models list' or a folder (env KEFU_MODEL; default: the KB's own model, else the best available)")
	fs.StringVar(&c.ortLib, "ort-lib", "", "path of libonnxruntime.so (env KEFU_ORT_LIB; default: the one 'make' fetched)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	fs.IntVar(&c.sessions, "sessions", 0, "ONNX sessions run in parallel (default: one per core)")
	fs.IntVar(&c.threads, "threads", 0, "intra-op threads per ONNX session (default 1)")
	c.limits = ingest.DefaultLimits()
	fs.Int64Var(&c.limits.MaxFileBytes, "max-file-bytes", c.limits.MaxFileBytes, "ingest: largest file")
	fs.Int64Var(&c.limits.MaxDecompressedBytes, "max-unpacked-bytes", c.limits.MaxDecompressedBytes, "ingest: most bytes unpacked from one file (ZIP, DOCX, XLSX, PDF streams)")
	fs.IntVar(&c.limits.MaxPages, "max-pages", c.limits.MaxPages, "ingest: most pages of a PDF")
	fs.IntVar(&c.limits.MaxRows, "max-rows", c.limits.MaxRows, "ingest: most rows of a sheet or records of a JSON file")
	fs.IntVar(&c.limits.MaxZipEntries, "max-zip-entries", c.limits.MaxZipEntries, "ingest: most entries of an archive")
	fs.DurationVar(&c.limits.MaxTime, "max-file-time", c.limits.MaxTime, "ingest: longest time spent on one file")
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// app wires the stages for one command run.
type app struct {
	common
	log   *slog.Logger
	local *index.Store // this node's data directory: keys, answer log, conversations, webhooks, channels, sources, reports
	store content      // KB content: the data directory's or Qdrant's
	emb   *embed.Engine

	mu        sync.Mutex
	rerankers map[string]*embed.Reranker
}

func newApp(c common) (*app, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "log level %q: use debug, info, warn or error", c.logLevel)
	}
	var h slog.Handler
	if c.logJSON {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	} else {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	}
	a := &app{common: c, log: slog.New(h)}
	st, err := index.Open(c.dataDir, index.Options{Logger: a.log, RetryFor: c.retryFor, ExternalKBs: c.store != ""})
	if err != nil {
		return nil, err
	}
	a.local, a.store = st, content{Store: st, local: st}
	if c.store != "" {
		o, err := qdrant.ParseURL(c.store)
		if err != nil {
			st.Close()
			return nil, err
		}
		o.Logger = a.log
		q, err := qdrant.Open(context.Background(), o)
		if err != nil {
			st.Close()
			return nil, err
		}
		a.store.Store = q
		a.log.Info("knowledge bases in Qdrant", "store", q.Backend(), "prefix", o.Prefix)
	}
	return a, nil
}

// content is the store of KB content with this node's own state beside it:
// sources and evaluation reports stay in the data directory whichever
// store holds the KBs.
type content struct {
	kefu.Store
	local *index.Store
}

func (c content) PutSource(ctx context.Context, kb, docID string, data []byte) error {
	return c.local.PutSource(ctx, kb, docID, data)
}

func (c content) Source(ctx context.Context, kb, docID string) ([]byte, error) {
	return c.local.Source(ctx, kb, docID)
}

func (c content) PutReport(ctx context.Context, kb string, files map[string][]byte) error {
	return c.local.PutReport(ctx, kb, files)
}

func (c content) ReportFile(ctx context.Context, kb, name string) ([]byte, error) {
	return c.local.ReportFile(ctx, kb, name)
}

// PutDocument stores a document; one another store wrote gets its
// document.ingested event here.
func (c content) PutDocument(ctx context.Context, doc *kefu.Document, chunks []kefu.Chunk, vectors [][][]float32) error {
	if err := c.Store.PutDocument(ctx, doc, chunks, vectors); err != nil {
		return err
	}
	return c.ingested(ctx, doc)
}

// PutDocuments stores documents as PutDocument does.
func (c content) PutDocuments(ctx context.Context, ups []kefu.DocumentUpdate) error {
	if err := c.Store.PutDocuments(ctx, ups); err != nil {
		return err
	}
	docs := make([]*kefu.Document, len(ups))
	for i, u := range ups {
		docs[i] = u.Doc
	}
	return c.ingested(ctx, docs...)
}

// ingested enqueues, in the data directory's outbox, the document.ingested
// events of documents another store wrote; the data directory's own store
// writes them in the document's transaction.
func (c content) ingested(ctx context.Context, docs ...*kefu.Document) error {
	if c.Store == kefu.Store(c.local) {
		return nil
	}
	if err := c.local.DocumentsStored(ctx, docs...); err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "documents stored, but their document.ingested webhook events were not: %w", err)
	}
	return nil
}

// DeleteDocument deletes a document and its source.
func (c content) DeleteDocument(ctx context.Context, kb, docID string) error {
	if err := c.Store.DeleteDocument(ctx, kb, docID); err != nil {
		return err
	}
	c.local.DeleteSource(ctx, kb, docID)
	return nil
}

// DeleteKB deletes a KB with its sources and reports.
func (c content) DeleteKB(ctx context.Context, name string) error {
	if err := c.Store.DeleteKB(ctx, name); err != nil {
		return err
	}
	return c.local.DeleteKBFiles(ctx, name)
}

// Health is the KB store's health: always up for the data directory.
func (c content) Health(ctx context.Context) error {
	if h, ok := c.Store.(kefu.HealthChecker); ok {
		return h.Health(ctx)
	}
	return nil
}

func (a *app) close() {
	if a.emb != nil {
		a.emb.Close()
	}
	for _, r := range a.rerankers {
		r.Close()
	}
	if a.store.Store != nil && a.store.Store != kefu.Store(a.local) {
		if err := a.store.Close(); err != nil {
			a.log.Error("closing the store", "err", err)
		}
	}
	if a.local != nil {
		if err := a.local.Close(); err != nil {
			a.log.Error("closing the store", "err", err)
		}
	}
}

// embedder loads the embedding engine once.
func (a *app) embedder(ctx context.Context, kb string) (*embed.Engine, error) {
	if a.emb != nil {
		return a.emb, nil
	}
	spec, err := models.ResolveFor(ctx, a.store, a.model, kb, models.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	// New loads ONNX Runtime (--ort-lib, else FindRuntime's places) and
	// identifies the weights by their checksum.
	e, err := embed.New(spec, embed.Options{ORTLib: a.ortLib, Sessions: a.sessions, IntraOpThreads: a.threads})
	if err != nil {
		return nil, err
	}
	a.log.Info("embedding model loaded", "model", e.ModelID(), "dim", e.Model().Dim, "dir", spec.Dir)
	a.emb = e
	return e, nil
}

func (a *app) retriever(e kefu.Embedder) *retrieve.Retriever {
	return &retrieve.Retriever{Index: a.store, KBs: a.store, Embedder: e, Rerankers: a.reranker}
}

// reranker loads, once, the cross-encoder a KB's settings name.
func (a *app) reranker(name string) (kefu.Reranker, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.rerankers[name]; ok {
		return r, nil
	}
	spec, err := models.Resolve(name, models.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	r, err := embed.NewReranker(spec, embed.Options{ORTLib: a.ortLib, IntraOpThreads: a.threads})
	if err != nil {
		return nil, err
	}
	if a.rerankers == nil {
		a.rerankers = map[string]*embed.Reranker{}
	}
	a.rerankers[name] = r
	a.log.Info("reranker loaded", "model", name, "dir", spec.Dir)
	return r, nil
}

func (a *app) ingester(e kefu.Embedder) *ingest.Service {
	return &ingest.Service{Store: a.store, Embedder: e, Limits: a.limits}
}

func (a *app) answerer(r kefu.Retriever, opts answer.Options) (*answer.Service, error) {
	opts.Retriever, opts.KBs = r, a.store
	if opts.AnswerLog == nil {
		opts.AnswerLog = a.local
	}
	if opts.Logger == nil {
		opts.Logger = a.log
	}
	return answer.New(opts)
}

// desk runs conversations over the bot r answers with (opts as answerer's);
// the desk logs the answers, in each turn's transaction, so the bot does
// not. notify, when set, wakes the webhook dispatcher.
func (a *app) desk(r kefu.Retriever, opts answer.Options, notify func()) (*desk.Service, *answer.Service, error) {
	opts.Retriever, opts.KBs, opts.AnswerLog, opts.Logger = r, a.store, nil, a.log
	bot, err := answer.New(opts)
	if err != nil {
		return nil, nil, err
	}
	// Conversations, the outbox and channels are this node's state, in the
	// data directory whichever store holds the KBs.
	d, err := desk.New(desk.Options{Store: a.local, Log: a.local, Answerer: bot, KBs: a.store, Channels: a.local, Logger: a.log, Notify: notify})
	return d, bot, err
}

// demoSeeder seeds the demo KBs with e, drawing ingest progress on stderr.
func (a *app) demoSeeder(e kefu.Embedder) *demo.Seeder {
	r := a.retriever(e)
	s := &demo.Seeder{Store: a.store, Embedder: e, Retriever: r, Out: os.Stderr,
		Ingest: func(ctx context.Context, kb string, ups []kefu.Upload) (*kefu.Job, error) {
			job, err := ingestWithProgress(ctx, a.ingester(e), kb, ups, os.Stderr)
			if err == nil {
				printJobSummary(os.Stderr, job, ctx.Err() != nil)
			}
			return job, err
		}}
	// The first report's answers are extractive, as a KB without an LLM
	// answers.
	if ans, err := a.answerer(r, answer.Options{CacheSize: -1, Turns: -1, AnswerLog: noAnswerLog{}, Logger: slog.New(slog.DiscardHandler)}); err == nil {
		s.Answerer = ans
	}
	return s
}

// noAnswerLog keeps no record: the demo's report questions are not
// customers' questions and must not show up as unanswered.
type noAnswerLog struct{}

func (noAnswerLog) LogAnswer(context.Context, kefu.AnswerRecord) error { return nil }
func (noAnswerLog) Unanswered(context.Context, string, int) ([]kefu.AnswerRecord, error) {
	return nil, nil
}
func (noAnswerLog) AddFeedback(context.Context, string, kefu.Feedback) error { return nil }
func (noAnswerLog) ReviewUnanswered(context.Context, string, []string, kefu.Review) error {
	return nil
}
func (noAnswerLog) AnswerRecord(_ context.Context, kb, id string) (*kefu.AnswerRecord, error) {
	return nil, kefu.Errorf(kefu.ENOTFOUND, "answer %q is not logged", id)
}
func (noAnswerLog) FeedbackList(context.Context, string, int, int) ([]kefu.FeedbackRecord, error) {
	return nil, nil
}
