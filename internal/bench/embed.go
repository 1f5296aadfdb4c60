package bench

import (
	"context"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
)

// BenchOptions configure RunBench.
type BenchOptions struct {
	// ORTLib is the ONNX Runtime library; "" looks it up.
	ORTLib string
	// Cores is the intra-op thread count of the baseline session; 0 is
	// runtime.NumCPU().
	Cores int
	// Engine configures the engine under test; its zero value is the default.
	Engine Options
	// PaddedBatch is the batch size of the common integration; 0 is 32.
	PaddedBatch int
	// Rounds repeats each way, keeping its fastest round; 0 is 1.
	Rounds int
}

// BenchReport compares the engine with two usual ways of running the same
// model on the same texts and cores.
type BenchReport struct {
	Model  string `json:"model"`
	Texts  int    `json:"texts"`
	Tokens int    `json:"tokens"` // real tokens, special tokens included
	Cores  int    `json:"cores"`

	EngineSessions    int `json:"engine_sessions"`
	EngineThreads     int `json:"engine_intra_op_threads"`
	EngineBatchTokens int `json:"engine_batch_tokens"`
	PaddedBatch       int `json:"padded_batch"`

	EngineSeconds float64 `json:"engine_seconds"`
	PaddedSeconds float64 `json:"padded_seconds"`
	SingleSeconds float64 `json:"single_seconds"`

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
}

// RunBench embeds texts three ways on the same cores and reports their
// speeds: the engine; the common integration (batches of PaddedBatch in
// input order, padded to the longest, one session with Cores intra-op
// threads); and one text per Run on that same session. Every way includes
// tokenising and pooling.
func RunBench(ctx context.Context, spec kefu.ModelSpec, texts []string, opts BenchOptions) (*BenchReport, error) {
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
	eopts = eopts.withDefaults()
	eng, err := New(spec, eopts)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	base, err := newSession(spec, eng.g, eng.tok.PadID(), opts.Cores)
	if err != nil {
		return nil, err
	}
	defer base.close()

	rep := &BenchReport{
		Model: spec.Name, Texts: len(texts), Cores: opts.Cores,
		EngineSessions: eopts.Sessions, EngineThreads: eopts.IntraOpThreads,
		EngineBatchTokens: eopts.BatchTokens, PaddedBatch: opts.PaddedBatch,
	}
	lens := make([]int, len(texts))
	for i, t := range texts {
		ids, err := eng.tok.Encode(spec.PassagePrefix + t)
		if err != nil {
			return nil, err
		}
		lens[i] = len(ids)
		rep.Tokens += len(ids)
	}
	rep.EnginePadShare = padShare(eng.plan(itemsOfLen(lens)), rep.Tokens)
	rep.PaddedPadShare = padShare(inOrder(lens, opts.PaddedBatch), rep.Tokens)

	// Warm both up: the first runs allocate ONNX Runtime's arenas.
	warm := texts[:min(len(texts), 2*opts.PaddedBatch)]
	if _, err := eng.EmbedPassages(ctx, warm); err != nil {
		return nil, err
	}
	if _, err := baseline(ctx, eng.tok, base, spec, warm, opts.PaddedBatch); err != nil {
		return nil, err
	}

	var engVecs, padVecs [][]float32
	rep.EngineSeconds, rep.PaddedSeconds, rep.SingleSeconds = math.Inf(1), math.Inf(1), math.Inf(1)
	for round := 0; round < opts.Rounds; round++ {
		run0, start := eng.RunTime(), time.Now()
		v, err := eng.EmbedPassages(ctx, texts)
		if err != nil {
			return nil, err
		}
		wall := time.Since(start)
		if s := wall.Seconds(); s < rep.EngineSeconds {
			rep.EngineSeconds = s
			inside := (eng.RunTime() - run0).Seconds()
			rep.OutsideORTShare = max(0, 1-inside/(s*float64(eopts.Sessions)))
		}
		engVecs = v

		start = time.Now()
		if padVecs, err = baseline(ctx, eng.tok, base, spec, texts, opts.PaddedBatch); err != nil {
			return nil, err
		}
		rep.PaddedSeconds = min(rep.PaddedSeconds, time.Since(start).Seconds())

		start = time.Now()
		if _, err := baseline(ctx, eng.tok, base, spec, texts, 1); err != nil {
			return nil, err
		}
		rep.SingleSeconds = min(rep.SingleSeconds, time.Since(start).Seconds())
	}
	for i := range engVecs {
		for j := range engVecs[i] {
			rep.MaxAbsDiff = max(rep.MaxAbsDiff, math.Abs(float64(engVecs[i][j]-padVecs[i][j])))
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

// baseline embeds texts the common way: tokenise a batch of size in input
// order, pad it to its longest text, run it, pool it.
func baseline(ctx context.Context, tok *Tokenizer, s *session, spec kefu.ModelSpec, texts []string, size int) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	seqs := make([][]int, 0, size)
	for lo := 0; lo < len(texts); lo += size {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(err)
		}
		seqs = seqs[:0]
		for _, t := range texts[lo:min(lo+size, len(texts))] {
			ids, err := tok.Encode(spec.PassagePrefix + t)
			if err != nil {
				return nil, err
			}
			seqs = append(seqs, ids)
		}
		vecs := make([]float32, len(seqs)*s.g.dim)
		if _, err := s.run(seqs, nil, vecs); err != nil {
			return nil, err
		}
		for r := range seqs {
			out = append(out, vecs[r*s.g.dim:(r+1)*s.g.dim])
		}
	}
	return out, nil
}

// itemsOfLen makes items with ids of the given lengths, for planning only.
func itemsOfLen(lens []int) []item {
	items := make([]item, len(lens))
	for i, n := range lens {
		items[i] = item{idx: i, ids: make([]int, n)}
	}
	return items
}

// inOrder cuts texts of the given lengths into batches of size in order.
func inOrder(lens []int, size int) []*batch {
	items := itemsOfLen(lens)
	var out []*batch
	for lo := 0; lo < len(items); lo += size {
		out = append(out, &batch{items: items[lo:min(lo+size, len(items))]})
	}
	return out
}

// padShare is the share of padding among the tokens batches feed the model.
func padShare(batches []*batch, real int) float64 {
	fed := 0
	for _, b := range batches {
		longest := 1
		for _, it := range b.items {
			longest = max(longest, len(it.ids))
		}
		fed += longest * len(b.items)
	}
	if fed == 0 {
		return 0
	}
	return 1 - float64(real)/float64(fed)
}

// MixedLengthTexts cuts docs into n texts whose lengths (in tok's tokens,
// without special tokens) spread evenly on a log scale from minTokens to
// maxTokens, by taking the fewest consecutive words of each document that
// reach each target length. It makes a benchmark's mix of short and long
// inputs reproducible; n is bounded by what docs hold.
func MixedLengthTexts(tok *Tokenizer, docs []string, n, minTokens, maxTokens int) []string {
	if n <= 0 || minTokens <= 0 || maxTokens < minTokens {
		return nil
	}
	ratio := math.Log(float64(maxTokens) / float64(minTokens))
	var out []string
	for _, doc := range docs {
		words := strings.Fields(doc)
		for len(words) > 0 && len(out) < n {
			// Golden-ratio steps spread the targets evenly without randomness.
			frac := math.Mod(float64(len(out))*0.6180339887, 1)
			target := int(math.Round(float64(minTokens) * math.Exp(frac*ratio)))
			lo, hi := 1, len(words)
			for lo < hi { // fewest words reaching the target
				mid := (lo + hi) / 2
				if tok.CountTokens(strings.Join(words[:mid], " ")) >= target {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			text := strings.Join(words[:lo], " ")
			if tok.CountTokens(text) < target {
				break // the document's rest is too short; keep the mix, take the next one
			}
			out = append(out, text)
			words = words[lo:]
		}
		if len(out) >= n {
			break
		}
	}
	return out
}
