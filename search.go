package kefu

import (
	"context"
	"fmt"
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
	// Select, when set, is called with the candidates (their ids, scores
	// and Docs; Chunks empty, and the keyword hits' coverage and masks
	// may not be set yet) inside the search's snapshot and returns the
	// chunk ids whose records Chunks must hold; nil loads every
	// candidate's. A retriever fuses here and loads only the hits it keeps.
	Select func(c *Candidates) []string
}

// Scored is a chunk id with a score from one side of the search.
type Scored struct {
	ChunkID string  `json:"chunk_id"`
	Score   float64 `json:"score"`
	// Coverage is the share of the query's keyword terms found in the chunk,
	// set by keyword search for its first results (0 elsewhere).
	Coverage float64 `json:"coverage,omitempty"`
	// HeadMatch has bit i set when Candidates.QueryTerms[i] (i < 64) occurs
	// in the chunk's title, heading path or FAQ questions, BodyMatch when it
	// occurs in its text (a passage, an FAQ answer); set by keyword search
	// for its first MaskedHits results (Masked).
	HeadMatch uint64 `json:"-"`
	BodyMatch uint64 `json:"-"`
	Masked    bool   `json:"-"`
	// FAQ marks an FAQ entry: its questions (HeadMatch) say what it
	// answers; its answer (BodyMatch) only elaborates. Set by keyword
	// search with the masks.
	FAQ bool `json:"-"`
}

// MaskedHits is how many of the first keyword candidates carry term masks.
const MaskedHits = 32

// TermKind tells the terms of an analysed keyword query apart.
type TermKind uint8

// Term kinds.
const (
	TermWord    TermKind = iota // a word of the query (a Chinese word as segmented, a stemmed English word)
	TermPart                    // a character of a Chinese word, indexed beside it for partial credit
	TermSynonym                 // a term a synonym rule added for some of the words
)

// QueryTerm is one distinct term of a keyword query as the index analysed
// it, with what the KB knows of it. The answerability features are computed
// from these and the hits' term masks.
type QueryTerm struct {
	Text string // as analysed: stemmed, lower-cased, Simplified
	// Surface is the term as the query wrote it (after width folding and
	// Traditional → Simplified), or a synonym rule's phrase.
	Surface string
	Kind    TermKind
	For     []int   // TermPart, TermSynonym: indexes of the words it stands for
	Weight  float64 // its weight in the query: occurrences, or a synonym rule's weight
	DF      int     // chunks of the KB that hold it, in any field
	// Function marks question words, pronouns, modal verbs and fillers
	// (怎么, 可以, please…): kept for ranking, but they say nothing of what
	// the query is about.
	Function bool
	// Specificity is how rare a word is in the language at large, from 0
	// (今天, 东西) to 1 (比特币, or a word no dictionary knows): it tells a
	// word that adds context from one that names something else. -1 when
	// unknown (words not in Chinese).
	Specificity float64
	// Phrases are, for a word, the synonyms of several words a rule added
	// for it (质量问题 for 坏了), each as the indexes of its terms: a chunk
	// that holds every term of one holds the word, as it does a one-word
	// synonym (For).
	Phrases [][]int
}

// Candidates are the raw results of both sides of one search, taken from one
// consistent view of the KB.
type Candidates struct {
	Keyword []Scored // best first
	Vector  []Scored // best first, cosine similarity
	Terms   []string // the query's keyword terms as analysed
	// QueryTerms are the keyword query's distinct terms with their
	// statistics, the first 64 of which the keyword candidates' masks
	// refer to; DocCount is the number of chunks they were counted over.
	QueryTerms []QueryTerm
	DocCount   int
	Docs       map[string]string // chunk id → id of its document, for every candidate
	Chunks     map[string]*Chunk // the chunks named above, or those SearchRequest.Select chose
	Version    uint64            // KB version the search saw
	Timings    map[TimingKey]time.Duration
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
	ModeHybrid SearchMode = "hybrid" // both sides, fused
	ModeBM25   SearchMode = "bm25"   // the keyword side alone
	ModeDense  SearchMode = "dense"  // the vector side alone
)

// TimingKey names one measured part of a search in Candidates.Timings and
// Retrieval.Timings.
type TimingKey string

// Timing keys.
const (
	TimingTotal   TimingKey = "total"   // Retriever.Retrieve, end to end
	TimingEmbed   TimingKey = "embed"   // embedding the query
	TimingSearch  TimingKey = "search"  // Index.Search, both sides
	TimingKeyword TimingKey = "keyword" // the keyword side
	TimingVector  TimingKey = "vector"  // the vector side
	TimingLoad    TimingKey = "load"    // loading the chunks of the hits kept
	TimingFuse    TimingKey = "fuse"    // fusion, reranking and confidence
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
// the confidence is computed. The first seven describe the rankings; the
// rest describe whether the top hit answers the query (answerability): how
// much of the query's content it holds, in its question and in its answer,
// and what of the query the KB does not know at all. Content terms are the
// query's words without function words (see QueryTerm.Function), each
// weighted by its idf in the KB; a word counts as held when the hit has it or
// a synonym of it, and for half when it has some of its characters.
type Features struct {
	TopVector     float64 `json:"top_vector"`     // cosine of the best vector hit
	TopKeyword    float64 `json:"top_keyword"`    // BM25 of the best keyword hit
	VectorMargin  float64 `json:"vector_margin"`  // top1 - top2 cosine
	KeywordMargin float64 `json:"keyword_margin"` // (top1 - top2) / top1 BM25
	Coverage      float64 `json:"coverage"`       // share of query terms in the best keyword hit
	Agreement     float64 `json:"agreement"`      // 1 if both sides rank the same chunk first
	QueryTerms    float64 `json:"query_terms"`    // keyword terms in the query

	QuestionCover float64 `json:"question_cover"`   // idf-weighted share of the content the top hit's questions (title, headings) hold
	AnswerCover   float64 `json:"answer_cover"`     // the same for its answer (passage text)
	Cover         float64 `json:"cover"`            // the same for the whole hit
	Unknown       float64 `json:"unknown"`          // idf-weighted share of the content no chunk of the KB holds
	UnknownSpec   float64 `json:"unknown_specific"` // the most specific content word no chunk of the KB holds (QueryTerm.Specificity; 1 when not known); 0 when there is none
	Missing       float64 `json:"missing"`          // the rarest content term the top hit lacks: its idf over the largest possible idf; 0 when it lacks none
	CharCover     float64 `json:"char_cover"`       // idf-weighted share of the content words' Chinese characters the top hit holds (0 without any)
	Evidence      float64 `json:"evidence"`         // the rarest content term the top hit holds: its idf over the largest possible idf
	Matched       float64 `json:"matched"`          // content terms the top hit holds whole (itself or a synonym)
	Content       float64 `json:"content"`          // content terms in the query
	CoverMargin   float64 `json:"cover_margin"`     // Cover minus the best Cover of a rival hit (another document, or another FAQ entry when the top hit is one); an FAQ entry rivals by its questions only
	QAAgreement   float64 `json:"qa_agreement"`     // 1 if the top hit is also the best by question cover and by answer cover
	Restated      float64 `json:"restated"`         // the largest share of one of the top hit's questions (title, heading) the query holds, in characters and words
	VectorOn      float64 `json:"vector_on"`        // 1 if the vector side ran (the model knows the query's language)
	HitVector     float64 `json:"hit_vector"`       // cosine of the top hit, 0 if the vector side did not find it
}

// Vector returns the features in the order of FeatureNames.
func (f Features) Vector() []float64 {
	return []float64{f.TopVector, f.TopKeyword, f.VectorMargin, f.KeywordMargin, f.Coverage, f.Agreement, f.QueryTerms,
		f.QuestionCover, f.AnswerCover, f.Cover, f.Unknown, f.UnknownSpec, f.Missing, f.Evidence, f.CharCover, f.Matched, f.Content, f.CoverMargin, f.QAAgreement, f.VectorOn, f.HitVector, f.Restated}
}

// FeatureNames names the entries of Features.Vector.
var FeatureNames = []string{"top_vector", "top_keyword", "vector_margin", "keyword_margin", "coverage", "agreement", "query_terms",
	"question_cover", "answer_cover", "cover", "unknown", "unknown_specific", "missing", "evidence", "char_cover", "matched", "content", "cover_margin", "qa_agreement", "vector_on", "hit_vector", "restated"}

// Reranker scores (query, passage) pairs with a cross-encoder; higher is
// more relevant.
type Reranker interface {
	Rerank(ctx context.Context, query string, passages []string) ([]float64, error)
}

// Retrieval is the result of a hybrid search with its confidence.
type Retrieval struct {
	Hits       []Hit                       `json:"hits"`
	Confidence float64                     `json:"confidence"` // P(top hit is relevant), in [0,1]
	Features   Features                    `json:"features"`
	Version    uint64                      `json:"kb_version"`
	Timings    map[TimingKey]time.Duration `json:"-"`
	// Terms are the keyword query's terms with their document frequencies
	// over DocCount chunks (Candidates.QueryTerms), for callers that ask
	// how much of the KB a word is about.
	Terms    []QueryTerm `json:"-"`
	DocCount int         `json:"-"`
}

// Retriever runs hybrid search on a KB.
type Retriever interface {
	Retrieve(ctx context.Context, kb string, q Query) (*Retrieval, error)
}

// Calibration maps retrieval features to a calibrated confidence. A KB fits
// its own from its content (Source CalibrationSelf) as soon as it has some,
// and again whenever it changes; `kefu eval --calibrate` fits one on
// labelled questions, which then takes precedence.
type Calibration struct {
	Kind     string    `json:"kind"`     // "logistic"
	Features []string  `json:"features"` // names from FeatureNames
	Mean     []float64 `json:"mean"`     // standardisation applied before Weights
	Scale    []float64 `json:"scale"`
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
	Model    ModelID   `json:"model"`     // embedding model it was fitted with
	FittedOn string    `json:"fitted_on"` // dataset and split
	Samples  int       `json:"samples"`   // training queries
	ECE      float64   `json:"ece"`       // on the evaluated split
	FittedAt time.Time `json:"fitted_at"`

	// Source says what it was fitted on: CalibrationSelf, CalibrationLabelled
	// or CalibrationMixed; "" for calibrations stored before there was a
	// choice (labelled).
	Source string `json:"source,omitempty"`
	// Precision and Coverage are measured on held-out questions at
	// Threshold: the share of answers at or above it that were right, and
	// the share of questions that reached it.
	Precision float64 `json:"precision,omitempty"`
	Coverage  float64 `json:"coverage,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// Version is the KB version a self-calibration was fitted on; Took how
	// long the fit took.
	Version uint64 `json:"kb_version,omitempty"`
	Took    string `json:"took,omitempty"`
	// Fingerprint identifies the content and settings a self-calibration
	// was fitted on; it is fitted again when they change.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Summary says in one line what the calibration was fitted on, when, and
// how it measured on held-out questions.
func (c *Calibration) Summary() string {
	if c == nil || len(c.Weights) == 0 {
		return "not calibrated yet: the built-in default confidence mapping (conservative)"
	}
	what := "fitted on labelled questions"
	switch c.Source {
	case CalibrationSelf:
		what = "calibrated itself from its content"
	case CalibrationMixed:
		what = "fitted on labelled questions and its own content"
	}
	s := fmt.Sprintf("%s on %s (%d questions)", what, c.FittedAt.UTC().Format("2006-01-02 15:04 MST"), c.Samples)
	if c.Threshold > 0 {
		s += fmt.Sprintf("; held out: precision %.2f at %.2f, coverage %.2f, ECE %.3f", c.Precision, c.Threshold, c.Coverage, c.ECE)
	}
	return s
}

// Calibration sources.
const (
	CalibrationSelf     = "self"     // from the KB's own content, no labelled questions
	CalibrationLabelled = "labelled" // from a team's labelled questions (kefu eval --calibrate)
	CalibrationMixed    = "mixed"    // both
)
