package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
)

// gatedEmbedder is the real model behind a gate: the first open calls of
// EmbedPassages go through, the next ones wait until release is closed,
// and then finish whether or not their context has ended (as a batch
// already inside the runtime does), so a cancelled job's write reaches the
// store. Test equipment: it holds an ingest job at a known point, and
// proves nothing about the model.
type gatedEmbedder struct {
	kefu.Embedder
	open    atomic.Int32
	waiting atomic.Int32
	release chan struct{}
}

func (g *gatedEmbedder) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	if g.open.Add(-1) < 0 {
		g.waiting.Add(1)
		<-g.release
	}
	return g.Embedder.EmbedPassages(context.WithoutCancel(ctx), texts)
}

// Deleting a KB while its upload is being ingested cancels the job: after
// the KB is created again under the same name and the job let go, no
// document of the old upload lands in the new KB, the old job reports
// cancelled, and the new KB takes uploads of its own.
func TestDeleteKBCancelsItsJobs(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gate := &gatedEmbedder{Embedder: s.emb, release: make(chan struct{})}
	gate.open.Store(3)
	released := false
	defer func() {
		if !released {
			close(gate.release)
		}
	}()
	ing := &ingest.Service{Store: st, Embedder: gate, FlushChunks: 1} // a commit per document
	_, base := serve(t, api.Config{Store: st, Ingester: ing, Embedder: gate, Keys: st, DevMode: true})

	if r := call(t, "POST", base+"/v1/kbs", "", map[string]any{"name": "a"}, nil); r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, bodyOf(r))
	}
	var files []file
	for i := range 20 {
		files = append(files, file{fmt.Sprintf("old-%02d.md", i), fmt.Sprintf("# Old %d\n\nThe old knowledge base's lantern note number %d.", i, i)})
	}
	resp, raw := postUpload(t, base, "", "a", "", files...)
	if resp.StatusCode != 202 {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	var job kefu.Job
	if err := json.Unmarshal(raw, &job); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); gate.waiting.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the job never reached its fourth document")
		}
	}
	if docs, _ := st.Documents(ctx, "a"); len(docs) != 3 {
		t.Fatalf("before the delete: %d documents stored, want 3", len(docs))
	}

	if r := call(t, "DELETE", base+"/v1/kbs/a", "", nil, nil); r.StatusCode != 204 {
		t.Fatalf("delete: %d %s", r.StatusCode, bodyOf(r))
	}
	if r := call(t, "POST", base+"/v1/kbs", "", map[string]any{"name": "a"}, nil); r.StatusCode != 201 {
		t.Fatalf("create again: %d %s", r.StatusCode, bodyOf(r))
	}
	close(gate.release)
	released = true

	old := waitJob(t, base, "", job.ID)
	if old.State != kefu.JobCancelled || !strings.Contains(old.Error, "deleted") || len(old.Failed) != 0 {
		t.Errorf("the old job ended %s (error %q, %d failures), want cancelled, saying the KB was deleted", old.State, old.Error, len(old.Failed))
	}
	if old.Done > 4 {
		t.Errorf("the old job says %d documents done; at most 4 were under way before the delete", old.Done)
	}
	newJob := uploadText(t, base, "", "a", "new.md", "# New\n\nThe new knowledge base's kite note.")
	if j := waitJob(t, base, "", newJob.ID); j.State != kefu.JobDone || j.Done != 1 {
		t.Fatalf("the new KB's upload: %+v", j)
	}
	docs, err := st.Documents(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	if len(docs) != 1 || docs[0].ID != "new.md" {
		t.Fatalf("the new KB holds %v, want only new.md", ids)
	}
	t.Logf("20 files uploaded, %d stored before the delete; the old job %s; the new KB holds %v", old.Done, old.State, ids)
}
