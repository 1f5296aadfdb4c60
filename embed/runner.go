package embed

import (
	"github.com/kefu-dev/kefu"
)

// Runner embeds one batch at a time, padded to its longest text, on one
// ONNX Runtime session on the caller's goroutine: the plain integration,
// without the Engine's length sorting, token budgets and parallel
// sessions. The benchmarks measure the Engine against it. A Runner is used
// by one goroutine at a time.
type Runner struct {
	spec kefu.ModelSpec
	tok  *Tokenizer
	s    *session
}

// NewRunner loads spec into one session of threads intra-op threads (0:
// ONNX Runtime's default), starting ONNX Runtime from ortLib ("": found by
// FindRuntime) when it is not running yet.
func NewRunner(spec kefu.ModelSpec, ortLib string, threads int) (*Runner, error) {
	spec, tok, g, err := load(spec, ortLib)
	if err != nil {
		return nil, err
	}
	s, err := newSession(spec, g, tok.PadID(), threads)
	if err != nil {
		return nil, err
	}
	return &Runner{spec: spec, tok: tok, s: s}, nil
}

// EmbedBatch embeds texts, with the model's passage prefix, as one batch
// padded to its longest text.
func (r *Runner) EmbedBatch(texts []string) ([][]float32, error) {
	seqs := make([][]int, len(texts))
	for i, t := range texts {
		ids, err := r.tok.Encode(r.spec.PassagePrefix + t)
		if err != nil {
			return nil, err
		}
		seqs[i] = ids
	}
	d := r.s.g.dim
	flat := make([]float32, len(seqs)*d)
	if _, err := r.s.run(seqs, nil, flat); err != nil {
		return nil, err
	}
	out := make([][]float32, len(seqs))
	for i := range out {
		out[i] = flat[i*d : (i+1)*d]
	}
	return out, nil
}

// Close frees the session.
func (r *Runner) Close() error { return r.s.close() }
