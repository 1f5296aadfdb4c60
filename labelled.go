package kefu

// Qrels are relevance judgements as TREC and BEIR write them: query id →
// document or chunk id → grade (> 0 is relevant).
type Qrels map[string]map[string]int

// LabelledSet is a set of queries with judgements: a dataset's split or a
// team's labelled questions, at document level or, when ByChunk, at chunk
// level. Evaluation measures retrieval on it; calibration fits the
// confidence on it.
type LabelledSet struct {
	Name    string
	Split   string
	Queries map[string]string // query id → text
	Qrels   Qrels
	ByChunk bool
}
