package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
)

// These tests run the ingest service against the real embedded store: what
// goes in through a format must come out of a search, with its metadata.

func realStore(t *testing.T) (*index.Store, *Service) {
	t.Helper()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	emb := &fakeEmbedder{dim: 8}
	if err := st.CreateKB(context.Background(), &kefu.KB{Name: "kb", Model: emb.ModelID(), Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	return st, &Service{Store: st, Embedder: emb}
}

// found returns the chunks a keyword search for q ranks first.
func found(t *testing.T, st *index.Store, q string) *kefu.Chunk {
	t.Helper()
	c, err := st.Search(context.Background(), "kb", kefu.SearchRequest{Query: q, K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Keyword) == 0 {
		t.Fatalf("%q: not found", q)
	}
	return c.Chunks[c.Keyword[0].ChunkID]
}

func TestEveryFormatRoundTrips(t *testing.T) {
	st, svc := realStore(t)
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("退款政策\n\n七天内可以申请退款，款项原路退回。")
	if err != nil {
		t.Fatal(err)
	}
	files := []kefu.Upload{
		upload("policy.md", []byte("# Returns\n\n## Refunds\n\nZebrafish refunds take five business days.\n")),
		upload("help.html", []byte(`<html><head><title>Help center</title></head><body><nav><a href="/">Home</a><a href="/x">Menu entry lemur</a></nav><article><h1>Shipping</h1><p>Quokka parcels ship every day from our warehouse.</p></article><footer>Copyright lemur</footer></body></html>`)),
		upload("manual.pdf", pdfText([][]any{{"Introduction to the manual."}, {"Narwhal facts live on page two."}})),
		upload("warranty.docx", docxOf(t, wp("Heading1", -1, "Warranty")+wp("", -1, "Axolotl coverage lasts one year."), "", "Warranty terms")),
		upload("notes.txt", []byte("Platypus notes for the support team.\n")),
		upload("faq.csv", []byte("question,answer,similar\nWhere is the capybara?,In the garden.,Capybara location|Find capybara\n")),
		upload("faq.xlsx", xlsxOf(t, map[string][][]string{"FAQ": {{"问题", "答案"}, {"水豚在哪里？", "在花园里。"}}})),
		upload("records.json", []byte(`[{"title":"Pangolin guide","text":"Pangolins eat ants and termites.","url":"https://help.example/pangolin"}]`)),
		upload("records.jsonl", []byte("{\"title\":\"Ibex\",\"text\":\"Ibex climb steep cliffs.\"}\n{\"title\":\"Yak\",\"text\":\"Yak wool is warm.\"}\n")),
		upload("bundle.zip", zipOf(t, "a/tapir.md", "# Tapir\n\nTapir snouts are flexible.\n", "okapi.txt", "Okapi live in forests.\n")),
		upload("gbk.txt", []byte(gbk)),
	}
	job, err := svc.Ingest(context.Background(), "kb", files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Failed) > 0 {
		t.Fatalf("failed: %+v", job.Failed)
	}

	c := found(t, st, "zebrafish")
	if c.DocID != "policy.md" || c.HeadingPath() != "Returns > Refunds" || c.Lang != "en" || c.Source != "policy.md" {
		t.Errorf("markdown chunk %+v", c)
	}
	c = found(t, st, "quokka")
	if !strings.Contains(c.Text, "Quokka parcels") || strings.Contains(c.ContextText(), "Menu entry") {
		t.Errorf("html chunk %q", c.ContextText())
	}
	if cs, _ := st.Search(context.Background(), "kb", kefu.SearchRequest{Query: "lemur", K: 3}); len(cs.Keyword) != 0 {
		t.Errorf("the page's menu and footer were indexed: %v", cs.Keyword)
	}
	if c = found(t, st, "narwhal"); c.Page != 2 || c.DocID != "manual.pdf" {
		t.Errorf("pdf chunk page %d doc %s", c.Page, c.DocID)
	}
	if c = found(t, st, "axolotl"); !strings.Contains(c.HeadingPath(), "Warranty") {
		t.Errorf("docx chunk headings %q", c.HeadingPath())
	}
	if c = found(t, st, "platypus"); c.Source != "notes.txt" {
		t.Errorf("txt chunk %+v", c)
	}
	if c = found(t, st, "capybara location"); c.Kind != kefu.KindFAQ || c.Text != "In the garden." || len(c.Questions) != 3 {
		t.Errorf("csv FAQ %+v", c)
	}
	if c = found(t, st, "水豚"); c.Kind != kefu.KindFAQ || c.Lang != "zh" || c.Text != "在花园里。" {
		t.Errorf("xlsx FAQ %+v", c)
	}
	if c = found(t, st, "pangolins"); c.URL != "https://help.example/pangolin" || c.Title != "Pangolin guide" {
		t.Errorf("json record %+v", c)
	}
	if c = found(t, st, "yak wool"); c.Title != "Yak" {
		t.Errorf("jsonl record %+v", c)
	}
	if c = found(t, st, "tapir snouts"); !strings.HasPrefix(c.DocID, "bundle.zip") || !strings.Contains(c.Source, "tapir.md") {
		t.Errorf("zip member %+v", c)
	}
	found(t, st, "okapi")
	if c = found(t, st, "退款"); c.DocID != "gbk.txt" || c.Lang != "zh" {
		t.Errorf("GBK text %+v", c)
	}
}

func TestReindexUsesTheStoredSource(t *testing.T) {
	st, svc := realStore(t)
	ctx := context.Background()
	var long strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&long, "Sentence number %d about the refund policy of the shop.\n\n", i)
	}
	files := []kefu.Upload{upload("long.md", []byte(long.String())), upload("bundle.zip", zipOf(t, "one.md", long.String()))}
	if _, err := svc.Ingest(ctx, "kb", files, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Chunks(ctx, "kb", "long.md")
	kb, _ := st.KB(ctx, "kb")
	kb.Settings.Chunking.MaxTokens = 32
	if err := st.UpdateKB(ctx, kb); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"long.md", "bundle.zip/one.md"} {
		job, err := svc.Reindex(ctx, "kb", id)
		if err != nil {
			t.Fatalf("reindex %s: %v", id, err)
		}
		waitJob(t, svc, job.ID)
		j, _ := svc.Job(job.ID)
		if len(j.Failed) > 0 || j.Done != 1 || j.Unchanged != 0 {
			t.Fatalf("reindex %s job %+v", id, j)
		}
		after, _ := st.Chunks(ctx, "kb", id)
		if len(after) <= len(before) {
			t.Errorf("%s: %d chunks after re-indexing at 32 tokens, %d before", id, len(after), len(before))
		}
	}
	if _, err := svc.Reindex(ctx, "kb", "nope"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("reindex of a missing document: %v", err)
	}
}

func waitJob(t *testing.T, svc *Service, id string) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		j, err := svc.Job(id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == kefu.JobDone || j.State == kefu.JobFailed {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("job %s never finished", id)
}

// Re-ingesting a changed document while searches run: every search sees
// the old version or the new one, whole; after a delete, none.
func TestReingestUnderConcurrentSearch(t *testing.T) {
	st, svc := realStore(t)
	ctx := context.Background()
	version := func(v int) kefu.Upload {
		var b strings.Builder
		for s := 0; s < 4; s++ {
			fmt.Fprintf(&b, "## Part %d\n\nWombat guide edition%d section %d.\n\n", s, v, s)
		}
		return upload("guide.md", []byte(b.String()))
	}
	if _, err := svc.Ingest(ctx, "kb", []kefu.Upload{version(0)}, nil); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var bad, searches atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c, err := st.Search(ctx, "kb", kefu.SearchRequest{Query: "wombat guide", K: 20})
				if err != nil {
					t.Error(err)
					return
				}
				searches.Add(1)
				eds := map[string]bool{}
				for _, s := range c.Keyword {
					for _, f := range strings.Fields(c.Chunks[s.ChunkID].Text) {
						if strings.HasPrefix(f, "edition") {
							eds[f] = true
						}
					}
				}
				if len(eds) != 1 {
					bad.Add(1)
				}
			}
		}()
	}
	for v := 1; v <= 15; v++ {
		if _, err := svc.Ingest(ctx, "kb", []kefu.Upload{version(v)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d searches saw two editions or none", bad.Load(), searches.Load())
	}
	if st2, _ := st.Stats(ctx, "kb"); st2.Documents != 1 {
		t.Errorf("%d documents after 15 re-ingests of one file", st2.Documents)
	}
	if err := st.DeleteDocument(ctx, "kb", "guide.md"); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Search(ctx, "kb", kefu.SearchRequest{Query: "wombat", K: 5}); len(c.Keyword) != 0 {
		t.Errorf("deleted document still found: %v", c.Keyword)
	}
}
