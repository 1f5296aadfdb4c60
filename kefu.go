// Package kefu is the domain of the kefu knowledge-base service: the types
// that flow between the stages (KB, Document, Chunk, Hit, Answer), the
// interfaces between them and the error codes.
//
// Each stage lives in a package of its own that depends on this one (and
// internal helpers) and not on its siblings: ingest (parse and chunk),
// embed (tokenizer, ONNX, pooling), models (which model, from where),
// index (stores and indexes), retrieve (hybrid search, fusion, confidence
// and its fitting), answer (policy, prompts, LLM), desk (conversations and
// hand-off to agents), webhook (the outbox's deliveries) and api (HTTP). Tool
// packages may drive stages: cmd/kefu wires them, eval measures retrieve,
// internal/demo seeds the demo KBs, internal/bench and cmd/kefu-bench
// measure speed. This package imports nothing of kefu.
package kefu

import (
	"regexp"
	"time"
)

// Defaults of the answer policy.
const (
	DefaultThreshold = 0.85 // confidence at or above which kefu answers plainly
	DefaultFloor     = 0.40 // confidence below which kefu does not answer at all
	DefaultChunkSize = 256  // chunk budget in tokens of the KB's embedding model
)

// KB is a knowledge base: a named set of documents embedded with one model.
type KB struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Model       ModelID    `json:"model"` // the model its vectors come from
	Dim         int        `json:"dim"`
	Settings    KBSettings `json:"settings"`
	// Version increases with every change to the KB's content or settings;
	// caches key on it.
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// KBStats counts what a KB holds.
type KBStats struct {
	Documents int   `json:"documents"`
	Chunks    int   `json:"chunks"`
	Vectors   int   `json:"vectors"`
	Bytes     int64 `json:"bytes"` // source bytes ingested
}

// KBSettings are the per-KB knobs of retrieval and answering.
type KBSettings struct {
	Threshold      float64      `json:"threshold"`       // confident-answer threshold, default 0.85
	Floor          float64      `json:"floor"`           // below it: no answer, default 0.40
	SensitiveWords []string     `json:"sensitive_words"` // hand-off triggers, added to the defaults
	Fusion         Fusion       `json:"fusion"`
	Chunking       Chunking     `json:"chunking"`
	LLM            *LLMSettings `json:"llm,omitempty"` // nil: the global LLM, if any
	Calibration    *Calibration `json:"calibration,omitempty"`
	Reranker       string       `json:"reranker,omitempty"` // reranker model name; "" is off
	// Synonyms are the team's own synonym rules in the Solr format ("退钱,
	// 退款" or "坏了 => 质量问题"), one per entry, added to the built-in
	// customer-service lexicon unless Lexicon is LexiconNone.
	Synonyms []string `json:"synonyms,omitempty"`
	Lexicon  string   `json:"lexicon,omitempty"` // "" (the built-in lexicon) or LexiconNone
	// LearnedSynonyms are rules the KB learned from its FAQ entries' own
	// phrasings (words that one phrasing uses where another uses another),
	// refreshed by self-calibration.
	LearnedSynonyms []string `json:"learned_synonyms,omitempty"`

	// Handoff are the KB's hand-off triggers, service hours and notices.
	Handoff *HandoffSettings `json:"handoff,omitempty"`
	// RetentionDays is how long a conversation is kept after its last
	// message; 0 is DefaultRetentionDays.
	RetentionDays int `json:"retention_days,omitempty"`
}

// LexiconNone turns the built-in synonym lexicon off for a KB.
const LexiconNone = "none"

// Chunking configures how documents are cut.
type Chunking struct {
	MaxTokens     int `json:"max_tokens"`     // default 256
	OverlapTokens int `json:"overlap_tokens"` // default 0
}

// Fusion methods.
const (
	FusionRRF    = "rrf"    // weighted reciprocal-rank fusion
	FusionMinMax = "minmax" // weighted sum of min-max normalised scores
)

// Fusion configures how keyword and vector results are combined.
type Fusion struct {
	Method       string  `json:"method"`        // FusionRRF or FusionMinMax
	VectorWeight float64 `json:"vector_weight"` // in [0,1]; the keyword side gets 1-VectorWeight
	RRFK         float64 `json:"rrf_k"`         // RRF constant, default 60
	PerDocCap    int     `json:"per_doc_cap"`   // most hits per document; 0 is no cap
	Candidates   int     `json:"candidates"`    // candidates fetched per side; 0 is max(4k, 50)
}

// LLMSettings configures an OpenAI-compatible chat model.
type LLMSettings struct {
	BaseURL       string  `json:"base_url"`
	Model         string  `json:"model"`
	APIKey        string  `json:"api_key,omitempty"`
	Temperature   float64 `json:"temperature"`
	MaxTokens     int     `json:"max_tokens"`
	ContextTokens int     `json:"context_tokens"` // the model's context window
}

// DefaultSettings returns the settings of a new KB.
func DefaultSettings() KBSettings {
	return KBSettings{
		Threshold: DefaultThreshold,
		Floor:     DefaultFloor,
		Fusion:    DefaultFusion(),
		Chunking:  Chunking{MaxTokens: DefaultChunkSize},
	}
}

// DefaultFusion is the fusion a KB uses until it is tuned. Min-max weighted
// fusion with a light vector weight: a weak embedding model cannot drag the
// keyword ranking down, a good one still lifts it.
func DefaultFusion() Fusion {
	return Fusion{Method: FusionMinMax, VectorWeight: 0.3, RRFK: 60, PerDocCap: 3}
}

var kbName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidKBName reports whether name can name a KB: 1 to 63 lower-case letters,
// digits, '-' or '_', starting with a letter or digit.
func ValidKBName(name string) bool { return kbName.MatchString(name) }
