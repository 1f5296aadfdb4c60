package api

import (
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// EvalRequestBody is the body of POST /v1/kbs/{kb}/eval: the labelled
// questions as text (JSONL, as `kefu eval --questions` reads them) and
// what to fit. With no questions, self_calibrate must be set.
type EvalRequestBody struct {
	Questions string `json:"questions,omitempty"`
	kefu.EvalRequest
}

// maxEvalJobs is how many finished evaluation jobs are remembered.
const maxEvalJobs = 64

// evalJobs runs the server's evaluations one at a time, a KB at most one
// at once, and keeps their progress for GET …/eval/jobs/{id}.
type evalJobs struct {
	mu    sync.Mutex
	jobs  map[string]*kefu.EvalJob
	order []string
	turn  chan struct{} // one evaluation runs at a time: each takes the CPU
}

func (e *evalJobs) get(id string) (kefu.EvalJob, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok {
		return kefu.EvalJob{}, false
	}
	return *j, true
}

func (e *evalJobs) update(id string, f func(j *kefu.EvalJob)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j, ok := e.jobs[id]; ok {
		f(j)
	}
}

// add registers a queued job, refusing a second one for the same KB.
func (e *evalJobs) add(j *kefu.EvalJob) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.jobs == nil {
		e.jobs = map[string]*kefu.EvalJob{}
	}
	for _, o := range e.jobs {
		if o.KB == j.KB && o.FinishedAt == nil {
			return kefu.Errorf(kefu.ECONFLICT, "an evaluation of %q is already running (job %s): wait for it to finish", j.KB, o.ID)
		}
	}
	e.jobs[j.ID] = j
	e.order = append(e.order, j.ID)
	for i := 0; len(e.jobs) > maxEvalJobs && i < len(e.order); {
		if id := e.order[i]; e.jobs[id].FinishedAt != nil {
			delete(e.jobs, id)
			e.order = slices.Delete(e.order, i, i+1)
			continue
		}
		i++
	}
	return nil
}

// startEval starts an evaluation of the KB: labelled questions in the
// body, the KB's self-calibration, or both. Fitting (self_calibrate,
// calibrate, tune) changes the KB's settings and needs an admin key.
func (s *Server) startEval(c fiber.Ctx) error {
	if s.cfg.Evaluator == nil || s.cfg.Reports == nil {
		return unavailable("evaluator")
	}
	kb := c.Params("kb")
	if _, err := s.cfg.Store.KB(c.Context(), kb); err != nil {
		return err
	}
	lim := s.uploadLimit()
	r, err := s.body(c, lim)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var b EvalRequestBody
	if len(body) > 0 {
		if err := json.Unmarshal(body, &b); err != nil {
			return kefu.Errorf(kefu.EINVALID, `body must be JSON {"questions"?: JSONL text, "self_calibrate"?, "calibrate"?, "mix_self"?, "tune"?, "answers"?}`)
		}
	}
	req := b.EvalRequest
	req.Questions = []byte(b.Questions)
	if req.QuestionsName == "" && len(req.Questions) > 0 {
		req.QuestionsName = "questions.jsonl"
	}
	switch {
	case len(req.Questions) == 0 && (req.Calibrate || req.Tune || req.Answers || req.MixSelf):
		return kefu.Errorf(kefu.EINVALID, "\"calibrate\", \"mix_self\", \"tune\" and \"answers\" need labelled questions in \"questions\"")
	case len(req.Questions) == 0 && !req.SelfCalibrate:
		return kefu.Errorf(kefu.EINVALID, "nothing to do: send labelled questions in \"questions\" (JSONL), or \"self_calibrate\": true")
	case req.SelfCalibrate && req.Calibrate:
		return kefu.Errorf(kefu.EINVALID, "\"self_calibrate\" and \"calibrate\" fit the same thing two ways: give one (or \"calibrate\" with \"mix_self\" for both together)")
	case req.MixSelf && !req.Calibrate:
		return kefu.Errorf(kefu.EINVALID, "\"mix_self\" goes with \"calibrate\"")
	}
	if p, _ := c.Locals(localPrincipal).(*principal); req.Fits() && (p == nil || !p.scope.Includes(kefu.ScopeAdmin)) {
		return kefu.Errorf(kefu.EFORBIDDEN, "fitting the confidence or the fusion changes the knowledge base's settings: that needs an admin key (an ingest key may evaluate without fitting)")
	}
	job := &kefu.EvalJob{ID: newID("eval_"), KB: kb, State: kefu.JobQueued, Request: req, StartedAt: time.Now().UTC()}
	if err := s.evals.add(job); err != nil {
		return err
	}
	snap, _ := s.evals.get(job.ID)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.runEval(job.ID, kb, req)
	}()
	s.log.Info("evaluation started", "kb", kb, "job_id", job.ID, "questions", len(req.Questions) > 0, "fits", req.Fits(), "request_id", requestID(c))
	return c.Status(fiber.StatusAccepted).JSON(snap)
}

// runEval waits for its turn, then runs the evaluation on the server's
// base context: it outlives the request, and Shutdown cancels it.
func (s *Server) runEval(id, kb string, req kefu.EvalRequest) {
	finish := func(result string, err error) {
		now := time.Now().UTC()
		s.evals.update(id, func(j *kefu.EvalJob) {
			j.FinishedAt = &now
			j.State, j.Result = kefu.JobDone, result
			if err != nil {
				j.State = kefu.JobFailed
				j.Error = &kefu.ErrorDetail{Code: kefu.ErrorCode(err), Message: kefu.ErrorMessage(err)}
			}
		})
		if err != nil {
			s.log.Warn("evaluation failed", "kb", kb, "job_id", id, "err", err)
		} else {
			s.log.Info("evaluation done", "kb", kb, "job_id", id, "result", result)
		}
	}
	select {
	case s.evals.turn <- struct{}{}:
	case <-s.base.Done():
		finish("", kefu.Errorf(kefu.EUNAVAILABLE, "the server stopped before the evaluation ran"))
		return
	}
	defer func() { <-s.evals.turn }()
	s.evals.update(id, func(j *kefu.EvalJob) { j.State = kefu.JobRunning })
	result, err := s.cfg.Evaluator.Evaluate(s.base, kb, req, func(stage string, done, total int) {
		s.evals.update(id, func(j *kefu.EvalJob) { j.Stage, j.Done, j.Total = stage, done, total })
	})
	finish(result, err)
}

func (s *Server) getEvalJob(c fiber.Ctx) error {
	j, ok := s.evals.get(c.Params("id"))
	if !ok || j.KB != c.Params("kb") {
		return kefu.Errorf(kefu.ENOTFOUND, "no evaluation job %q of %q", c.Params("id"), c.Params("kb"))
	}
	return c.JSON(j)
}
