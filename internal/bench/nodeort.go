package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/shared"
)

// NodeReport is the Node.js baseline of Embed: onnxruntime-node running the
// same model on the same token ids with length-sorted, fixed-size batches
// (tests/nodeort/embed.mjs), the fastest of its batch sizes and session
// layouts. Seconds leaves out tokenising, which the engine's time includes;
// Tokenize is the Node user's own tokenising of the same texts, timed apart.
type NodeReport struct {
	Layout    string  `json:"layout"`
	Batch     int     `json:"batch"`
	Seconds   float64 `json:"seconds"`
	TextsPerS float64 `json:"texts_per_s"`
	// RatioEngineVsNode is the engine's speed over the baseline's.
	RatioEngineVsNode float64 `json:"ratio_engine_vs_node"`
	// CPUSeconds is the least CPU time (the Node process, every thread)
	// of a layout and batch size, and CPULayout, CPUBatch which; the ratio
	// is against the engine's CPU time (EmbedReport.EngineCPUSeconds): the
	// steadier comparison on a shared machine, which counts work, not how
	// well it fills the cores.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPULayout            string  `json:"cpu_layout"`
	CPUBatch             int     `json:"cpu_batch"`
	RatioEngineVsNodeCPU float64 `json:"ratio_engine_vs_node_cpu"`
	// Tokenize is tokenizers.js encoding the texts in the Node process (nil
	// when the model folder has no tokenizer.json); RatioWithTokenizing is
	// the engine's speed over the baseline's when both tokenise, as a Node
	// user must: (Seconds + Tokenize.Seconds) / the engine's seconds.
	Tokenize            *NodeTokenize `json:"tokenize,omitempty"`
	RatioWithTokenizing float64       `json:"ratio_with_tokenizing,omitempty"`
	// MaxAbsDiff is the largest difference between the baseline's vectors
	// and the engine's: both must compute the same embeddings.
	MaxAbsDiff float64      `json:"max_abs_diff"`
	Results    []NodeResult `json:"results"` // every layout and batch size tried
	// Pairs are rounds of the engine and of the fastest layout alone, taken
	// in turn (EmbedOptions.Paired); PairedRatio is the median over them of
	// (the baseline's seconds + its tokenising) / the engine's. The sweep's
	// ratio sets the engine's fastest of Rounds against the fastest of every
	// layout and batch size of the baseline (eight, each its fastest of
	// Rounds), so the baseline's noise counts in its favour eight times over;
	// the pairs time the same two configurations equally often.
	Pairs       []NodePair `json:"pairs,omitempty"`
	PairedRatio float64    `json:"paired_ratio,omitempty"`
}

// NodePair is one paired round: the engine's seconds, then the baseline's.
type NodePair struct {
	Engine float64 `json:"engine_seconds"`
	Node   float64 `json:"node_seconds"`
}

// NodeTokenize is the baseline's tokenising: its best round's wall and CPU
// time, and how many texts got exactly the engine's token ids.
type NodeTokenize struct {
	Seconds       float64 `json:"seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	TextsAgreeing int     `json:"texts_agreeing"`
}

// NodeResult is one layout and batch size of the baseline, its best round.
type NodeResult struct {
	Layout     string  `json:"layout"`
	Batch      int     `json:"batch"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

// DefaultNodeScript is tests/nodeort/embed.mjs beside go.mod ("" when the
// module root is not found); make bench installs its packages (npm ci
// --ignore-scripts in tests/nodeort).
func DefaultNodeScript() string {
	if root := shared.ModuleRoot(); root != "" {
		return filepath.Join(root, "tests", "nodeort", "embed.mjs")
	}
	return ""
}

// nodeJob is a run of the Node script: its job file and where it writes
// the vectors.
type nodeJob struct {
	script string
	job    map[string]any
	dir    string
}

// nodeOutput is what the Node script prints.
type nodeOutput struct {
	Results  []NodeResult  `json:"results"`
	Best     NodeResult    `json:"best"`
	BestCPU  NodeResult    `json:"best_cpu"`
	Tokenize *NodeTokenize `json:"tokenize"`
}

// run runs the script on the job, changed by set.
func (n *nodeJob) run(ctx context.Context, set map[string]any) (*nodeOutput, error) {
	job := maps.Clone(n.job)
	maps.Copy(job, set)
	b, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	jobPath := filepath.Join(n.dir, "job.json")
	if err := os.WriteFile(jobPath, b, 0o600); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", n.script, jobPath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "bench: node %s: %v: %s (its packages: make bench, or npm ci --ignore-scripts in %s)", n.script, err, bytes.TrimSpace(stderr.Bytes()), filepath.Dir(n.script))
	}
	out := new(nodeOutput)
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return nil, fmt.Errorf("bench: node output: %w: %q", err, stdout.String())
	}
	return out, nil
}

// nodeBaseline runs the Node script on ids (the engine's own model inputs)
// and compares its vectors with want, the engine's. With paired > 0 it then
// times the engine (engineRound) and the baseline's fastest layout alone in
// turn, paired times.
func nodeBaseline(ctx context.Context, script string, spec kefu.ModelSpec, texts []string, ids [][]int, padID, cores, rounds int, want [][]float32, paired int, engineRound func() (float64, error)) (*NodeReport, error) {
	dir, err := os.MkdirTemp("", "kefu-bench-node-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	onnx := spec.ONNXFile
	if onnx == "" {
		onnx = "model.onnx"
	}
	job := map[string]any{"model": filepath.Join(spec.Dir, onnx), "output": spec.Output, "pool": spec.Pooling,
		"pad_id": padID, "cores": cores, "rounds": rounds, "ids": ids, "vectors": filepath.Join(dir, "vectors.f32")}
	if tj := filepath.Join(spec.Dir, "tokenizer.json"); fileExists(tj) {
		job["texts"], job["tokenizer"] = texts, tj
		if tc := filepath.Join(spec.Dir, "tokenizer_config.json"); fileExists(tc) {
			job["tokenizer_config"] = tc
		}
	}
	nj := &nodeJob{script: script, job: job, dir: dir}
	out, err := nj.run(ctx, nil)
	if err != nil {
		return nil, err
	}
	rep := &NodeReport{Layout: out.Best.Layout, Batch: out.Best.Batch, Seconds: out.Best.Seconds, Results: out.Results,
		TextsPerS: float64(len(ids)) / out.Best.Seconds, CPUSeconds: out.BestCPU.CPUSeconds, CPULayout: out.BestCPU.Layout, CPUBatch: out.BestCPU.Batch,
		Tokenize: out.Tokenize}
	raw, err := os.ReadFile(filepath.Join(dir, "vectors.f32"))
	if err != nil {
		return nil, err
	}
	dim := len(want[0])
	if len(raw) != 4*dim*len(want) {
		return nil, fmt.Errorf("bench: node wrote %d bytes of vectors, want %d", len(raw), 4*dim*len(want))
	}
	for i, v := range want {
		for j, x := range v {
			y := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*dim+j):]))
			rep.MaxAbsDiff = max(rep.MaxAbsDiff, math.Abs(float64(x-y)))
		}
	}
	var ratios []float64
	for range paired {
		e, err := engineRound()
		if err != nil {
			return nil, err
		}
		o, err := nj.run(ctx, map[string]any{"rounds": 1, "only": map[string]any{"layout": rep.Layout, "batch": rep.Batch}})
		if err != nil {
			return nil, err
		}
		rep.Pairs = append(rep.Pairs, NodePair{Engine: e, Node: o.Best.Seconds})
		tok := 0.0
		if rep.Tokenize != nil {
			tok = rep.Tokenize.Seconds
		}
		ratios = append(ratios, (o.Best.Seconds+tok)/e)
	}
	if len(ratios) > 0 {
		rep.PairedRatio = pct(ratios, 50)
	}
	return rep, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
