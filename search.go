package kefu

import (
	"context"
	"time"
)

// Filter restricts a search to some documents or metadata. Indexes apply it
// inside the search, so k results are k matching results.
type Filter struct {
	DocIDs []string          `json:"doc_ids,omitempty"` // any of these documents
	Kinds  []ChunkKind       `json:"kinds,omitempty"`   // any of these kinds
	Meta   map[string]string `json:"meta,omitempty"`    // all of these key=value pairs (Lang and Category count as meta "lang" and "category")
}

// Empty reports whether the filter lets everything through.
func (f *Filter) Empty() bool {
	return f == nil || (len(f.DocIDs) == 0 && len(f.Kinds) == 0 && len(f.Meta) == 0)
}

// SearchRequest asks an Index for candidates from both sides at once.
type SearchRequest struct {
	Query  string    // keyword query; "" skips the keyword side
	Vector []float32 // query embedding; nil skips the vector side
	K      int       // candidates per side
	Filter *Filter
	// Select, when set, is called with the candidates (Docs filled, Chunks
	// empty) inside the search's snapshot and returns the chunk ids whose
	// records Chunks must hold; nil loads every candidate's. A retriever
	// fuses here and loads only the hits it keeps.
	Select func(c *Candidates) []string
}

// Scored is a chunk id with a score from one side of the search.
type Scored struct {
	ChunkID string  `json:"chunk_id"`
	Score   float64 `json:"score"`
	// Coverage is the share of the query's keyword terms found in the chunk,
	// set by keyword search for its first results (0 elsewhere).
	Coverage float64 `json:"coverage,omitempty"`
}

// Candidates are the raw results of both sides of one search, taken from one
// consistent view of the KB.
type Candidates struct {
	Keyword []Scored          // best first
	Vector  []Scored          // best first, cosine similarity
	Terms   []string          // the query's keyword terms as analysed
	Docs    map[string]string // chunk id → id of its document, for every candidate
	Chunks  map[string]*Chunk // the chunks named above, or those SearchRequest.Select chose
	Version uint64            // KB version the search saw
	Timings map[string]time.Duration
}

// Index serves searches. Implementations run both sides of a request in
// parallel against one snapshot of the KB: a concurrent document update is
// seen entirely or not at all.
type Index interface {
	Search(ctx context.Context, kb string, req SearchRequest) (*Candidates, error)
}

// Hit is one fused search result.
type Hit struct {
	Chunk        *Chunk  `json:"chunk"`
	Score        float64 `json:"score"`         // fused score
	KeywordScore float64 `json:"keyword_score"` // raw BM25, 0 if absent
	VectorScore  float64 `json:"vector_score"`  // cosine, 0 if absent
	KeywordRank  int     `json:"keyword_rank"`  // 1-based; 0 if absent
	VectorRank   int     `json:"vector_rank"`   // 1-based; 0 if absent
	Rerank       float64 `json:"rerank_score,omitempty"`
}

// SearchMode selects the sides a retrieval uses.
type SearchMode string

// Search modes.
const (
	ModeHybrid  SearchMode = "hybrid"
	ModeKeyword SearchMode = "bm25"
	ModeVector  SearchMode = "dense"
)

// Query is a retrieval request.
type Query struct {
	Text   string     `json:"query"`
	K      int        `json:"k"`
	Mode   SearchMode `json:"mode,omitempty"` // default hybrid
	Filter *Filter    `json:"filter,omitempty"`
	// Fusion overrides the KB's stored fusion, for evaluation and tuning.
	Fusion *Fusion `json:"fusion,omitempty"`
}

// Features are what the retriever knows about a query's results, from which
// the confidence is computed.
type Features struct {
	TopVector     float64 `json:"top_vector"`     // cosine of the best vector hit
	TopKeyword    float64 `json:"top_keyword"`    // BM25 of the best keyword hit
	VectorMargin  float64 `json:"vector_margin"`  // top1 - top2 cosine
	KeywordMargin float64 `json:"keyword_margin"` // (top1 - top2) / top1 BM25
	Coverage      float64 `json:"coverage"`       // share of query terms in the best keyword hit
	Agreement     float64 `json:"agreement"`      // 1 if both sides rank the same chunk first
	QueryTerms    float64 `json:"query_terms"`    // keyword terms in the query
}

// Vector returns the features in the order of FeatureNames.
func (f Features) Vector() []float64 {
	return []float64{f.TopVector, f.TopKeyword, f.VectorMargin, f.KeywordMargin, f.Coverage, f.Agreement, f.QueryTerms}
}

// FeatureNames names the entries of Features.Vector.
var FeatureNames = []string{"top_vector", "top_keyword", "vector_margin", "keyword_margin", "coverage", "agreement", "query_terms"}

// Reranker scores (query, passage) pairs with a cross-encoder; higher is
// more relevant.
type Reranker interface {
	Rerank(ctx context.Context, query string, passages []string) ([]float64, error)
}

// Retrieval is the result of a hybrid search with its confidence.
type Retrieval struct {
	Hits       []Hit                    `json:"hits"`
	Confidence float64                  `json:"confidence"` // P(top hit is relevant), in [0,1]
	Features   Features                 `json:"features"`
	Version    uint64                   `json:"kb_version"`
	Timings    map[string]time.Duration `json:"-"`
}

// Retriever runs hybrid search on a KB.
type Retriever interface {
	Retrieve(ctx context.Context, kb string, q Query) (*Retrieval, error)
}

// Calibration maps retrieval features to a calibrated confidence. It is fitted
// by `kefu eval --calibrate` and stored with the KB.
type Calibration struct {
	Kind     string    `json:"kind"`     // "logistic"
	Features []string  `json:"features"` // names from FeatureNames
	Mean     []float64 `json:"mean"`     // standardisation applied before Weights
	Scale    []float64 `json:"scale"`
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
	Model    string    `json:"model"`     // embedding model it was fitted with
	FittedOn string    `json:"fitted_on"` // dataset and split
	Samples  int       `json:"samples"`   // training queries
	ECE      float64   `json:"ece"`       // on the evaluated split
	FittedAt time.Time `json:"fitted_at"`
}
