package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// Uploads survive kill -9 of `kefu serve`: batches of files are uploaded to
// a real server process, which is killed (SIGKILL) at a random moment
// during or after each upload and started again on the same data
// directory. At the end every file of every upload that was answered 202
// is stored, once, and every accepted job answers GET /v1/jobs/{id} as done
// without failures. KEFU_KILLS sets the number of kills (default 3, to keep
// the test near a minute: each start loads the model and the word
// segmenter); KEFU_KILL_SEED replays a run.
func TestKillDuringUpload(t *testing.T) {
	testenv.RequireORT(t)
	testenv.Model(t, "tiny-en")
	kills := 3
	if v, err := strconv.Atoi(os.Getenv("KEFU_KILLS")); err == nil && v > 0 {
		kills = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("KEFU_KILL_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (KEFU_KILL_SEED=%d replays it), %d kills", seed, seed, kills)
	rng := rand.New(rand.NewPCG(seed, seed))
	data := filepath.Join(t.TempDir(), "data")

	accepted := map[string][]string{} // job id → its files' document ids
	var ids []string
	pendingFiles := 0 // spooled files not yet ingested at each kill, summed
	unfinished := 0   // kills that came while the API showed the round's job unfinished
	for round := range kills {
		k := startServe(t, data)
		if round == 0 {
			if code, body := k.Do("POST", "/v1/kbs", strings.NewReader(`{"name":"a"}`), "Content-Type", "application/json"); code != 201 {
				t.Fatalf("create: %d %s", code, body)
			}
		}
		n := 60 + rng.IntN(90)
		ct, body, docs := uploadBatch(t, round, n)
		// Kill at a random moment: while the upload is read, or while its
		// files (and earlier rounds' resumed ones) are ingested.
		delay := time.Duration(rng.IntN(2000)) * time.Millisecond
		// On a fast machine every random moment may come after the work
		// is done; the last round then kills as soon as the upload is
		// accepted, so at least one kill meets unfinished work.
		atAccept := round == kills-1 && unfinished == 0
		if atAccept {
			delay = 0
		}
		type result struct {
			code int
			body []byte
		}
		res := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest("POST", k.URL+"/v1/kbs/a/documents", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				res <- result{}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			res <- result{resp.StatusCode, b}
		}()
		time.Sleep(delay)
		var r result
		var before kefu.Job // the job as the API showed it just before the kill
		if atAccept {
			r = <-res
			k.Kill()
		} else {
			select {
			case r = <-res:
				if r.code == 202 {
					json.Unmarshal(r.body, &before)
					if code, b := k.Do("GET", "/v1/jobs/"+before.ID, nil); code == 200 {
						json.Unmarshal(b, &before)
					}
				}
				k.Kill()
			default:
				k.Kill()
				r = <-res
			}
		}
		pending := spooledFiles(t, data)
		if before.ID != "" && before.FinishedAt == nil || atAccept && r.code == 202 && pending > 0 {
			unfinished++
		}
		pendingFiles += pending
		switch r.code {
		case 202:
			var j kefu.Job
			if err := json.Unmarshal(r.body, &j); err != nil {
				t.Fatal(err)
			}
			accepted[j.ID] = docs
			ids = append(ids, docs...)
			t.Logf("round %d: %d files accepted as %s, killed %v after the upload began, the job at %s with %d documents done; %d files of this and earlier uploads not yet ingested",
				round, n, j.ID, delay, before.State, before.Done, pending)
		case 0:
			t.Logf("round %d: killed %v after the upload began, before it was answered: not accepted; %d files not yet ingested", round, delay, pending)
		default:
			t.Fatalf("round %d: upload answered %d %s", round, r.code, r.body)
		}
	}
	if unfinished == 0 {
		t.Fatalf("no kill came while an accepted job was unfinished (seed %d): nothing was tested", seed)
	}

	k := startServe(t, data)
	defer k.Stop()
	for id, docs := range accepted {
		j := waitJob(t, k, id)
		if j.State != kefu.JobDone || len(j.Failed) != 0 {
			t.Errorf("job %s after the restarts: %s, failed %+v", id, j.State, j.Failed)
		}
		if j.Done+j.Unchanged < len(docs) {
			t.Errorf("job %s: %d done + %d unchanged of %d files", id, j.Done, j.Unchanged, len(docs))
		}
	}
	code, body := k.Do("GET", "/v1/kbs/a/documents", nil)
	if code != 200 {
		t.Fatalf("documents: %d %s", code, body)
	}
	var list struct{ Documents []kefu.Document }
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	chunks := 0
	for _, d := range list.Documents {
		stored[d.ID]++
		chunks += d.Chunks
	}
	lost, dups := 0, 0
	for _, id := range ids {
		if stored[id] == 0 {
			lost++
			t.Errorf("accepted file %s was never stored", id)
		}
	}
	for id, n := range stored {
		if n > 1 {
			dups++
			t.Errorf("document %s stored %d times", id, n)
		}
	}
	var kb struct{ Stats kefu.KBStats }
	if code, body := k.Do("GET", "/v1/kbs/a", nil); code != 200 || json.Unmarshal(body, &kb) != nil {
		t.Fatalf("kb: %d %s", code, body)
	}
	if kb.Stats.Documents != len(list.Documents) || kb.Stats.Chunks > chunks {
		t.Errorf("the KB counts %d documents and %d chunks; its documents list %d and %d", kb.Stats.Documents, kb.Stats.Chunks, len(list.Documents), chunks)
	}
	// Jobs whose 202 the kill cut off may have been accepted too: once
	// every job ends, the spool keeps no file.
	dirs, _ := os.ReadDir(filepath.Join(data, "jobs"))
	for _, d := range dirs {
		if _, ok := accepted[d.Name()]; !ok {
			waitJob(t, k, d.Name())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(data, "jobs", "*", "files")); len(left) != 0 {
		t.Errorf("%d jobs' files left in the spool after every job ended", len(left))
	}
	t.Logf("%d kills, %d of them with the round's job unfinished; %d uploads accepted with %d files, %d files waiting in the spool at the kills: %d lost, %d stored twice",
		kills, unfinished, len(accepted), len(ids), pendingFiles, lost, dups)
}

// spooledFiles counts the files the spool's records list as not yet done
// with, in jobs that have not ended.
func spooledFiles(t *testing.T, data string) int {
	recs, _ := filepath.Glob(filepath.Join(data, "jobs", "*", "job.json"))
	n := 0
	for _, p := range recs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var rec struct {
			Files []json.RawMessage `json:"files"`
			Next  int               `json:"next"`
		}
		if json.Unmarshal(b, &rec) == nil {
			n += len(rec.Files) - rec.Next
		}
	}
	return n
}

// uploadBatch is a multipart upload of n Markdown files named for the
// round, and their document ids.
func uploadBatch(t *testing.T, round, n int) (string, []byte, []string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	var ids []string
	for i := range n {
		name := fmt.Sprintf("r%02d-%03d.md", round, i)
		fw, err := w.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(fw, "# Note %d of round %d\n\n", i, round)
		for p := range 6 {
			fmt.Fprintf(fw, "Paragraph %d of note %d, round %d: the shop ships parcel %d to the customer and keeps the receipt number %d on file.\n\n", p, i, round, i*7+p, round*1000+i*10+p)
		}
		ids = append(ids, name)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes(), ids
}

// startServe starts `kefu serve` on data with the tiny model and waits
// until it is ready (three minutes at most).
func startServe(t *testing.T, data string) *testenv.Serve {
	t.Helper()
	return testenv.StartServe(t, testenv.ServeOptions{DataDir: data, Args: []string{"--model", "tiny-en"}, Ready: 3 * time.Minute})
}

// waitJob polls a job of the server until it ends (two minutes at most).
func waitJob(t *testing.T, k *testenv.Serve, id string) kefu.Job {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body := k.Do("GET", "/v1/jobs/"+id, nil)
		if code != 200 {
			t.Fatalf("job %s after a restart: %d %s", id, code, body)
		}
		var j kefu.Job
		if err := json.Unmarshal(body, &j); err != nil {
			t.Fatal(err)
		}
		if j.FinishedAt != nil {
			return j
		}
	}
	t.Fatalf("job %s did not end in two minutes", id)
	return kefu.Job{}
}
