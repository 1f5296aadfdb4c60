package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
)

// Service runs ingest jobs into a store: per file, it reads within the
// limits, skips what is already indexed byte for byte, parses, chunks,
// drops duplicate chunks, reuses the stored vectors of unchanged chunks,
// embeds the rest in batches and replaces the document atomically. A file
// that fails is reported and the others go on; one that takes longer than
// Limits.MaxTime to parse, chunk and embed fails with ETOOLARGE. Jobs of
// different KBs share the slots fairly, one file at a time (scheduler).
type Service struct {
	Store    kefu.Store
	Embedder kefu.Embedder
	Limits   Limits // zero fields are DefaultLimits
	// Counter counts chunk tokens; nil is the Embedder's tokenizer.
	Counter kefu.TokenCounter
	// BatchSize is how many texts go to the embedder per call; 0 is 256.
	BatchSize int
	// FlushChunks is how many chunks wait before their documents are
	// embedded and stored together; 0 is 512. Small documents then cost one
	// store commit per batch instead of one each.
	FlushChunks int
	// MaxJobs is how many jobs Job remembers; the oldest finished ones are
	// forgotten first. 0 is 256.
	MaxJobs int
	// CreateKB makes a job create its KB, with the embedder's model, when
	// it does not exist; otherwise such a job is refused.
	CreateKB bool
	// MaxRunning is how many files are processed at once, from the jobs of
	// different KBs (a KB's jobs run one after another); the others wait,
	// queued. 0 is 1: jobs share the embedder, which uses the cores already.
	MaxRunning int
	// OnFinish, when set, is called with each job as it ends (metrics).
	OnFinish func(kefu.Job)
	// Spool is the folder where Submit keeps accepted jobs until they end
	// (spool.go); Resume starts them again after a restart. "" keeps jobs
	// in memory only.
	Spool string
	// MaxSpoolBytes bounds the bytes of files waiting in the spool, all
	// jobs together; 0 is DefaultMaxSpoolBytes. An upload over it is
	// refused (ERATELIMIT) until jobs in progress end.
	MaxSpoolBytes int64
	// Logger reports what a job could not record; nil discards it.
	Logger *slog.Logger

	mu        sync.Mutex
	jobs      map[string]*job
	order     []string // job ids, oldest first
	sched     *scheduler
	schedOnce sync.Once
	spool     spoolState
	running   sync.WaitGroup // jobs started by Submit and Resume
}

var _ kefu.Ingester = (*Service)(nil)

// job is a running or finished job and its lock.
type job struct {
	mu     sync.Mutex
	j      kefu.Job
	ctx    context.Context // the job's own; ends when it is cancelled
	cancel context.CancelCauseFunc
	rec    *jobRecord            // its record in the spool; nil: none
	seen   map[kefu.Failure]bool // a resumed job's failures, reported once
	log    *slog.Logger          // for the causes of internal failures; nil: none
}

// errKBDeleted is the cause of the context of a job whose KB was deleted.
var errKBDeleted = errors.New("knowledge base deleted")

// cancelled reports whether the job was cancelled (CancelKB).
func (j *job) cancelled() bool {
	return j.ctx != nil && context.Cause(j.ctx) == errKBDeleted
}

// halted reports whether the job was cancelled or stopped (Stop).
func (j *job) halted() bool {
	return j.cancelled() || j.ctx != nil && context.Cause(j.ctx) == errStopped
}

func (j *job) update(fn func(*kefu.Job)) {
	j.mu.Lock()
	fn(&j.j)
	j.mu.Unlock()
}

func (j *job) snapshot() kefu.Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.j
	c.Failed = slices.Clone(j.j.Failed)
	if c.FinishedAt != nil {
		t := *c.FinishedAt
		c.FinishedAt = &t
	}
	return c
}

// fail records a file the job refused. Once the job is cancelled or
// stopped, what fails fails because of that, and is not reported. An
// internal failure shows as kefu.InternalMessage; its cause is logged.
func (j *job) fail(source string, err error) {
	if j.halted() {
		return
	}
	f := failure(source, err)
	if f.Code == kefu.EINTERNAL && j.log != nil {
		j.log.Error("ingest: file failed", "job", j.snapshot().ID, "source", source, "err", err)
	}
	j.update(func(x *kefu.Job) {
		if j.seen != nil {
			if j.seen[f] {
				return // a file read again after a restart
			}
			j.seen[f] = true
		}
		x.Failed = append(x.Failed, f)
	})
}

// failure is a file's refusal. Its reason does not repeat the file's name,
// which errors of the parsers begin with: readers see "photo.png: not a
// supported format", not "photo.png: photo.png: …".
func failure(source string, err error) kefu.Failure {
	return kefu.Failure{Source: source, Code: kefu.ErrorCode(err), Reason: strings.TrimPrefix(kefu.ErrorMessage(err), source+": ")}
}

// Submit starts a job and returns at once; Job reports its progress. The
// KB is checked before it returns.
func (s *Service) Submit(ctx context.Context, kb string, files []kefu.Upload) (*kefu.Job, error) {
	k, err := s.prepare(ctx, kb)
	if err != nil {
		return nil, err
	}
	j := s.newJob(context.WithoutCancel(ctx), kb, len(files))
	if s.Spool != "" {
		if files, err = s.spoolJob(j, k, files); err != nil {
			s.forget(j.j.ID)
			return nil, err
		}
	}
	t := s.ticket(kb)
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.run(j, k, files, 0, t, nil)
	}()
	snap := j.snapshot()
	return &snap, nil
}

// Ingest runs a job to its end, calling progress (when not nil) with its
// state after every document and embedding batch. The error is for a job
// that could not run at all; files that failed are in Job.Failed.
func (s *Service) Ingest(ctx context.Context, kb string, files []kefu.Upload, progress func(kefu.Job)) (*kefu.Job, error) {
	k, err := s.prepare(ctx, kb)
	if err != nil {
		return nil, err
	}
	j := s.newJob(ctx, kb, len(files))
	s.run(j, k, files, 0, s.ticket(kb), progress)
	snap := j.snapshot()
	return &snap, nil
}

// Job returns the state of a job.
func (s *Service) Job(id string) (*kefu.Job, error) {
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no ingest job %q", id)
	}
	snap := j.snapshot()
	return &snap, nil
}

// prepare checks the KB and that it was embedded with the embedder's
// model, creating it when CreateKB says so.
func (s *Service) prepare(ctx context.Context, name string) (*kefu.KB, error) {
	if !kefu.ValidKBName(name) {
		return nil, kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q", name)
	}
	if s.Store == nil || s.Embedder == nil {
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "ingest needs a store and an embedding model")
	}
	kb, err := s.Store.KB(ctx, name)
	if kefu.ErrorCode(err) == kefu.ENOTFOUND && s.CreateKB {
		spec := s.Embedder.Model()
		kb = &kefu.KB{Name: name, Model: s.Embedder.ModelID(), Dim: spec.Dim, Settings: kefu.DefaultSettings()}
		if err = s.Store.CreateKB(ctx, kb); kefu.ErrorCode(err) == kefu.ECONFLICT {
			kb, err = s.Store.KB(ctx, name)
		}
	}
	if err != nil {
		return nil, err
	}
	if kb.Model != "" && kb.Model != s.Embedder.ModelID() {
		return nil, kefu.Errorf(kefu.EMODEL, "knowledge base %q is embedded with %s, not %s; re-embed it first", name, kb.Model, s.Embedder.ModelID())
	}
	return kb, nil
}

// CancelKB cancels the jobs of kb, which was just deleted: a job waiting
// for its turn ends at once, a running one at its next step, as
// JobCancelled. The store refuses whatever write of theirs was under way
// (kefu.WithIncarnation), so nothing of them reaches a KB created again
// under the name.
func (s *Service) CancelKB(kb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.cancel != nil && j.snapshot().KB == kb {
			j.cancel(errKBDeleted)
		}
	}
}

// newJob registers a job that runs under a context of its own, derived
// from ctx.
func (s *Service) newJob(ctx context.Context, kb string, files int) *job {
	j := &job{j: kefu.Job{ID: newJobID(), KB: kb, State: kefu.JobQueued, Files: files, StartedAt: time.Now().UTC(), Failed: []kefu.Failure{}}}
	j.ctx, j.cancel = context.WithCancelCause(ctx)
	j.log = s.Logger
	s.remember(j)
	return j
}

// remember registers a job, and forgets the oldest finished ones (and
// their spooled records) beyond MaxJobs.
func (s *Service) remember(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		s.jobs = map[string]*job{}
	}
	s.jobs[j.j.ID] = j
	s.order = append(s.order, j.j.ID)
	limit := s.MaxJobs
	if limit <= 0 {
		limit = 256
	}
	for i := 0; len(s.jobs) > limit && i < len(s.order); {
		id := s.order[i]
		if old := s.jobs[id]; old != j && old.snapshot().FinishedAt != nil {
			delete(s.jobs, id)
			s.order = slices.Delete(s.order, i, i+1)
			if s.Spool != "" {
				os.RemoveAll(s.jobDir(id))
			}
			continue
		}
		i++
	}
}

// forget drops a job that was never accepted.
func (s *Service) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
}

// ticket puts a job in its KB's queue, in the order jobs are accepted.
func (s *Service) ticket(kb string) *ticket {
	s.schedOnce.Do(func() { s.sched = newScheduler(s.MaxRunning) })
	return s.sched.join(kb)
}

func (s *Service) logf(format string, args ...any) {
	if s.Logger != nil {
		s.Logger.Error(fmt.Sprintf(format, args...))
	}
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "job_" + hex.EncodeToString(b[:])
}

// run ingests the files one after the other, each in a turn the
// scheduler grants to t; the last turn embeds and stores what is left. Its
// writes apply only to kb's incarnation. files are the job's from the
// first-th on (a resumed job's first not yet done with).
func (s *Service) run(j *job, kb *kefu.KB, files []kefu.Upload, first int, t *ticket, progress func(kefu.Job)) {
	defer j.cancel(nil)
	ctx := kefu.WithIncarnation(j.ctx, kb)
	report := func() {
		if progress != nil {
			progress(j.snapshot())
		}
	}
	defer s.sched.leave(t)
	started := false
	turn := func() error {
		if err := s.sched.turn(ctx, t); err != nil {
			return err
		}
		if !started {
			started = true
			j.update(func(x *kefu.Job) { x.State = kefu.JobRunning })
			report()
		}
		return nil
	}
	ch := s.chunker(kb)
	b := &batcher{s: s, j: j, kb: kb, report: report, ended: first}
	for i, f := range files {
		if err := turn(); err != nil {
			if j.cancelled() {
				break
			}
			for _, rest := range files[i:] {
				j.fail(rest.Name, kefu.Errorf(kefu.ETIMEOUT, "%s: not ingested: %v", rest.Name, err))
			}
			break
		}
		s.file(ctx, b, ch, f)
		s.sched.done()
		b.ended = first + i + 1
		if len(b.docs) == 0 && !j.halted() {
			s.checkpoint(j, b.ended)
		}
		report()
	}
	if len(b.docs) > 0 {
		if turn() == nil {
			defer s.sched.done()
		}
		b.flush(ctx) // fails what is left when ctx has ended
	}
	if context.Cause(j.ctx) == errStopped {
		return // its spool starts it again (Resume)
	}
	now := time.Now().UTC()
	s.finish(j, func(x *kefu.Job) {
		x.State = kefu.JobDone
		if j.cancelled() {
			x.State, x.Error = kefu.JobCancelled, fmt.Sprintf("knowledge base %q was deleted: the files not yet stored were dropped", kb.Name)
		}
		x.FinishedAt = &now
	})
	report()
	if s.OnFinish != nil {
		s.OnFinish(j.snapshot())
	}
}

// chunker budgets chunks for the KB's settings and the model: the model
// sees at most its max sequence length, two special tokens ([CLS] [SEP],
// or <s> </s>) and the passage prefix included.
func (s *Service) chunker(kb *kefu.KB) *Chunker {
	counter := s.Counter
	if counter == nil {
		counter = s.Embedder
	}
	maxTok := kb.Settings.Chunking.MaxTokens
	if maxTok <= 0 {
		maxTok = kefu.DefaultChunkSize
	}
	spec := s.Embedder.Model()
	if spec.MaxTokens > 0 {
		room := spec.MaxTokens - 2
		if spec.PassagePrefix != "" {
			room -= counter.CountTokens(spec.PassagePrefix)
		}
		maxTok = min(maxTok, max(room, minChunkTokens))
	}
	return &Chunker{Counter: counter, MaxTokens: maxTok, Overlap: kb.Settings.Chunking.OverlapTokens}
}

// file reads, parses and chunks one upload (one document, or one per
// archive member or record) within its deadline, Limits.MaxTime, and hands
// the documents to the batcher with the time the file has left to embed.
func (s *Service) file(ctx context.Context, b *batcher, ch *Chunker, up kefu.Upload) {
	j, kb := b.j, b.kb
	lim := s.Limits.withDefaults()
	start := time.Now()
	fctx, cancel := context.WithTimeoutCause(ctx, lim.MaxTime, errMaxTime)
	defer cancel()
	id := up.DocID
	if id == "" {
		id = up.Name
	}
	data, err := readUpload(up, lim.MaxFileBytes)
	if err != nil {
		j.fail(up.Name, err)
		return
	}
	format, err := DetectFormat(up.Name, data)
	if err != nil {
		j.fail(up.Name, err)
		return
	}
	single := format != FormatZIP && format != FormatJSON && format != FormatJSONL
	if single && !up.Force {
		if old, err := s.Store.Document(fctx, kb.Name, id); err == nil && old.Hash == hashBytes(data) && old.Status == kefu.DocIndexed {
			j.update(func(x *kefu.Job) { x.Unchanged++ })
			return
		}
	}
	docs, err := parseAs(fctx, up.Name, id, data, lim)
	if err != nil {
		j.fail(up.Name, err)
		return
	}
	meta := up.Meta
	if !single {
		j.update(func(x *kefu.Job) { x.Files += len(docs) - 1 })
		meta = maps.Clone(meta)
		if meta == nil {
			meta = map[string]string{}
		}
		meta[kefu.MetaSourceID], meta[kefu.MetaSourceName] = id, up.Name
	}
	src := &source{id: id, name: up.Name, data: data}
	for _, d := range docs {
		if d.Err != nil {
			j.fail(d.Source, d.Err)
			continue
		}
		p, err := s.document(fctx, j, kb, ch, d, meta, up.Force, lim)
		if err != nil {
			j.fail(d.Source, err)
			continue
		}
		if p != nil {
			p.src = src
			p.left = lim.MaxTime - time.Since(start)
			b.add(ctx, *p)
		}
	}
}

// Reindex parses a document's stored source again with the KB's current
// settings: a document that came out of an archive or a records file
// re-indexes that whole file.
func (s *Service) Reindex(ctx context.Context, kb, docID string) (*kefu.Job, error) {
	ss, ok := s.Store.(kefu.SourceStore)
	if !ok {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "this store keeps no document sources")
	}
	doc, err := s.Store.Document(ctx, kb, docID)
	if err != nil {
		return nil, err
	}
	id, name := docID, doc.Source
	if src := doc.Meta[kefu.MetaSourceID]; src != "" {
		id, name = src, doc.Meta[kefu.MetaSourceName]
	}
	data, err := ss.Source(ctx, kb, id)
	if err != nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "document %q has no stored source to re-index (it was ingested before sources were kept); upload it again", docID)
	}
	up := kefu.Upload{Name: name, DocID: id, Size: int64(len(data)), Force: true,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	return s.Submit(ctx, kb, []kefu.Upload{up})
}

// readUpload reads a whole upload, refusing more than limit bytes.
func readUpload(up kefu.Upload, limit int64) ([]byte, error) {
	if up.Size > limit {
		return nil, tooLarge(up.Name, "max_file_bytes", "more than %d bytes", limit)
	}
	if up.Open == nil {
		return nil, invalid(up.Name, "nothing to read")
	}
	rc, err := up.Open()
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: cannot open: %w", up.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: cannot read: %w", up.Name, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(up.Name, "max_file_bytes", "more than %d bytes", limit)
	}
	return data, nil
}

// document chunks one parsed document; nil when it is unchanged.
func (s *Service) document(ctx context.Context, j *job, kb *kefu.KB, ch *Chunker, d *Doc, meta map[string]string, force bool, lim Limits) (*pending, error) {
	j.update(func(x *kefu.Job) { x.Documents++ })
	old, err := s.Store.Document(ctx, kb.Name, d.ID)
	if err != nil {
		old = nil
	}
	if old != nil && old.Hash == d.Hash && old.Status == kefu.DocIndexed && !force {
		j.update(func(x *kefu.Job) { x.Unchanged++ })
		return nil, nil
	}
	if d.Empty() {
		return nil, invalid(d.Source, "no text to index")
	}
	chunks, err := ch.ChunkContext(ctx, d)
	if err != nil {
		return nil, ctxErr(ctx, d.Source, lim)
	}
	chunks = dedupChunks(chunks)
	if len(chunks) == 0 {
		return nil, invalid(d.Source, "no text to index")
	}
	texts := 0
	for i := range chunks {
		texts += len(chunks[i].EmbedTexts())
	}
	j.update(func(x *kefu.Job) { x.Chunks, x.Texts = x.Chunks+len(chunks), x.Texts+texts })
	now := time.Now().UTC()
	doc := &kefu.Document{
		ID: d.ID, KB: kb.Name, Source: d.Source, Title: d.Title, URL: d.URL, Format: d.Format,
		Hash: d.Hash, Bytes: d.Bytes, Chunks: len(chunks), Status: kefu.DocIndexed,
		CreatedAt: now, UpdatedAt: now,
	}
	if old != nil && !old.CreatedAt.IsZero() {
		doc.CreatedAt = old.CreatedAt
	}
	if len(meta)+len(d.Meta) > 0 {
		doc.Meta = maps.Clone(d.Meta)
		if doc.Meta == nil {
			doc.Meta = map[string]string{}
		}
		maps.Copy(doc.Meta, meta)
	}
	return &pending{doc: doc, chunks: chunks}, nil
}

// dedupChunks drops chunks with the content hash of an earlier one.
func dedupChunks(chunks []kefu.Chunk) []kefu.Chunk {
	seen := make(map[string]bool, len(chunks))
	out := chunks[:0]
	for _, c := range chunks {
		if !seen[c.Hash] {
			seen[c.Hash] = true
			out = append(out, c)
		}
	}
	return out
}

// vectors returns the vectors of every chunk's embed texts: the stored
// ones for chunks already known by hash, the embedder's for the rest.
func (s *Service) vectors(ctx context.Context, j *job, kb *kefu.KB, chunks []kefu.Chunk, report func()) ([][][]float32, error) {
	hashes := make([]string, len(chunks))
	for i := range chunks {
		hashes[i] = chunks[i].Hash
	}
	known, err := s.Store.KnownVectors(ctx, kb.Name, hashes)
	if err != nil {
		return nil, err
	}
	vectors := make([][][]float32, len(chunks))
	type slot struct{ chunk, text int }
	var texts []string
	var slots []slot
	reused, all := 0, 0
	first := map[string]int{} // a chunk two documents share is embedded once
	var copies [][2]int
	for i := range chunks {
		et := chunks[i].EmbedTexts()
		all += len(et)
		if v, ok := known[chunks[i].Hash]; ok && len(v) == len(et) && dimsAre(v, kb.Dim) {
			vectors[i] = v
			reused++
			continue
		}
		if f, ok := first[chunks[i].Hash]; ok {
			copies = append(copies, [2]int{i, f})
			continue
		}
		first[chunks[i].Hash] = i
		vectors[i] = make([][]float32, len(et))
		for k, t := range et {
			texts = append(texts, t)
			slots = append(slots, slot{i, k})
		}
	}
	defer func() {
		for _, c := range copies {
			vectors[c[0]] = vectors[c[1]]
		}
	}()
	// Texts counted every text of these chunks; the reused and the shared
	// are not embedded.
	j.update(func(x *kefu.Job) { x.Reused, x.Texts = x.Reused+reused, x.Texts-(all-len(texts)) })
	batch := s.BatchSize
	if batch <= 0 {
		batch = 256
	}
	for start := 0; start < len(texts); start += batch {
		end := min(start+batch, len(texts))
		vs, err := s.Embedder.EmbedPassages(ctx, texts[start:end])
		if err != nil {
			return nil, err
		}
		if len(vs) != end-start {
			return nil, kefu.Errorf(kefu.EINTERNAL, "embedder returned %d vectors for %d texts", len(vs), end-start)
		}
		for k, v := range vs {
			if kb.Dim > 0 && len(v) != kb.Dim {
				return nil, kefu.Errorf(kefu.EMODEL, "embedder returned %d dimensions, the knowledge base has %d", len(v), kb.Dim)
			}
			sl := slots[start+k]
			vectors[sl.chunk][sl.text] = v
		}
		j.update(func(x *kefu.Job) { x.Embedded += end - start })
		report()
	}
	return vectors, nil
}

func dimsAre(vs [][]float32, dim int) bool {
	for _, v := range vs {
		if dim > 0 && len(v) != dim {
			return false
		}
	}
	return true
}
