package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

func upload(name string, data []byte) kefu.Upload {
	return kefu.Upload{Name: name, Size: int64(len(data)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

func newService() (*Service, *fakeStore, *fakeEmbedder) {
	st, em := newFakeStore(), &fakeEmbedder{dim: 8}
	return &Service{Store: st, Embedder: em, CreateKB: true, BatchSize: 16}, st, em
}

func storedChunks(t *testing.T, st *fakeStore, kb string) []*kefu.Chunk {
	t.Helper()
	docs, _ := st.Documents(context.Background(), kb)
	var out []*kefu.Chunk
	for _, d := range docs {
		cs, _ := st.Chunks(context.Background(), kb, d.ID)
		if len(cs) != d.Chunks {
			t.Errorf("%s: %d chunks stored, document says %d", d.ID, len(cs), d.Chunks)
		}
		out = append(out, cs...)
	}
	return out
}

func TestIngestDemo(t *testing.T) {
	svc, st, em := newService()
	ctx := context.Background()
	root := testenv.Shared(t, "data/demo")
	ups, _ := Walk(root)
	var progress []kefu.Job
	job, err := svc.Ingest(ctx, "demo", ups, func(j kefu.Job) { progress = append(progress, j) })
	if err != nil {
		t.Fatal(err)
	}
	if job.State != kefu.JobDone || job.FinishedAt == nil || len(job.Failed) != 0 {
		t.Fatalf("job %+v", job)
	}
	if job.Files != len(ups) || job.Documents != len(ups) || job.Done != len(ups) {
		t.Errorf("files %d documents %d done %d, want %d", job.Files, job.Documents, job.Done, len(ups))
	}
	chunks := storedChunks(t, st, "demo")
	texts := 0
	for _, c := range chunks {
		texts += len(c.EmbedTexts())
		if c.Kind == kefu.KindPassage && c.Tokens > 128 {
			t.Errorf("%s: %d tokens over the model's 128", c.ID, c.Tokens)
		}
	}
	if job.Chunks != len(chunks) || job.Embedded != len(em.embedded()) || job.Embedded > texts {
		t.Errorf("job chunks %d embedded %d; stored %d chunks, %d texts, embedder saw %d", job.Chunks, job.Embedded, len(chunks), texts, len(em.embedded()))
	}
	// Progress went forward to the end.
	last := -1
	for _, p := range progress {
		if p.Done < last {
			t.Fatalf("progress went back: %d after %d", p.Done, last)
		}
		last = p.Done
	}
	if last != len(ups) {
		t.Errorf("last progress %d", last)
	}
	// The refund FAQ is found by its question's vector, with its metadata.
	qv, _ := em.EmbedQueries(ctx, []string{"怎么申请退款？"})
	cands, _ := st.Search(ctx, "demo", kefu.SearchRequest{Vector: qv[0], K: 3})
	top := cands.Chunks[cands.Vector[0].ChunkID]
	if top.Kind != kefu.KindFAQ || top.Questions[0] != "怎么申请退款？" || top.Category != "售后" || top.Lang != "zh" || top.DocID != "shop_faq.csv" || top.Source != "shop_faq.csv" {
		t.Errorf("top hit %+v", top)
	}
	// A help-center passage is found by keyword with its heading path.
	cands, _ = st.Search(ctx, "demo", kefu.SearchRequest{Query: "garbage in garbage out"})
	if len(cands.Keyword) == 0 {
		t.Fatal("passage not found")
	}
	c := cands.Chunks[cands.Keyword[0].ChunkID]
	if c.DocID != "help/faq.mdx" || c.HeadingPath() != "FAQs > General features > What sets RAGFlow apart from other RAG products?" || c.URL != "/faq" || c.Title != "FAQs" {
		t.Errorf("passage %+v", c)
	}
	doc, _ := st.Document(ctx, "demo", "help/faq.mdx")
	if doc.Format != FormatMarkdown || doc.Status != kefu.DocIndexed || doc.Title != "FAQs" || doc.Hash == "" || doc.Bytes == 0 {
		t.Errorf("document %+v", doc)
	}

	// Again: nothing changed, nothing embedded or written.
	puts := st.puts
	before := len(em.embedded())
	job, err = svc.Ingest(ctx, "demo", ups, nil)
	if err != nil || job.Unchanged != len(ups) || job.Embedded != 0 || job.Done != 0 || st.puts != puts || len(em.embedded()) != before {
		t.Errorf("re-ingest: %v %+v, %d puts", err, job, st.puts-puts)
	}
}

func TestIngestChangedDocumentReusesVectors(t *testing.T) {
	svc, st, em := newService()
	ctx := context.Background()
	var sections []string
	for i := 0; i < 6; i++ {
		sections = append(sections, "## Section "+string(rune('A'+i))+"\n\nSome text about topic "+string(rune('A'+i))+". It has two sentences.")
	}
	v1 := "# Guide\n\n" + strings.Join(sections, "\n\n")
	if _, err := svc.Ingest(ctx, "kb", []kefu.Upload{upload("guide.md", []byte(v1))}, nil); err != nil {
		t.Fatal(err)
	}
	created, _ := st.Document(ctx, "kb", "guide.md")
	first := len(em.embedded())
	sections[2] = "## Section C\n\nThis section was rewritten entirely."
	v2 := "# Guide\n\n" + strings.Join(sections, "\n\n")
	time.Sleep(2 * time.Millisecond)
	job, err := svc.Ingest(ctx, "kb", []kefu.Upload{upload("guide.md", []byte(v2))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: six section chunks, one changed.
	if job.Chunks != 6 || job.Reused != 5 || job.Embedded != 1 || len(em.embedded()) != first+1 {
		t.Errorf("job %+v", job)
	}
	if got := em.embedded()[first]; !strings.Contains(got, "rewritten entirely") || !strings.HasPrefix(got, "Guide > Section C\n") {
		t.Errorf("embedded %q", got)
	}
	chunks := storedChunks(t, st, "kb")
	if len(chunks) != 6 {
		t.Fatalf("%d chunks stored", len(chunks))
	}
	doc, _ := st.Document(ctx, "kb", "guide.md")
	if !doc.CreatedAt.Equal(created.CreatedAt) || !doc.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("times: created %v → %v, updated %v → %v", created.CreatedAt, doc.CreatedAt, created.UpdatedAt, doc.UpdatedAt)
	}
}

func TestIngestFailuresDoNotStopOthers(t *testing.T) {
	svc, st, em := newService()
	svc.Limits = Limits{MaxFileBytes: 4096}
	ctx := context.Background()
	st.CreateKB(ctx, &kefu.KB{Name: "kb", Model: "fake-v1", Dim: 8, Settings: kefu.DefaultSettings()})
	// The old version of b.md survives its failed update.
	if _, err := svc.Ingest(ctx, "kb", []kefu.Upload{upload("b.md", []byte("# B\n\nOld text."))}, nil); err != nil {
		t.Fatal(err)
	}
	em.fail = "boom"
	ups := []kefu.Upload{
		upload("a.md", []byte("# A\n\nFine text.")),
		upload("scan.pdf", pdfImageOnly()),
		upload("photo.png", []byte("\x89PNG\r\n\x1a\n....")),
		upload("b.md", []byte("# B\n\nThis goes boom.")),
		{Name: "huge.txt", Size: 1 << 20, Open: func() (io.ReadCloser, error) { t.Error("huge.txt opened"); return nil, nil }},
		{Name: "liar.txt", Size: -1, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(make([]byte, 5000))), nil }},
		upload("empty.md", []byte("---\ntitle: x\n---\n")),
		upload("c.txt", []byte("Also fine.")),
	}
	job, err := svc.Ingest(ctx, "kb", ups, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range job.Failed {
		got[f.Source] = f.Code + ": " + f.Reason
	}
	want := map[string]string{
		"scan.pdf":  "unsupported: no text layer: the PDF is scanned or holds only images; run it through OCR first",
		"photo.png": "unsupported: PNG image files are not supported",
		"b.md":      "unavailable: model crashed on purpose",
		"huge.txt":  "too_large: more than 4096 bytes (limit --max-file-bytes)",
		"liar.txt":  "too_large: more than 4096 bytes (limit --max-file-bytes)",
		"empty.md":  "invalid: no text to index",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) || job.Done != 2 {
		t.Errorf("failed %v, done %d", got, job.Done)
	}
	cs, _ := st.Chunks(ctx, "kb", "b.md")
	if len(cs) != 1 || cs[0].Text != "Old text." {
		t.Errorf("b.md after a failed update: %+v", cs)
	}
}

func TestIngestZIPAndDuplicates(t *testing.T) {
	svc, st, _ := newService()
	ctx := context.Background()
	dup := "# Same\n\nRepeated paragraph.\n\n# Same\n\nRepeated paragraph.\n\n# Other\n\nDifferent."
	data := zipOf(t, "docs/a.md", dup, "docs/_category_.json", `{"label":"x"}`, "b.txt", "Plain.")
	up := upload("kb.zip", data)
	up.DocID = "bundle"
	up.Meta = map[string]string{"team": "support"}
	job, err := svc.Ingest(ctx, "kb", []kefu.Upload{up}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.Files != 3 || job.Done != 2 || len(job.Failed) != 1 || job.Failed[0].Source != "kb.zip/docs/_category_.json" {
		t.Errorf("job %+v", job)
	}
	docs, _ := st.Documents(ctx, "kb")
	var ids []string
	for _, d := range docs {
		ids = append(ids, d.ID+" "+d.Source+" "+d.Meta["team"])
	}
	if strings.Join(ids, "|") != "bundle/b.txt kb.zip/b.txt support|bundle/docs/a.md kb.zip/docs/a.md support" {
		t.Errorf("documents %q", ids)
	}
	cs, _ := st.Chunks(ctx, "kb", "bundle/docs/a.md")
	if len(cs) != 2 || cs[0].Text != "Repeated paragraph." || cs[1].Text != "Different." {
		t.Errorf("duplicate chunk kept: %+v", cs)
	}
}

func TestSubmitAndJobs(t *testing.T) {
	svc, _, _ := newService()
	svc.MaxJobs = 2
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		job, err := svc.Submit(ctx, "kb", []kefu.Upload{upload("a.md", []byte("# A\n\nText."))})
		if err != nil {
			t.Fatal(err)
		}
		if job.State != kefu.JobQueued && job.State != kefu.JobRunning && job.State != kefu.JobDone {
			t.Errorf("state %q", job.State)
		}
		ids = append(ids, job.ID)
		deadline := time.Now().Add(10 * time.Second)
		for {
			j, err := svc.Job(job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == kefu.JobDone {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s never finished", job.ID)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, err := svc.Job(ids[0]); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("oldest job kept: %v", err)
	}
	for _, id := range ids[1:] {
		if _, err := svc.Job(id); err != nil {
			t.Errorf("job %s: %v", id, err)
		}
	}
}

func TestIngestKBChecks(t *testing.T) {
	svc, st, _ := newService()
	svc.CreateKB = false
	ctx := context.Background()
	if _, err := svc.Ingest(ctx, "nokb", nil, nil); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("missing kb: %v", err)
	}
	if _, err := svc.Submit(ctx, "Bad Name", nil); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("bad name: %v", err)
	}
	st.CreateKB(ctx, &kefu.KB{Name: "other", Model: "other-model", Dim: 8})
	if _, err := svc.Ingest(ctx, "other", nil, nil); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Errorf("model mismatch: %v", err)
	}
}

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.md": "# A", "sub/b.txt": "b", "sub/_category_.json": "{}", ".git/config": "x",
		".hidden.md": "h", "notes.xyz": "?", "LICENSE": "l", "sub/deep/c.csv": "q,a",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	ups, skipped := Walk(dir)
	var names, skips []string
	for _, u := range ups {
		names = append(names, u.Name)
	}
	for _, s := range skipped {
		skips = append(skips, s.Source+": "+s.Reason)
	}
	sort.Strings(skips)
	if strings.Join(names, ",") != "a.md,sub/b.txt,sub/deep/c.csv" {
		t.Errorf("uploads %v", names)
	}
	want := []string{".git: hidden", ".hidden.md: hidden", "LICENSE: no file extension", "notes.xyz: unknown file type .xyz", "sub/_category_.json: Docusaurus category metadata, not a document"}
	if strings.Join(skips, "\n") != strings.Join(want, "\n") {
		t.Errorf("skipped:\n%s", strings.Join(skips, "\n"))
	}
	rc, _ := ups[0].Open()
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "# A" || ups[0].Size != 3 {
		t.Errorf("upload content %q size %d", b, ups[0].Size)
	}
	one, _ := Walk(filepath.Join(dir, "a.md"))
	if len(one) != 1 || one[0].Name != "a.md" {
		t.Errorf("single file %+v", one)
	}
}

// Jobs wait for a free slot: the second stays queued while the first is
// busy embedding.
func TestJobsQueue(t *testing.T) {
	svc, _, em := newService()
	em.gate = make(chan struct{})
	ctx := context.Background()
	wait := func(id string, state kefu.JobState) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			j, _ := svc.Job(id)
			if j.State == state {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s, want %s", id, j.State, state)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	first, _ := svc.Submit(ctx, "kb", []kefu.Upload{upload("a.md", []byte("# A\n\nText a."))})
	wait(first.ID, kefu.JobRunning)
	second, _ := svc.Submit(ctx, "kb", []kefu.Upload{upload("b.md", []byte("# B\n\nText b."))})
	time.Sleep(50 * time.Millisecond)
	if j, _ := svc.Job(second.ID); j.State != kefu.JobQueued {
		t.Errorf("second job %s while the first holds the slot", j.State)
	}
	close(em.gate)
	wait(first.ID, kefu.JobDone)
	wait(second.ID, kefu.JobDone)
	if j, _ := svc.Job(second.ID); j.Done != 1 {
		t.Errorf("second job %+v", j)
	}
}

// waitState polls a job until it reaches state, failing after a minute.
func waitState(t *testing.T, svc *Service, id string, state kefu.JobState) kefu.Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := svc.Job(id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return *j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %s: %+v", id, j.State, state, j)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A KB busy with a long job delays another KB's small job by one file, not
// by the whole job: the scheduler gives the KBs turns file by file. The
// embedder holds every call until the test lets one through, so the order
// of the calls, not time, tells who went first.
func TestJobsOfOtherKBsDoNotQueueBehind(t *testing.T) {
	svc, _, em := newService()
	svc.FlushChunks = 1 // each file is embedded in its own turn
	em.gate = make(chan struct{})
	ctx := context.Background()
	var big []kefu.Upload
	for i := range 3 {
		big = append(big, upload(fmt.Sprintf("a%d.md", i), []byte(fmt.Sprintf("# A%d\n\nSlow file %d of KB a.", i, i))))
	}
	a, err := svc.Submit(ctx, "a", big)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, svc, a.ID, kefu.JobRunning) // a0 waits in the embedder
	b, err := svc.Submit(ctx, "b", []kefu.Upload{upload("b.md", []byte("# B\n\nSmall file of KB b."))})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !svc.sched.waiting("b"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("job b never asked for a turn")
		}
	}
	em.gate <- struct{}{} // a0 is embedded
	em.gate <- struct{}{} // the next call is b's, not a1's
	jb := waitState(t, svc, b.ID, kefu.JobDone)
	if ja, _ := svc.Job(a.ID); jb.Done != 1 || ja.Done != 1 {
		t.Errorf("b done %d; a done %d when b finished, want 1 (one file)", jb.Done, ja.Done)
	}
	close(em.gate)
	if ja := waitState(t, svc, a.ID, kefu.JobDone); ja.Done != 3 {
		t.Errorf("job a: %+v", ja)
	}
	var order []string
	for _, s := range em.embedded() {
		order = append(order, strings.Fields(s)[0])
	}
	if got := strings.Join(order, " "); !strings.HasPrefix(got, "A0 B A1") {
		t.Errorf("embedding order %q, want A0 B A1 …", got)
	}
}

// A file that takes longer than MaxTime fails with too_large naming the
// limit and its flag, whichever stage runs out of time; the job's other
// files go on.
func TestFileDeadline(t *testing.T) {
	many := strings.Repeat("A sentence of the long file. ", 20)
	var long strings.Builder
	for range 3000 {
		long.WriteString(many + "\n\n")
	}
	for _, stage := range []string{"chunk", "embed"} {
		t.Run(stage, func(t *testing.T) {
			svc, _, em := newService()
			svc.Limits = Limits{MaxTime: 300 * time.Millisecond}
			files := []kefu.Upload{upload("small.md", []byte("# S\n\nA small file."))}
			switch stage {
			case "chunk": // a counter slow enough that the file cannot be chunked in time
				svc.Counter = slowCounter{wordCounter{}, time.Millisecond}
				files = append(files, upload("long.md", []byte(long.String())))
			case "embed": // an embedder that hangs on the long file's text until its context ends
				em.hang = "slow to embed"
				files = append(files, upload("long.md", []byte("# L\n\nThis one is slow to embed.")))
			}
			job, err := svc.Ingest(context.Background(), "kb", files, nil)
			if err != nil {
				t.Fatal(err)
			}
			if job.Done != 1 || len(job.Failed) != 1 {
				t.Fatalf("job %+v", job)
			}
			f := job.Failed[0]
			if f.Source != "long.md" || f.Code != kefu.ETOOLARGE || !strings.Contains(f.Reason, "300ms") || !strings.Contains(f.Reason, "--max-file-time") {
				t.Errorf("failure %+v", f)
			}
		})
	}
}

// slowCounter takes d per count.
type slowCounter struct {
	kefu.TokenCounter
	d time.Duration
}

func (c slowCounter) CountTokens(s string) int {
	time.Sleep(c.d)
	return c.TokenCounter.CountTokens(s)
}
