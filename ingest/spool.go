package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

// The spool keeps accepted jobs on disk (Service.Spool) until they end, so
// a crash or a restart loses none of them:
//
//	<spool>/<job id>/job.json   the job: its state, its files, and how many
//	                            of them are stored for good (jobRecord)
//	<spool>/<job id>/files      the files' bytes one after another, while
//	                            the job runs
//
// Submit writes the files, synced once, then the record (atomicfile), before
// it returns: a job without a record was never accepted, and Resume removes
// it. (One data file and one sync per upload rather than per file: a sync
// costs milliseconds, and an upload may hold 1,000 files; BenchmarkSpool.) After each batch the store commits, the record moves on past the
// files whose documents are all stored or refused; Resume starts a job
// again from there. A file half stored when the process stopped is read
// again: its documents already stored count as unchanged, so nothing is
// stored twice, though the job's counters may count that file's documents
// twice. A job that ends keeps its record (GET /v1/jobs/{id} answers after
// a restart, for the last MaxJobs jobs) and drops its files.

// jobRecord is a job as its spool keeps it.
type jobRecord struct {
	Job         kefu.Job    `json:"job"`
	Incarnation string      `json:"incarnation"` // of the KB it writes to
	Files       []spoolFile `json:"files,omitempty"`
	Next        int         `json:"next"` // files[:Next] are stored or refused for good
}

// spoolFile is one accepted file; its bytes are Size bytes at Offset of
// the job's data file.
type spoolFile struct {
	Name   string            `json:"name"`
	DocID  string            `json:"doc_id,omitempty"`
	Offset int64             `json:"offset"`
	Size   int64             `json:"size"`
	Meta   map[string]string `json:"meta,omitempty"`
	Force  bool              `json:"force,omitempty"`
}

// The files of a job's folder.
const (
	recordName = "job.json"
	dataName   = "files"
)

// DefaultMaxSpoolBytes bounds the bytes of accepted files waiting to be
// ingested, all jobs together.
const DefaultMaxSpoolBytes = 4 << 30

// spoolState is the Service's view of its spool.
type spoolState struct {
	bytes int64            // of files in the spool
	held  map[string]int64 // each running job's share of bytes
}

func (s *Service) jobDir(id string) string { return filepath.Join(s.Spool, id) }

// spoolJob writes a job's files and record to the spool and returns the
// uploads read back from it. Each file is kept up to MaxFileBytes+1 bytes
// (a longer one fails as too large when its turn comes), all of them
// within MaxSpoolBytes less what other jobs keep there.
func (s *Service) spoolJob(j *job, kb *kefu.KB, files []kefu.Upload) (_ []kefu.Upload, err error) {
	lim := s.Limits.withDefaults()
	dir := s.jobDir(j.j.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, spoolErr(err)
	}
	if err := atomicfile.SyncDir(s.Spool); err != nil {
		return nil, spoolErr(err)
	}
	var total int64
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			s.release(j.j.ID)
		}
	}()
	rec := jobRecord{Job: j.snapshot(), Incarnation: kb.Incarnation, Files: make([]spoolFile, len(files))}
	f, err := os.OpenFile(filepath.Join(dir, dataName), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, spoolErr(err)
	}
	defer f.Close()
	for i, up := range files {
		room := s.reserve(j.j.ID, 0)
		n, err := copyUpload(f, up, min(lim.MaxFileBytes+1, room+1))
		if err != nil {
			return nil, err
		}
		if n > room {
			return nil, kefu.Errorf(kefu.ERATELIMIT, "the ingest queue is full: accepted uploads waiting to be ingested hold %d bytes (--max-spool-bytes); retry when the jobs in progress are done", s.maxSpool())
		}
		s.reserve(j.j.ID, n)
		rec.Files[i] = spoolFile{Name: up.Name, DocID: up.DocID, Offset: total, Size: n, Meta: up.Meta, Force: up.Force}
		total += n
	}
	if err := f.Sync(); err != nil {
		return nil, spoolErr(err)
	}
	if err := s.writeRecord(&rec); err != nil { // syncs the folder too
		return nil, err
	}
	j.rec = &rec
	return s.spooledUploads(&rec, 0), nil
}

// copyUpload appends an upload to w, reading at most limit bytes; it
// returns how many it wrote.
func copyUpload(w io.Writer, up kefu.Upload, limit int64) (int64, error) {
	if up.Open == nil {
		return 0, kefu.Errorf(kefu.EINVALID, "%s: nothing to read", up.Name)
	}
	rc, err := up.Open()
	if err != nil {
		return 0, kefu.Errorf(kefu.EINVALID, "%s: cannot open: %w", up.Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, io.LimitReader(rc, limit))
	if err != nil {
		return 0, spoolErr(err)
	}
	return n, nil
}

// spooledUploads are the files of rec from the n-th on, read from the
// spool.
func (s *Service) spooledUploads(rec *jobRecord, from int) []kefu.Upload {
	path := filepath.Join(s.jobDir(rec.Job.ID), dataName)
	ups := make([]kefu.Upload, 0, len(rec.Files)-from)
	for i := from; i < len(rec.Files); i++ {
		sf := rec.Files[i]
		ups = append(ups, kefu.Upload{Name: sf.Name, DocID: sf.DocID, Size: sf.Size, Meta: sf.Meta, Force: sf.Force,
			Open: func() (io.ReadCloser, error) {
				f, err := os.Open(path)
				if err != nil {
					return nil, err
				}
				return sectionFile{io.NewSectionReader(f, sf.Offset, sf.Size), f}, nil
			}})
	}
	return ups
}

// sectionFile reads one file of a job's data file.
type sectionFile struct {
	*io.SectionReader
	io.Closer
}

// writeRecord replaces a job's record crash-safely.
func (s *Service) writeRecord(rec *jobRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return spoolErr(err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.jobDir(rec.Job.ID), recordName), data, 0o600); err != nil {
		return spoolErr(err)
	}
	return nil
}

// spoolErr is a failure to keep an upload: the client learns that it was
// not accepted, the log why.
func spoolErr(err error) error {
	return kefu.Errorf(kefu.EINTERNAL, "keeping the upload in the ingest spool: %w", err)
}

// checkpoint records that the job's files before next are done with.
func (s *Service) checkpoint(j *job, next int) {
	if s.Spool == "" || j.rec == nil || next <= j.rec.Next {
		return
	}
	j.rec.Next, j.rec.Job = next, j.snapshot()
	if err := s.writeRecord(j.rec); err != nil {
		s.logf("ingest job %s: progress not recorded (a restart reads its files again): %v", j.rec.Job.ID, err)
	}
}

// finish ends a job: end sets its final state, which its record keeps,
// its files are removed from the spool, and then Job shows it.
func (s *Service) finish(j *job, end func(*kefu.Job)) {
	if s.Spool == "" || j.rec == nil {
		j.update(end)
		return
	}
	final := j.snapshot()
	end(&final)
	j.rec.Job, j.rec.Files, j.rec.Next = final, nil, 0
	if err := s.writeRecord(j.rec); err != nil {
		s.logf("ingest job %s: final state not recorded: %v", j.rec.Job.ID, err)
	}
	s.removeFiles(j.rec.Job.ID)
	s.release(j.rec.Job.ID)
	j.update(end)
}

// removeFiles removes a job's files from the spool, keeping its record.
func (s *Service) removeFiles(id string) {
	os.Remove(filepath.Join(s.jobDir(id), dataName))
}

// reserve adds n bytes to a job's share of the spool and returns the room
// left.
func (s *Service) reserve(id string, n int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spool.held == nil {
		s.spool.held = map[string]int64{}
	}
	s.spool.held[id] += n
	s.spool.bytes += n
	return max(s.maxSpool()-s.spool.bytes, 0)
}

// release gives a job's share of the spool back.
func (s *Service) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spool.bytes -= s.spool.held[id]
	delete(s.spool.held, id)
}

func (s *Service) maxSpool() int64 {
	if s.MaxSpoolBytes > 0 {
		return s.MaxSpoolBytes
	}
	return DefaultMaxSpoolBytes
}

// Resume reads the spool after a start: jobs that ended are remembered
// (Job answers for them), jobs that had not ended start again from their
// first file not yet done with, in the order they were accepted. A job
// whose KB was deleted meanwhile (or deleted and created again) ends as
// cancelled. Call it once, before Submit.
func (s *Service) Resume(ctx context.Context) error {
	if s.Spool == "" {
		return nil
	}
	if err := os.MkdirAll(s.Spool, 0o700); err != nil {
		return spoolErr(err)
	}
	entries, err := os.ReadDir(s.Spool)
	if err != nil {
		return spoolErr(err)
	}
	var recs []*jobRecord
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.Spool, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, recordName))
		rec := new(jobRecord)
		if err == nil {
			err = json.Unmarshal(data, rec)
		}
		if err != nil || rec.Job.ID != e.Name() {
			// No record: the upload was never accepted (the process
			// stopped while it was being kept).
			os.RemoveAll(dir)
			continue
		}
		recs = append(recs, rec)
	}
	slices.SortStableFunc(recs, func(a, b *jobRecord) int { return a.Job.StartedAt.Compare(b.Job.StartedAt) })
	for _, rec := range recs {
		if rec.Job.FinishedAt != nil {
			s.remember(&job{j: rec.Job})
			continue
		}
		s.resume(ctx, rec)
	}
	return nil
}

// resume starts a spooled job again.
func (s *Service) resume(ctx context.Context, rec *jobRecord) {
	snap := rec.Job
	snap.State = kefu.JobQueued
	if snap.Failed == nil {
		snap.Failed = []kefu.Failure{}
	}
	j := &job{j: snap, rec: rec, seen: map[kefu.Failure]bool{}, log: s.Logger}
	for _, f := range snap.Failed {
		j.seen[f] = true
	}
	j.ctx, j.cancel = context.WithCancelCause(context.Background())
	s.remember(j)
	var size int64
	for _, f := range rec.Files {
		size += f.Size
	}
	s.reserve(snap.ID, size)
	kb, err := s.prepare(ctx, snap.KB)
	if err == nil && kb.Incarnation != rec.Incarnation {
		err = kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", snap.KB)
	}
	if err != nil {
		now := time.Now().UTC()
		j.cancel(nil)
		s.finish(j, func(x *kefu.Job) {
			x.State, x.Error, x.FinishedAt = kefu.JobFailed, fmt.Sprintf("not resumed after a restart: %s", kefu.ErrorMessage(err)), &now
			if kefu.ErrorCode(err) == kefu.ENOTFOUND {
				x.State, x.Error = kefu.JobCancelled, fmt.Sprintf("knowledge base %q was deleted: the files not yet stored were dropped", snap.KB)
			}
		})
		return
	}
	t := s.ticket(kb.Name)
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.run(j, kb, s.spooledUploads(rec, rec.Next), rec.Next, t, nil)
	}()
}

// Stop cancels every job, waits until they have stopped, and leaves their
// spool as it is: a later Resume starts them again. Call it before the
// store closes.
func (s *Service) Stop() {
	s.mu.Lock()
	for _, j := range s.jobs {
		if j.cancel != nil {
			j.cancel(errStopped)
		}
	}
	s.mu.Unlock()
	s.running.Wait()
}

// errStopped is the cause of the context of a job stopped by Stop.
var errStopped = errors.New("ingest service stopped")
