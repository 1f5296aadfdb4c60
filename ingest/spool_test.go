package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// notes are n small Markdown files, one document each.
func notes(prefix string, n int) []kefu.Upload {
	var ups []kefu.Upload
	for i := range n {
		ups = append(ups, upload(fmt.Sprintf("%s-%02d.md", prefix, i), fmt.Appendf(nil, "# Note %d\n\nThe %s note number %d about parcels.", i, prefix, i)))
	}
	return ups
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func spooledFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", dataName))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A job stopped half way (Stop, as kefu serve stops) starts again from its
// spool in a new service: every file is stored once, the job answers under
// its id before and after it ends, and its files leave the spool while its
// record stays. A folder without a record (an upload never accepted) is
// removed.
func TestSpoolStopAndResume(t *testing.T) {
	st, em := newFakeStore(), &fakeEmbedder{dim: 8, gate: make(chan struct{})}
	spool := t.TempDir()
	svc := &Service{Store: st, Embedder: em, CreateKB: true, FlushChunks: 1, Spool: spool}
	if err := svc.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	job, err := svc.Submit(context.Background(), "a", notes("first", 10))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spooledFiles(t, spool)); n != 1 {
		t.Fatalf("%d data files spooled when Submit returned, want 1", n)
	}
	for range 4 {
		em.gate <- struct{}{}
	}
	waitFor(t, "4 documents stored", func() bool { d, _ := st.Documents(context.Background(), "a"); return len(d) == 4 })
	svc.Stop()
	var rec jobRecord
	data, err := os.ReadFile(filepath.Join(spool, job.ID, recordName))
	if err != nil || json.Unmarshal(data, &rec) != nil {
		t.Fatalf("record: %v", err)
	}
	if rec.Next < 3 || rec.Next > 4 || rec.Job.FinishedAt != nil || len(rec.Files) != 10 {
		t.Fatalf("record after the stop: next %d, finished %v, %d files; want 3 or 4 files done of 10, unfinished", rec.Next, rec.Job.FinishedAt, len(rec.Files))
	}
	if err := os.Mkdir(filepath.Join(spool, "job_neveraccepted"), 0o700); err != nil {
		t.Fatal(err)
	}
	puts := st.puts

	em2 := &fakeEmbedder{dim: 8}
	svc2 := &Service{Store: st, Embedder: em2, FlushChunks: 1, Spool: spool}
	if err := svc2.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed job to end", func() bool { j, err := svc2.Job(job.ID); return err == nil && j.FinishedAt != nil })
	j, _ := svc2.Job(job.ID)
	if j.State != kefu.JobDone || len(j.Failed) != 0 || j.Done+j.Unchanged < 10 {
		t.Fatalf("resumed job: %+v", j)
	}
	docs, _ := st.Documents(context.Background(), "a")
	if len(docs) != 10 {
		t.Fatalf("%d documents stored, want 10", len(docs))
	}
	if st.puts-puts > 10-rec.Next {
		t.Errorf("the resumed job stored %d documents; %d files were left", st.puts-puts, 10-rec.Next)
	}
	if files := spooledFiles(t, spool); len(files) != 0 {
		t.Errorf("files left in the spool: %v", files)
	}
	if _, err := os.Stat(filepath.Join(spool, "job_neveraccepted")); !os.IsNotExist(err) {
		t.Errorf("a folder without a record was kept: %v", err)
	}
	svc2.Stop()

	svc3 := &Service{Store: st, Embedder: em2, Spool: spool}
	if err := svc3.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j, err := svc3.Job(job.ID); err != nil || j.State != kefu.JobDone || j.Done != 10-j.Unchanged {
		t.Errorf("the ended job after another restart: %+v %v", j, err)
	}
}

// A job whose KB was deleted and created again while the server was down
// ends as cancelled when it would resume; the new KB gets none of its
// documents and its files leave the spool.
func TestSpoolResumeAfterKBDeleted(t *testing.T) {
	ctx := context.Background()
	st, em := newFakeStore(), &fakeEmbedder{dim: 8, gate: make(chan struct{})}
	spool := t.TempDir()
	svc := &Service{Store: st, Embedder: em, CreateKB: true, FlushChunks: 1, Spool: spool}
	job, err := svc.Submit(ctx, "a", notes("old", 5))
	if err != nil {
		t.Fatal(err)
	}
	svc.Stop()
	if err := st.DeleteKB(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKB(ctx, &kefu.KB{Name: "a", Model: em.ModelID(), Dim: 8, Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	svc2 := &Service{Store: st, Embedder: &fakeEmbedder{dim: 8}, Spool: spool}
	if err := svc2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := svc2.Job(job.ID)
	if err != nil || j.State != kefu.JobCancelled || !strings.Contains(j.Error, "deleted") {
		t.Fatalf("job of the deleted KB: %+v %v", j, err)
	}
	if docs, _ := st.Documents(ctx, "a"); len(docs) != 0 {
		t.Errorf("the new KB holds %d documents of the old job", len(docs))
	}
	if files := spooledFiles(t, spool); len(files) != 0 {
		t.Errorf("files left in the spool: %v", files)
	}
}

// Deleting a KB (CancelKB) cancels its running job: it ends as cancelled,
// its files leave the spool, and another KB's job goes on.
func TestCancelKBRemovesItsSpool(t *testing.T) {
	ctx := context.Background()
	st, em := newFakeStore(), &fakeEmbedder{dim: 8, gate: make(chan struct{})}
	spool := t.TempDir()
	svc := &Service{Store: st, Embedder: em, CreateKB: true, FlushChunks: 1, Spool: spool, MaxRunning: 2}
	a, err := svc.Submit(ctx, "a", notes("a", 5))
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Submit(ctx, "b", notes("b", 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteKB(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	svc.CancelKB("a")
	waitFor(t, "a's job to end", func() bool { j, _ := svc.Job(a.ID); return j.FinishedAt != nil })
	close(em.gate)
	waitFor(t, "b's job to end", func() bool { j, _ := svc.Job(b.ID); return j.FinishedAt != nil })
	if j, _ := svc.Job(a.ID); j.State != kefu.JobCancelled || len(j.Failed) != 0 {
		t.Errorf("a's job: %+v", j)
	}
	if j, _ := svc.Job(b.ID); j.State != kefu.JobDone || j.Done != 3 {
		t.Errorf("b's job: %+v", j)
	}
	if files := spooledFiles(t, spool); len(files) != 0 {
		t.Errorf("files left in the spool: %v", files)
	}
}

// The spool holds at most MaxSpoolBytes of waiting files: an upload over
// what is left is refused with ERATELIMIT naming the flag, and keeps
// nothing; once the job ahead ends, it fits again.
func TestSpoolLimit(t *testing.T) {
	ctx := context.Background()
	st, em := newFakeStore(), &fakeEmbedder{dim: 8, gate: make(chan struct{})}
	spool := t.TempDir()
	svc := &Service{Store: st, Embedder: em, CreateKB: true, Spool: spool, MaxSpoolBytes: 300}
	first, err := svc.Submit(ctx, "a", notes("first", 3)) // about 150 bytes
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Submit(ctx, "a", notes("second", 5))
	if kefu.ErrorCode(err) != kefu.ERATELIMIT || !strings.Contains(err.Error(), "--max-spool-bytes") {
		t.Fatalf("an upload over the spool's room: %v", err)
	}
	entries, _ := os.ReadDir(spool)
	if len(entries) != 1 {
		t.Errorf("%d jobs in the spool after the refusal, want 1", len(entries))
	}
	close(em.gate)
	waitFor(t, "the first job to end", func() bool { j, _ := svc.Job(first.ID); return j.FinishedAt != nil })
	if _, err := svc.Submit(ctx, "a", notes("second", 5)); err != nil {
		t.Fatalf("after the first job ended: %v", err)
	}
	svc.Stop()
}

// BenchmarkSpool measures what keeping an upload costs before its 202: 100
// files of 4 KiB written and synced, and the job record, against the same
// upload accepted in memory only (Spool "").
func BenchmarkSpool(b *testing.B) {
	data := make([]byte, 4<<10)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	var ups []kefu.Upload
	for i := range 100 {
		ups = append(ups, upload(fmt.Sprintf("f%03d.txt", i), data))
	}
	for _, mode := range []string{"memory", "spool"} {
		b.Run(mode, func(b *testing.B) {
			st, em := newFakeStore(), &fakeEmbedder{dim: 8, gate: make(chan struct{})} // jobs wait: Submit alone is timed
			svc := &Service{Store: st, Embedder: em, CreateKB: true}
			if mode == "spool" {
				svc.Spool = b.TempDir()
			}
			for b.Loop() {
				if _, err := svc.Submit(context.Background(), "a", ups); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			svc.Stop()
		})
	}
}
