package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

// MaxQuestions bounds the labelled questions of one file.
const MaxQuestions = 100_000

// ParseQuestions reads a team's labelled questions: one JSON object a line
// with "question" and what answers it: "doc_ids", "chunk_ids", or
// "faq_questions" (FAQ entries named by one of their phrasings, resolved
// through faqs to chunk ids, see FAQIndex); "none": true marks a question
// the KB cannot answer, which counts for calibration (its top hit is wrong)
// but not for the retrieval metrics; "handoff": true a request for a person
// (with or without an answer of its own). Optional: "id" (default
// q<line>), "lang" (zh, en, mixed), "kind" (how it was asked), "near" and
// "note" (for people). Every question is labelled by documents, or every
// one by chunks (eval/questions/README.md has the format).
func ParseQuestions(name string, data []byte, faqs map[string]string) (*kefu.LabelledSet, error) {
	set := &kefu.LabelledSet{Name: name, Split: "all", Queries: map[string]string{}, Qrels: kefu.Qrels{}}
	byDoc, byChunk := 0, 0
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(set.Qrels) >= MaxQuestions {
			return nil, kefu.Errorf(kefu.ETOOLARGE, "%s: more than %d questions", name, MaxQuestions)
		}
		var q struct {
			ID       string   `json:"id"`
			Question string   `json:"question"`
			DocIDs   []string `json:"doc_ids"`
			ChunkIDs []string `json:"chunk_ids"`
			FAQs     []string `json:"faq_questions"`
			None     bool     `json:"none"`
			Handoff  bool     `json:"handoff"`
			Lang     string   `json:"lang"`
			Kind     string   `json:"kind"`
			Near     string   `json:"near"`
			Note     string   `json:"note"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: not a labelled question (%s)", name, n+1, jsonProblem(err))
		}
		if q.Handoff && len(q.DocIDs)+len(q.ChunkIDs)+len(q.FAQs) == 0 {
			q.None = true // nothing retrieved is right: a person is
		}
		for _, f := range q.FAQs {
			id, ok := faqs[strings.TrimSpace(f)]
			if !ok {
				return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: no FAQ entry asks %q", name, n+1, f)
			}
			q.ChunkIDs = append(q.ChunkIDs, id)
		}
		if q.Question == "" || (len(q.DocIDs)+len(q.ChunkIDs) == 0) == !q.None {
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: needs a question and either doc_ids, chunk_ids or faq_questions, or \"none\": true", name, n+1)
		}
		if q.ID == "" {
			q.ID = fmt.Sprintf("q%d", n+1)
		}
		if _, dup := set.Qrels[q.ID]; dup {
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: id %q is used twice", name, n+1, q.ID)
		}
		ids := q.DocIDs
		switch {
		case len(q.ChunkIDs) > 0:
			ids = q.ChunkIDs
			byChunk++
		case len(q.DocIDs) > 0:
			byDoc++
		}
		set.Queries[q.ID] = q.Question
		if q.Lang != "" || q.Kind != "" || q.None || q.Handoff {
			if set.Info == nil {
				set.Info = map[string]kefu.QuestionInfo{}
			}
			set.Info[q.ID] = kefu.QuestionInfo{Lang: q.Lang, Kind: q.Kind, None: q.None, Handoff: q.Handoff}
		}
		set.Qrels[q.ID] = map[string]int{}
		for _, id := range ids {
			set.Qrels[q.ID][id] = 1
		}
	}
	if byDoc > 0 && byChunk > 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: label every question by doc_ids or every one by chunks (chunk_ids, faq_questions), not a mix", name)
	}
	if len(set.Qrels) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: no questions", name)
	}
	set.ByChunk = byDoc == 0
	return set, nil
}

// jsonProblem says what is wrong with a line in the format's own words.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// FAQIndex maps every phrasing of every FAQ entry of kb to its chunk id,
// for ParseQuestions' "faq_questions".
func FAQIndex(ctx context.Context, st retrieve.ContentReader, kb string) (map[string]string, error) {
	docs, err := st.Documents(ctx, kb)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range docs {
		chunks, err := st.Chunks(ctx, kb, d.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range chunks {
			for _, q := range c.Questions {
				out[strings.TrimSpace(q)] = c.ID
			}
		}
	}
	return out, nil
}

// SplitQuestions splits labelled questions in two halves by a hash of their
// text, so the split is the same on every run: one to fit on, one to report.
func SplitQuestions(all *kefu.LabelledSet) (train, test *kefu.LabelledSet) {
	mk := func(split string) *kefu.LabelledSet {
		return &kefu.LabelledSet{Name: all.Name, Split: split, Queries: map[string]string{}, Qrels: kefu.Qrels{}, ByChunk: all.ByChunk}
	}
	train, test = mk("train (hash half)"), mk("test (hash half)")
	for id, q := range all.Queries {
		h := fnv.New32a()
		h.Write([]byte(q))
		dst := test
		if h.Sum32()%2 == 0 {
			dst = train
		}
		dst.Queries[id] = q
		dst.Qrels[id] = all.Qrels[id]
		if info, ok := all.Info[id]; ok {
			if dst.Info == nil {
				dst.Info = map[string]kefu.QuestionInfo{}
			}
			dst.Info[id] = info
		}
	}
	return train, test
}
