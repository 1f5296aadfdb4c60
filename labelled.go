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
	// Info holds what the labelled questions say besides their judgements
	// (absent for a dataset's queries).
	Info map[string]QuestionInfo
}

// QuestionInfo is what a labelled question says besides its judgements.
type QuestionInfo struct {
	Lang string // "zh", "en", "mixed" or "" when not given
	// Kind is how it was asked: exact, paraphrase, colloquial, typo,
	// traditional, mixed, near_miss, off_topic, handoff, or "".
	Kind string
	// None: the KB cannot answer it. Handoff: it asks for a person, so the
	// right reply is a hand-off (when it also names an answer, as "how do I
	// reach a human?" does, that answer is right too).
	None, Handoff bool
}
