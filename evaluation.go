package kefu

import (
	"context"
	"time"
)

// EvalRequest is one evaluation of a KB that a running server performs
// (POST /v1/kbs/{kb}/eval): what `kefu eval --kb` does, through the API.
type EvalRequest struct {
	// Questions are labelled questions as `kefu eval --questions` reads
	// them (JSONL); none means the KB's self-calibration only.
	Questions     []byte `json:"-"`
	QuestionsName string `json:"questions_name,omitempty"`
	// SelfCalibrate fits the KB's confidence from its own content first.
	SelfCalibrate bool `json:"self_calibrate,omitempty"`
	// Calibrate fits the confidence on half the questions, MixSelf with
	// the KB's self-calibration questions beside them.
	Calibrate bool `json:"calibrate,omitempty"`
	MixSelf   bool `json:"mix_self,omitempty"`
	// Tune chooses the fusion on half the questions.
	Tune bool `json:"tune,omitempty"`
	// Answers also asks every question as a customer would (no LLM).
	Answers bool `json:"answers,omitempty"`
}

// Fits reports whether the request changes the KB's settings (its
// confidence mapping or fusion), which needs an admin key.
func (r EvalRequest) Fits() bool { return r.SelfCalibrate || r.Calibrate || r.Tune }

// EvalJob is an evaluation running in the server, with its progress.
type EvalJob struct {
	ID    string   `json:"job_id"`
	KB    string   `json:"kb"`
	State JobState `json:"state"`
	// Stage is what runs now ("self-calibration", "test queries",
	// "answers"…) and Done of Total its progress.
	Stage      string       `json:"stage,omitempty"`
	Done       int          `json:"done"`
	Total      int          `json:"total"`
	Request    EvalRequest  `json:"request"`
	Result     string       `json:"result,omitempty"` // what was measured and stored, in a sentence
	Error      *ErrorDetail `json:"error,omitempty"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
}

// ErrorDetail is an error as the API shows it: a stable code and the
// message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EvalRunner evaluates and calibrates KBs as `kefu eval --kb` does: the
// report replaces the KB's latest in its ReportStore, fits are stored with
// its settings. progress(stage, done, total) follows the work.
type EvalRunner interface {
	Evaluate(ctx context.Context, kb string, req EvalRequest, progress func(stage string, done, total int)) (result string, err error)
}
