package models

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kefu-dev/kefu"
)

// maxConfigFile bounds the JSON config files Describe reads.
const maxConfigFile = 1 << 20

// Describe builds the spec of a sentence-transformers export in dir from
// its own files, so a user's model works unchanged: config.json (hidden_size),
// sentence_bert_config.json (max_seq_length), modules.json (a Normalize
// module), the pooling module's config.json (CLS or mean) and
// config_sentence_transformers.json (query/passage prompts). Vectors are
// normalised whatever modules.json says, since embedders return unit vectors.
func Describe(dir string) (kefu.ModelSpec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.EINVALID, "model folder %s: %w", dir, err)
	}
	spec := kefu.ModelSpec{
		Name:       filepath.Base(abs),
		Pooling:    kefu.PoolMean,
		Normalize:  true,
		Pretrained: true,
		Notes:      "described from the folder's own files",
	}
	var cfg struct {
		HiddenSize            int `json:"hidden_size"`
		DModel                int `json:"d_model"`
		MaxPositionEmbeddings int `json:"max_position_embeddings"`
	}
	if err := readJSON(filepath.Join(abs, "config.json"), &cfg); err != nil && !os.IsNotExist(err) {
		return kefu.ModelSpec{}, err
	}
	spec.Dim = cfg.HiddenSize
	if spec.Dim == 0 {
		spec.Dim = cfg.DModel
	}
	var sbert struct {
		MaxSeqLength int `json:"max_seq_length"`
	}
	if err := readJSON(filepath.Join(abs, "sentence_bert_config.json"), &sbert); err != nil && !os.IsNotExist(err) {
		return kefu.ModelSpec{}, err
	}
	spec.MaxTokens = sbert.MaxSeqLength
	if spec.MaxTokens <= 0 {
		spec.MaxTokens = min(cfg.MaxPositionEmbeddings, 512)
	}
	if spec.MaxTokens <= 0 {
		spec.MaxTokens = 512
	}
	var modules []struct {
		Path string `json:"path"`
		Type string `json:"type"`
	}
	if err := readJSON(filepath.Join(abs, "modules.json"), &modules); err != nil && !os.IsNotExist(err) {
		return kefu.ModelSpec{}, err
	}
	for _, m := range modules {
		if !strings.HasSuffix(m.Type, ".Pooling") {
			continue
		}
		var pool struct {
			Dim  int  `json:"word_embedding_dimension"`
			CLS  bool `json:"pooling_mode_cls_token"`
			Mean bool `json:"pooling_mode_mean_tokens"`
			Max  bool `json:"pooling_mode_max_tokens"`
			Last bool `json:"pooling_mode_lasttoken"`
		}
		if err := readJSON(filepath.Join(abs, filepath.FromSlash(m.Path), "config.json"), &pool); err != nil {
			if os.IsNotExist(err) {
				err = kefu.Errorf(kefu.EINVALID, "model %s: modules.json names pooling module %s, which has no config.json", spec.Name, m.Path)
			}
			return kefu.ModelSpec{}, err
		}
		switch {
		case pool.CLS && !pool.Mean && !pool.Max && !pool.Last:
			spec.Pooling = kefu.PoolCLS
		case pool.Mean && !pool.CLS && !pool.Max && !pool.Last:
			spec.Pooling = kefu.PoolMean
		default:
			return kefu.ModelSpec{}, kefu.Errorf(kefu.EUNSUPPORTED, "model %s: pooling in %s is not plain CLS or mean", spec.Name, m.Path)
		}
		if pool.Dim > 0 {
			spec.Dim = pool.Dim
		}
	}
	var st struct {
		Prompts map[string]string `json:"prompts"`
	}
	if err := readJSON(filepath.Join(abs, "config_sentence_transformers.json"), &st); err != nil && !os.IsNotExist(err) {
		return kefu.ModelSpec{}, err
	}
	spec.QueryPrefix = st.Prompts["query"]
	spec.PassagePrefix = st.Prompts["passage"]
	if spec.PassagePrefix == "" {
		spec.PassagePrefix = st.Prompts["document"]
	}
	if spec.Dim < 0 {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.EINVALID, "model %s: negative dimension %d", spec.Name, spec.Dim)
	}
	onnx, ok := findONNX(abs, "")
	if !ok {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND, "model folder %s has no model.onnx or onnx/model.onnx; export the model to ONNX (e.g. with optimum) and put it there", abs)
	}
	for _, name := range []string{onnx, "tokenizer.json", "config.json", "sentence_bert_config.json", "modules.json", "tokenizer_config.json", "special_tokens_map.json"} {
		if isFile(filepath.Join(abs, name)) {
			spec.Files = append(spec.Files, kefu.ModelFile{Name: filepath.ToSlash(name)})
		}
	}
	spec.ONNXFile = onnx
	spec.Dir = abs
	if !isFile(filepath.Join(abs, "tokenizer.json")) {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND, "model folder %s has no tokenizer.json (the HuggingFace fast-tokenizer file); save it with tokenizer.save_pretrained", abs)
	}
	return spec, nil
}

// readJSON decodes a small JSON file; a missing file is an os.IsNotExist error.
func readJSON(p string, v any) error {
	f, err := os.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return err
		}
		return kefu.Errorf(kefu.EINVALID, "%w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return kefu.Errorf(kefu.EINVALID, "read %s: %w", p, err)
	}
	if len(data) > maxConfigFile {
		return kefu.Errorf(kefu.ETOOLARGE, "%s is larger than %d bytes", p, maxConfigFile)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return kefu.Errorf(kefu.EINVALID, "%s: %w", p, err)
	}
	return nil
}
