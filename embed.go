package kefu

import (
	"context"
	"encoding/hex"
	"strings"
)

// Pooling modes of an embedding model.
const (
	PoolMean   = "mean"   // mean of the token vectors over the attention mask
	PoolCLS    = "cls"    // the first token's vector
	PoolOutput = "output" // the graph pools itself; ModelSpec.Output names the tensor
)

// ModelFile is one file of a model, with where to get it and its checksum.
type ModelFile struct {
	Name   string `json:"name"`             // path inside the model folder
	URL    string `json:"url,omitempty"`    // download address
	SHA256 string `json:"sha256,omitempty"` // expected checksum; "" when unpinned
	Size   int64  `json:"size,omitempty"`
}

// ModelSpec describes an embedding model: its files, its shape and how to
// turn its output into one normalised vector per text.
type ModelSpec struct {
	Name          string      `json:"name"`
	Dir           string      `json:"dir,omitempty"` // local folder once resolved
	Files         []ModelFile `json:"files"`
	ONNXFile      string      `json:"onnx_file"` // path of the graph inside Dir, default model.onnx
	Dim           int         `json:"dim"`
	Pooling       string      `json:"pooling"`          // PoolMean, PoolCLS or PoolOutput
	Output        string      `json:"output,omitempty"` // graph output to read; "" is the first
	Normalize     bool        `json:"normalize"`        // L2-normalise after pooling
	MaxTokens     int         `json:"max_tokens"`       // max sequence length, special tokens included
	QueryPrefix   string      `json:"query_prefix,omitempty"`
	PassagePrefix string      `json:"passage_prefix,omitempty"`
	Languages     []string    `json:"languages"`
	Repo          string      `json:"repo,omitempty"`     // HuggingFace repository
	Revision      string      `json:"revision,omitempty"` // pinned commit
	Pretrained    bool        `json:"pretrained"`         // false: random weights, for tests and speed only
	Notes         string      `json:"notes,omitempty"`
}

// TokenCounter counts the tokens a model sees of a text, without the special
// tokens it adds around every input. Chunkers budget with it.
type TokenCounter interface {
	CountTokens(text string) int
}

// Embedder turns texts into unit vectors with one model.
type Embedder interface {
	TokenCounter
	// Model describes the model; ModelID identifies its weights, so a KB can
	// tell when it was embedded with something else.
	Model() ModelSpec
	ModelID() ModelID
	EmbedQueries(ctx context.Context, texts []string) ([][]float32, error)
	EmbedPassages(ctx context.Context, texts []string) ([][]float32, error)
	Close() error
}

// ModelID identifies an embedding model's weights: the model's name, '@' and
// the first 12 hex digits of its ONNX file's SHA-256, as in
// "use-lite-en@0123456789ab". A KB records the id of the model its vectors
// come from, so it notices when the weights change.
type ModelID string

// NewModelID returns the id of the model called name whose ONNX file has
// the SHA-256 sum.
func NewModelID(name string, sum [32]byte) ModelID {
	return ModelID(name + "@" + hex.EncodeToString(sum[:6]))
}

// Name returns the model's name: the id before its last '@', or the whole
// id when it has none.
func (id ModelID) Name() string {
	if i := strings.LastIndexByte(string(id), '@'); i >= 0 {
		return string(id[:i])
	}
	return string(id)
}
