package bench

import (
	"context"
	"math"
	"runtime"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
)

// EmbedOptions configure Embed.
type EmbedOptions struct {
	// ORTLib is the ONNX Runtime library; "" looks it up.
	ORTLib string
	// Cores is the intra-op thread count of the baseline session; 0 is
	// runtime.NumCPU().
	Cores int
	// Engine configures the engine under test; its zero value is the default.
	Engine embed.Options
	// PaddedBatch is the batch size of the common integration; 0 is 32.
	PaddedBatch int
	// Rounds repeats each way, keeping its fastest round; 0 is 1.
	Rounds int
	// NodeScript, when set, also runs the Node.js baseline
	// (DefaultNodeScript: onnxruntime-node, length-sorted batches) on
	// the same token ids.
	NodeScript string
	// Paired, with NodeScript, then times a round of the engine and a round
	// of the baseline's fastest layout in turn, this many times
	// (NodeReport.Pairs).
	Paired int
}

// EmbedReport compares the engine with two usual ways of running the same
// model on the same texts and cores.
type EmbedReport struct {
	Model  string `json:"model"`
	Texts  int    `json:"texts"`
	Tokens int    `json:"tokens"` // real tokens, special tokens included
	Cores  int    `json:"cores"`

	EngineSessions    int `json:"engine_sessions"`
	EngineThreads     int `json:"engine_intra_op_threads"`
	EngineBatchTokens int `json:"engine_batch_tokens"`
	PaddedBatch       int `json:"padded_batch"`

	EngineSeconds float64 `json:"engine_seconds"`
	// EngineCPUSeconds is the least CPU time of the process (every thread,
	// tokenising included) over the engine's rounds.
	EngineCPUSeconds float64 `json:"engine_cpu_seconds"`
	PaddedSeconds    float64 `json:"padded_seconds"`
	SingleSeconds    float64 `json:"single_seconds"`

	EngineTextsPerS  float64 `json:"engine_texts_per_s"`
	PaddedTextsPerS  float64 `json:"padded_texts_per_s"`
	SingleTextsPerS  float64 `json:"single_texts_per_s"`
	EngineTokensPerS float64 `json:"engine_tokens_per_s"`
	PaddedTokensPerS float64 `json:"padded_tokens_per_s"`
	SingleTokensPerS float64 `json:"single_tokens_per_s"`

	RatioVsPadded float64 `json:"ratio_vs_padded"` // engine speed / padded speed
	RatioVsSingle float64 `json:"ratio_vs_single"` // engine speed / one-by-one speed

	// OutsideORTShare is the share of the engine's session time (wall time ×
	// sessions) not spent inside ONNX Runtime's Run: tokenising, sorting,
	// padding, pooling, copying, and sessions waiting for work.
	OutsideORTShare float64 `json:"outside_ort_share"`
	// EnginePadShare and PaddedPadShare are the shares of padding in the
	// tokens each way fed to the model.
	EnginePadShare float64 `json:"engine_pad_share"`
	PaddedPadShare float64 `json:"padded_pad_share"`
	// MaxAbsDiff is the largest difference between the engine's vectors and
	// the padded integration's: both must compute the same embeddings.
	MaxAbsDiff float64 `json:"max_abs_diff"`
	// Node is the Node.js baseline, when asked for.
	Node *NodeReport `json:"node,omitempty"`
}

// Embed embeds texts three ways on the same cores and reports their
// speeds: the engine; the common integration (batches of PaddedBatch in
// input order, padded to the longest, one session with Cores intra-op
// threads: embed.Runner); and one text per run on that same session. Every
// way includes tokenising and pooling.
func Embed(ctx context.Context, spec kefu.ModelSpec, texts []string, opts EmbedOptions) (*EmbedReport, error) {
	if len(texts) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "bench: no texts")
	}
	if opts.Cores <= 0 {
		opts.Cores = runtime.NumCPU()
	}
	if opts.PaddedBatch <= 0 {
		opts.PaddedBatch = 32
	}
	if opts.Rounds <= 0 {
		opts.Rounds = 1
	}
	eopts := opts.Engine
	eopts.ORTLib = opts.ORTLib
	eng, err := embed.New(spec, eopts)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	eopts = eng.Options()
	base, err := embed.NewRunner(spec, opts.ORTLib, opts.Cores)
	if err != nil {
		return nil, err
	}
	defer base.Close()

	rep := &EmbedReport{
		Model: spec.Name, Texts: len(texts), Cores: opts.Cores,
		EngineSessions: eopts.Sessions, EngineThreads: eopts.IntraOpThreads,
		EngineBatchTokens: eopts.BatchTokens, PaddedBatch: opts.PaddedBatch,
	}
	lens := make([]int, len(texts))
	allIDs := make([][]int, len(texts))
	inputs := make([]string, len(texts)) // as the engine embeds them, with the passage prefix
	for i, t := range texts {
		inputs[i] = eng.Model().PassagePrefix + t
		ids, err := eng.Tokenizer().Encode(inputs[i])
		if err != nil {
			return nil, err
		}
		lens[i] = len(ids)
		allIDs[i] = ids
		rep.Tokens += len(ids)
	}
	rep.EnginePadShare = padShare(eng.Plan(lens), lens, rep.Tokens)
	rep.PaddedPadShare = padShare(inOrder(len(lens), opts.PaddedBatch), lens, rep.Tokens)

	// Warm both up: the first runs allocate ONNX Runtime's arenas.
	warm := texts[:min(len(texts), 2*opts.PaddedBatch)]
	if _, err := eng.EmbedPassages(ctx, warm); err != nil {
		return nil, err
	}
	if _, err := padded(ctx, base, warm, opts.PaddedBatch); err != nil {
		return nil, err
	}

	var engVecs, padVecs [][]float32
	rep.EngineSeconds, rep.PaddedSeconds, rep.SingleSeconds = math.Inf(1), math.Inf(1), math.Inf(1)
	for round := 0; round < opts.Rounds; round++ {
		run0, start, cpu0 := eng.RunTime(), time.Now(), processCPU()
		v, err := eng.EmbedPassages(ctx, texts)
		if err != nil {
			return nil, err
		}
		wall := time.Since(start)
		if c := (processCPU() - cpu0).Seconds(); round == 0 || c < rep.EngineCPUSeconds {
			rep.EngineCPUSeconds = c
		}
		if s := wall.Seconds(); s < rep.EngineSeconds {
			rep.EngineSeconds = s
			inside := (eng.RunTime() - run0).Seconds()
			rep.OutsideORTShare = max(0, 1-inside/(s*float64(eopts.Sessions)))
		}
		engVecs = v

		start = time.Now()
		if padVecs, err = padded(ctx, base, texts, opts.PaddedBatch); err != nil {
			return nil, err
		}
		rep.PaddedSeconds = min(rep.PaddedSeconds, time.Since(start).Seconds())

		start = time.Now()
		if _, err := padded(ctx, base, texts, 1); err != nil {
			return nil, err
		}
		rep.SingleSeconds = min(rep.SingleSeconds, time.Since(start).Seconds())
	}
	for i := range engVecs {
		for j := range engVecs[i] {
			rep.MaxAbsDiff = max(rep.MaxAbsDiff, math.Abs(float64(engVecs[i][j]-padVecs[i][j])))
		}
	}
	if opts.NodeScript != "" {
		engineRound := func() (float64, error) {
			start := time.Now()
			_, err := eng.EmbedPassages(ctx, texts)
			return time.Since(start).Seconds(), err
		}
		if rep.Node, err = nodeBaseline(ctx, opts.NodeScript, eng.Model(), inputs, allIDs, eng.Tokenizer().PadID(), opts.Cores, opts.Rounds, engVecs, opts.Paired, engineRound); err != nil {
			return nil, err
		}
		rep.Node.RatioEngineVsNode = rep.Node.Seconds / rep.EngineSeconds
		rep.Node.RatioEngineVsNodeCPU = rep.Node.CPUSeconds / rep.EngineCPUSeconds
		if tk := rep.Node.Tokenize; tk != nil {
			rep.Node.RatioWithTokenizing = (rep.Node.Seconds + tk.Seconds) / rep.EngineSeconds
		}
	}
	n, tok := float64(len(texts)), float64(rep.Tokens)
	rep.EngineTextsPerS, rep.EngineTokensPerS = n/rep.EngineSeconds, tok/rep.EngineSeconds
	rep.PaddedTextsPerS, rep.PaddedTokensPerS = n/rep.PaddedSeconds, tok/rep.PaddedSeconds
	rep.SingleTextsPerS, rep.SingleTokensPerS = n/rep.SingleSeconds, tok/rep.SingleSeconds
	rep.RatioVsPadded = rep.PaddedSeconds / rep.EngineSeconds
	rep.RatioVsSingle = rep.SingleSeconds / rep.EngineSeconds
	return rep, nil
}

// padded embeds texts the common way: batches of size in input order, each
// padded to its longest text.
func padded(ctx context.Context, r *embed.Runner, texts []string, size int) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += size {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := r.EmbedBatch(texts[lo:min(lo+size, len(texts))])
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// inOrder cuts n texts into batches of size in input order.
func inOrder(n, size int) [][]int {
	var out [][]int
	for lo := 0; lo < n; lo += size {
		b := make([]int, 0, size)
		for i := lo; i < min(lo+size, n); i++ {
			b = append(b, i)
		}
		out = append(out, b)
	}
	return out
}

// padShare is the share of padding among the tokens batches of texts of
// these lengths feed the model.
func padShare(batches [][]int, lens []int, real int) float64 {
	fed := 0
	for _, b := range batches {
		longest := 1
		for _, i := range b {
			longest = max(longest, lens[i])
		}
		fed += longest * len(b)
	}
	if fed == 0 {
		return 0
	}
	return 1 - float64(real)/float64(fed)
}
