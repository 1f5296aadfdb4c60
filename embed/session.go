package embed

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/kefu-dev/kefu"
	ort "github.com/yalue/onnxruntime_go"
)

// Roles of a graph input.
const (
	inIDs = iota
	inMask
	inTypes
)

// graphIO is what the engine feeds a model and reads from it, discovered
// from the graph itself.
type graphIO struct {
	inputs  []string // graph input names, in the order fed
	roles   []int    // inIDs, inMask or inTypes per input
	int32s  []bool   // the input takes int32 rather than int64
	output  string   // the output read
	perTok  bool     // output is [batch, seq, dim]; else [batch, dim]
	dim     int      // width of the output
	pooling string   // kefu.PoolMean, PoolCLS or PoolOutput
	norm    bool
}

// inspectGraph reads the inputs and outputs of spec's ONNX file and decides
// what to feed and what to read. The runtime must be initialised.
func inspectGraph(spec kefu.ModelSpec) (graphIO, error) {
	path := onnxPath(spec)
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return graphIO{}, kefu.Errorf(kefu.EINVALID, "model %s: cannot read %s: %w", spec.Name, path, err)
	}
	g := graphIO{pooling: spec.Pooling, norm: spec.Normalize}
	if g.pooling == "" {
		g.pooling = kefu.PoolMean
	}
	for _, in := range ins {
		role := -1
		switch in.Name {
		case "input_ids":
			role = inIDs
		case "attention_mask":
			role = inMask
		case "token_type_ids":
			role = inTypes
		}
		if role < 0 {
			return graphIO{}, kefu.Errorf(kefu.EUNSUPPORTED, "model %s: unknown graph input %q (kefu feeds input_ids, attention_mask, token_type_ids)", spec.Name, in.Name)
		}
		var i32 bool
		switch in.DataType {
		case ort.TensorElementDataTypeInt64:
		case ort.TensorElementDataTypeInt32:
			i32 = true
		default:
			return graphIO{}, kefu.Errorf(kefu.EUNSUPPORTED, "model %s: input %s has type %v, want int64 or int32", spec.Name, in.Name, in.DataType)
		}
		g.inputs, g.roles, g.int32s = append(g.inputs, in.Name), append(g.roles, role), append(g.int32s, i32)
	}
	if !hasRole(g.roles, inIDs) {
		return graphIO{}, kefu.Errorf(kefu.EUNSUPPORTED, "model %s: the graph has no input_ids input", spec.Name)
	}
	out, err := pickOutput(spec, g.pooling, outs)
	if err != nil {
		return graphIO{}, err
	}
	if out.DataType != ort.TensorElementDataTypeFloat {
		return graphIO{}, kefu.Errorf(kefu.EUNSUPPORTED, "model %s: output %s has type %v, want float32", spec.Name, out.Name, out.DataType)
	}
	g.output = out.Name
	g.perTok = len(out.Dimensions) == 3
	if last := out.Dimensions[len(out.Dimensions)-1]; last > 0 {
		g.dim = int(last)
	} else {
		g.dim = spec.Dim
	}
	if g.dim <= 0 {
		return graphIO{}, kefu.Errorf(kefu.EINVALID, "model %s: output width unknown; set the dimension", spec.Name)
	}
	if spec.Dim > 0 && spec.Dim != g.dim {
		return graphIO{}, kefu.Errorf(kefu.EINVALID, "model %s: the graph outputs %d values per vector, the spec says %d", spec.Name, g.dim, spec.Dim)
	}
	return g, nil
}

func hasRole(roles []int, r int) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// pickOutput chooses the graph output to read: spec.Output when named, else
// the pooled output for PoolOutput, else the token embeddings.
func pickOutput(spec kefu.ModelSpec, pooling string, outs []ort.InputOutputInfo) (ort.InputOutputInfo, error) {
	wantRank := 3
	if pooling == kefu.PoolOutput {
		wantRank = 2
	}
	if pooling != kefu.PoolMean && pooling != kefu.PoolCLS && pooling != kefu.PoolOutput {
		return ort.InputOutputInfo{}, kefu.Errorf(kefu.EUNSUPPORTED, "model %s: pooling %q is not one of mean, cls, output", spec.Name, pooling)
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	check := func(o ort.InputOutputInfo) (ort.InputOutputInfo, error) {
		if len(o.Dimensions) != wantRank {
			return o, kefu.Errorf(kefu.EINVALID, "model %s: output %s has %d dimensions, pooling %s needs %d", spec.Name, o.Name, len(o.Dimensions), pooling, wantRank)
		}
		return o, nil
	}
	if spec.Output != "" {
		for _, o := range outs {
			if o.Name == spec.Output {
				return check(o)
			}
		}
		return ort.InputOutputInfo{}, kefu.Errorf(kefu.EINVALID, "model %s: no graph output %q (it has %v)", spec.Name, spec.Output, names)
	}
	if wantRank == 3 {
		for _, name := range []string{"last_hidden_state", "token_embeddings"} {
			for _, o := range outs {
				if o.Name == name {
					return check(o)
				}
			}
		}
	}
	for _, o := range outs {
		if len(o.Dimensions) == wantRank {
			return o, nil
		}
	}
	return ort.InputOutputInfo{}, kefu.Errorf(kefu.EINVALID, "model %s: no output of rank %d among %v", spec.Name, wantRank, names)
}

func onnxPath(spec kefu.ModelSpec) string {
	name := spec.ONNXFile
	if name == "" {
		name = "model.onnx"
	}
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(spec.Dir, name)
}

// session is one ONNX Runtime session with its reusable buffers. It is used
// by one goroutine at a time.
type session struct {
	s      *ort.DynamicAdvancedSession
	g      graphIO
	padID  int
	i64    [3][]int64
	i32    [3][]int32
	out    []float32
	acc    []float64
	inputs []ort.Value
}

func newSession(spec kefu.ModelSpec, g graphIO, padID, threads int) (*session, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, kefu.Errorf(kefu.EUNAVAILABLE, "onnxruntime: %w", err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "onnxruntime: %w", err)
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "onnxruntime: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSession(onnxPath(spec), g.inputs, []string{g.output}, opts)
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "model %s: onnxruntime cannot load it: %w", spec.Name, err)
	}
	return &session{s: s, g: g, padID: padID, acc: make([]float64, g.dim), inputs: make([]ort.Value, len(g.inputs))}, nil
}

func (s *session) close() error { return s.s.Destroy() }

// run embeds a batch of id sequences, right-padded to the longest, and writes
// one pooled vector per sequence into dst (len(batch)*dim floats). types
// holds each sequence's token type ids (sentence pairs); nil is all zeros.
// It returns the time spent inside ONNX Runtime.
func (s *session) run(batch, types [][]int, dst []float32) (time.Duration, error) {
	rows, seq := len(batch), 1 // an all-empty batch still needs one column
	for _, ids := range batch {
		seq = max(seq, len(ids))
	}
	n := rows * seq
	shape := ort.NewShape(int64(rows), int64(seq))
	for i, role := range s.g.roles {
		var err error
		if s.g.int32s[i] {
			buf := grow(&s.i32[role], n)
			fill(buf, batch, types, seq, role, int32(s.padID))
			s.inputs[i], err = ort.NewTensor(shape, buf)
		} else {
			buf := grow(&s.i64[role], n)
			fill(buf, batch, types, seq, role, int64(s.padID))
			s.inputs[i], err = ort.NewTensor(shape, buf)
		}
		if err != nil {
			s.destroyInputs(i)
			return 0, kefu.Errorf(kefu.EINTERNAL, "onnxruntime: %w", err)
		}
	}
	defer s.destroyInputs(len(s.inputs))
	d := s.g.dim
	outShape := ort.NewShape(int64(rows), int64(d))
	width := d
	if s.g.perTok {
		outShape = ort.NewShape(int64(rows), int64(seq), int64(d))
		width = seq * d
	}
	out := grow(&s.out, rows*width)
	outT, err := ort.NewTensor(outShape, out)
	if err != nil {
		return 0, kefu.Errorf(kefu.EINTERNAL, "onnxruntime: %w", err)
	}
	defer outT.Destroy()
	start := time.Now()
	err = s.s.Run(s.inputs, []ort.Value{outT})
	took := time.Since(start)
	if err != nil {
		return took, kefu.Errorf(kefu.EINTERNAL, "onnxruntime: %w", err)
	}
	for r, ids := range batch {
		v := dst[r*d : (r+1)*d]
		h := out[r*width : (r+1)*width]
		switch s.g.pooling {
		case kefu.PoolMean:
			meanPool(v, h, len(ids), s.g.norm, s.acc)
		default: // PoolCLS reads row 0 of the tokens, PoolOutput the pooled row
			copyPool(v, h[:d], s.g.norm, s.acc)
		}
	}
	return took, nil
}

func (s *session) destroyInputs(n int) {
	for i := 0; i < n; i++ {
		if s.inputs[i] != nil {
			s.inputs[i].Destroy()
			s.inputs[i] = nil
		}
	}
}

// grow returns (*buf)[:n], reallocating when it is too short.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n+n/4)
	}
	return (*buf)[:n]
}

// fill writes the role's values for batch, right-padded to seq, into buf.
func fill[T int32 | int64](buf []T, batch, types [][]int, seq, role int, pad T) {
	for r, ids := range batch {
		row := buf[r*seq : (r+1)*seq]
		for t := range row {
			switch {
			case role == inIDs && t < len(ids):
				row[t] = T(ids[t])
			case role == inIDs:
				row[t] = pad
			case role == inMask && t < len(ids):
				row[t] = 1
			case role == inTypes && types != nil && t < len(types[r]):
				row[t] = T(types[r][t])
			default:
				row[t] = 0
			}
		}
	}
}

func (g graphIO) String() string {
	return fmt.Sprintf("inputs %v -> %s (%d, pooling %s)", g.inputs, g.output, g.dim, g.pooling)
}
