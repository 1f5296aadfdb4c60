package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// scriptedEvaluator is test equipment standing in for cmd/kefu's
// evaluator: it records each request, reports progress and, when gate is
// set, holds until the test closes it. It proves how the API runs and
// reports evaluation jobs, nothing about evaluation itself (cmd/kefu's
// TestKeysAndEvalThroughServer runs the real one in a child kefu serve).
type scriptedEvaluator struct {
	mu   sync.Mutex
	reqs []kefu.EvalRequest
	gate chan struct{}
	fail error
}

func (e *scriptedEvaluator) Evaluate(ctx context.Context, kb string, req kefu.EvalRequest, progress func(string, int, int)) (string, error) {
	e.mu.Lock()
	e.reqs = append(e.reqs, req)
	gate := e.gate
	e.mu.Unlock()
	progress("test queries", 3, 8)
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if e.fail != nil {
		return "", e.fail
	}
	return "evaluated " + kb, nil
}

func waitEvalJob(t *testing.T, base, key, kb, id string, until func(kefu.EvalJob) bool) kefu.EvalJob {
	t.Helper()
	for range 600 {
		var j kefu.EvalJob
		if r := call(t, "GET", base+"/v1/kbs/"+kb+"/eval/jobs/"+id, key, nil, &j); r.StatusCode != 200 {
			t.Fatalf("eval job %s: %d %s", id, r.StatusCode, bodyOf(r))
		}
		if until(j) {
			return j
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("eval job %s: not there after 30 s", id)
	return kefu.EvalJob{}
}

// POST /v1/kbs/{kb}/eval validates its body in the API's words, needs an
// admin key to fit, runs one evaluation of a KB at a time as a job whose
// progress GET …/eval/jobs/{id} reports, and reports a failure's code and
// message.
func TestEvalJobs(t *testing.T) {
	s := getStack(t)
	ev := &scriptedEvaluator{gate: make(chan struct{})}
	cfg := s.config()
	cfg.Evaluator = ev
	_, base := serve(t, cfg)
	admin, ingestKey := s.newKey(t, kefu.ScopeAdmin, ""), s.newKey(t, kefu.ScopeIngest, "")
	questions := `{"question": "how long does a refund take", "doc_ids": ["shop_faq.csv"]}` + "\n"

	for _, c := range []struct {
		body any
		key  string
		code int
		want string
	}{
		{map[string]any{}, admin, 400, `nothing to do`},
		{"{not json", admin, 400, `body must be JSON`},
		{map[string]any{"calibrate": true}, admin, 400, `need labelled questions`},
		{map[string]any{"questions": questions, "self_calibrate": true, "calibrate": true}, admin, 400, `give one`},
		{map[string]any{"questions": questions, "mix_self": true}, admin, 400, `"mix_self" goes with "calibrate"`},
		{map[string]any{"self_calibrate": true}, ingestKey, 403, `needs an admin key`},
		{map[string]any{"questions": questions, "tune": true}, ingestKey, 403, `needs an admin key`},
	} {
		var eb errorBody
		r := call(t, "POST", base+"/v1/kbs/shop/eval", c.key, c.body, &eb)
		if r.StatusCode != c.code || !strings.Contains(eb.Error.Message, c.want) {
			t.Errorf("%v: %d %q, want %d with %q", c.body, r.StatusCode, eb.Error.Message, c.code, c.want)
		}
	}
	if r := call(t, "POST", base+"/v1/kbs/nope/eval", admin, map[string]any{"self_calibrate": true}, nil); r.StatusCode != 404 {
		t.Errorf("unknown KB: %d", r.StatusCode)
	}

	// An ingest key may evaluate without fitting; a second evaluation of
	// the KB waits for the first.
	var job kefu.EvalJob
	if r := call(t, "POST", base+"/v1/kbs/shop/eval", ingestKey, map[string]any{"questions": questions, "questions_name": "q.jsonl", "answers": true}, &job); r.StatusCode != 202 {
		t.Fatalf("start: %d %s", r.StatusCode, bodyOf(r))
	}
	if job.ID == "" || job.KB != "shop" || job.FinishedAt != nil {
		t.Fatalf("accepted job %+v", job)
	}
	running := waitEvalJob(t, base, ingestKey, "shop", job.ID, func(j kefu.EvalJob) bool { return j.State == kefu.JobRunning && j.Total > 0 })
	if running.Stage != "test queries" || running.Done != 3 || running.Total != 8 {
		t.Errorf("progress %q %d/%d, want test queries 3/8", running.Stage, running.Done, running.Total)
	}
	var eb errorBody
	if r := call(t, "POST", base+"/v1/kbs/shop/eval", admin, map[string]any{"self_calibrate": true}, &eb); r.StatusCode != 409 || !strings.Contains(eb.Error.Message, job.ID) {
		t.Errorf("second evaluation: %d %q, want 409 naming %s", r.StatusCode, eb.Error.Message, job.ID)
	}
	close(ev.gate)
	done := waitEvalJob(t, base, ingestKey, "shop", job.ID, func(j kefu.EvalJob) bool { return j.FinishedAt != nil })
	if done.State != kefu.JobDone || done.Result != "evaluated shop" || done.Error != nil {
		t.Errorf("finished job %+v", done)
	}
	ev.mu.Lock()
	got := ev.reqs[0]
	ev.mu.Unlock()
	if string(got.Questions) != questions || got.QuestionsName != "q.jsonl" || !got.Answers || got.Fits() {
		t.Errorf("the evaluator got %+v", got)
	}

	// A failure keeps its code and message; another KB's key sees no job.
	ev.mu.Lock()
	ev.gate, ev.fail = nil, kefu.Errorf(kefu.EINVALID, "questions.jsonl line 3: no question")
	ev.mu.Unlock()
	if r := call(t, "POST", base+"/v1/kbs/shop/eval", admin, map[string]any{"self_calibrate": true}, &job); r.StatusCode != 202 {
		t.Fatalf("start: %d %s", r.StatusCode, bodyOf(r))
	}
	failed := waitEvalJob(t, base, admin, "shop", job.ID, func(j kefu.EvalJob) bool { return j.FinishedAt != nil })
	if failed.State != kefu.JobFailed || failed.Error == nil || failed.Error.Code != kefu.EINVALID || failed.Error.Message != "questions.jsonl line 3: no question" {
		t.Errorf("failed job %+v", failed)
	}
	if r := call(t, "GET", base+"/v1/kbs/other/eval/jobs/"+job.ID, admin, nil, nil); r.StatusCode != 404 {
		t.Errorf("the job under another KB: %d", r.StatusCode)
	}
}
