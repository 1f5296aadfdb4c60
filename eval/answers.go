package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

// AnswerStats counts how a set of labelled questions was answered: not how
// documents were ranked, but what a customer was told.
type AnswerStats struct {
	Questions int `json:"questions"`
	// Answerable questions are labelled with what answers them (and ask
	// for no person); Right of them were answered from it, plainly or with
	// the disclaimer; ConfidentRight plainly (routes faq, extractive,
	// generated).
	Answerable     int `json:"answerable"`
	Right          int `json:"right"`
	ConfidentRight int `json:"confident_right"`
	// Confident answers of any question but a request for a person, and
	// the wrong ones among them.
	Confident      int `json:"confident"`
	ConfidentWrong int `json:"confident_wrong"`
	// Negatives are questions the KB cannot answer (near-misses, off-topic);
	// NegativeConfident of them were answered plainly anyway.
	Negatives         int `json:"negatives"`
	NegativeConfident int `json:"negative_confident"`
	// Handoffs ask for a person; HandoffsCaught were handed off (or, for a
	// question such as "how do I reach a human?", answered right).
	Handoffs       int `json:"handoffs"`
	HandoffsCaught int `json:"handoffs_caught"`
	// FalseHandoffs were handed off without asking for a person.
	FalseHandoffs int `json:"false_handoffs"`
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// RightShare is the share of answerable questions answered right.
func (s *AnswerStats) RightShare() float64 { return ratio(s.Right, s.Answerable) }

// ConfidentRightShare is the share of answerable questions answered
// plainly and right.
func (s *AnswerStats) ConfidentRightShare() float64 { return ratio(s.ConfidentRight, s.Answerable) }

// Precision is the share of plain answers that were right.
func (s *AnswerStats) Precision() float64 { return ratio(s.Confident-s.ConfidentWrong, s.Confident) }

func (s *AnswerStats) add(r *AnswerRow) {
	s.Questions++
	switch {
	case r.Handoff:
		s.Handoffs++
		if r.Route == kefu.RouteHandoff || r.Right {
			s.HandoffsCaught++
		}
		return
	case r.Route == kefu.RouteHandoff && !r.Right:
		s.FalseHandoffs++
	}
	if r.Confident {
		s.Confident++
		if !r.Right {
			s.ConfidentWrong++
		}
	}
	if r.None {
		s.Negatives++
		if r.Confident {
			s.NegativeConfident++
		}
		return
	}
	s.Answerable++
	if r.Right {
		s.Right++
		if r.Confident {
			s.ConfidentRight++
		}
	}
}

// AnswerRow is one question and what kefu answered.
type AnswerRow struct {
	ID         string     `json:"id"`
	Question   string     `json:"question"`
	Lang       string     `json:"lang,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	None       bool       `json:"none,omitempty"`
	Handoff    bool       `json:"handoff,omitempty"`
	Route      kefu.Route `json:"route"`
	Confidence float64    `json:"confidence"`
	Confident  bool       `json:"confident"`
	Right      bool       `json:"right"`
	Cited      string     `json:"cited,omitempty"`    // the first citation: an FAQ entry's question, or a document id
	Expected   []string   `json:"expected,omitempty"` // its labels
}

// AnswerReport is the answer-level evaluation of a KB on labelled
// questions: per language, per kind and overall, with every row.
type AnswerReport struct {
	KB          string                  `json:"kb"`
	Questions   string                  `json:"questions"`
	Calibration string                  `json:"calibration"` // what the KB's confidence was fitted on
	Threshold   float64                 `json:"threshold"`
	All         AnswerStats             `json:"all"`
	Langs       map[string]*AnswerStats `json:"langs"`
	Kinds       map[string]*AnswerStats `json:"kinds"`
	Rows        []AnswerRow             `json:"rows"`
	// Separation tells, per kind of answerable question, how far any
	// threshold could take the plain answers: whether the confidence
	// ranks the right answers above the questions the KB cannot answer.
	Separation map[string]Separation `json:"separation"`
}

// Separation compares the confidence of answerable questions answered right
// with that of the set's negatives (near-misses and off-topic questions).
// Where the plain-and-right share falls short and Ceiling is close to it,
// moving the threshold cannot help: the confidence does not order the
// answers well enough, which no calibration (a monotone mapping) changes.
type Separation struct {
	Answerable int `json:"answerable"`
	Negatives  int `json:"negatives"`
	// MaxNegative is the highest confidence of a negative.
	MaxNegative float64 `json:"max_negative"`
	// Ceiling is the share of the answerable questions answered right with
	// a confidence above MaxNegative: what would be answered plainly and
	// right with the threshold set just above the most confident negative.
	Ceiling float64 `json:"ceiling"`
	// AUROC is the probability that a question answered right has a higher
	// confidence than a negative (ties count half).
	AUROC float64 `json:"auroc"`
}

// separationOf measures the rows that keep admits against every negative
// of rows.
func separationOf(rows []AnswerRow, keep func(*AnswerRow) bool) Separation {
	var neg, right []float64
	var sep Separation
	for i := range rows {
		r := &rows[i]
		switch {
		case r.Handoff:
		case r.None:
			neg = append(neg, r.Confidence)
		case !keep(r):
		default:
			sep.Answerable++
			if r.Right {
				right = append(right, r.Confidence)
			}
		}
	}
	sep.Negatives = len(neg)
	if len(neg) == 0 || sep.Answerable == 0 {
		return sep
	}
	slices.Sort(neg)
	sep.MaxNegative = neg[len(neg)-1]
	above, pairs := 0, 0.0
	for _, c := range right {
		if c > sep.MaxNegative {
			above++
		}
		// Negatives below c, and half of those equal to it.
		lo, _ := slices.BinarySearch(neg, c)
		hi := lo
		for hi < len(neg) && neg[hi] == c {
			hi++
		}
		pairs += float64(lo) + float64(hi-lo)/2
	}
	sep.Ceiling = ratio(above, sep.Answerable)
	if len(right) > 0 {
		sep.AUROC = pairs / float64(len(right)*len(neg))
	}
	return sep
}

// Confident reports whether a route is a plain answer.
func Confident(r kefu.Route) bool {
	return r == kefu.RouteFAQ || r == kefu.RouteExtractive || r == kefu.RouteGenerated
}

// Answered reports whether a route answers from the KB, plainly or with
// the disclaimer.
func Answered(r kefu.Route) bool { return Confident(r) || r == kefu.RouteDisclaimer }

// AnswerEvaluator asks a KB's Answerer every labelled question, as a
// customer would (no conversation), and scores the answers.
type AnswerEvaluator struct {
	Answerer kefu.Answerer
	Content  interface {
		kefu.KBReader
		retrieve.ContentReader
	}
	// Progress, when set, is called as questions are answered.
	Progress func(done, total int)
}

// Run answers every question of set with kb.
func (ev *AnswerEvaluator) Run(ctx context.Context, kbName string, set *kefu.LabelledSet) (*AnswerReport, error) {
	kb, err := ev.Content.KB(ctx, kbName)
	if err != nil {
		return nil, err
	}
	rep := &AnswerReport{KB: kbName, Questions: set.Name, Threshold: kb.Settings.Threshold,
		Langs: map[string]*AnswerStats{}, Kinds: map[string]*AnswerStats{}}
	if cal := kb.Settings.Calibration; cal != nil {
		rep.Calibration = cal.FittedOn
	} else {
		rep.Calibration = "none: the built-in default"
	}
	// FAQ entries are shown by their question.
	entry := map[string]string{}
	if set.ByChunk {
		faqs, err := FAQIndex(ctx, ev.Content, kbName)
		if err != nil {
			return nil, err
		}
		for q, id := range faqs {
			if cur, ok := entry[id]; !ok || len(q) < len(cur) {
				entry[id] = q
			}
		}
	}
	// An entry that is itself handed off when asked (怎么联系人工客服？) is
	// answered right by a hand-off too.
	handedOff := map[string]bool{}
	entryHandedOff := func(id string) (bool, error) {
		if v, ok := handedOff[id]; ok {
			return v, nil
		}
		q, ok := entry[id]
		if !ok {
			return false, nil
		}
		a, err := ev.Answerer.Ask(ctx, kefu.AskRequest{KB: kbName, Question: q}, nil)
		if err != nil {
			return false, err
		}
		handedOff[id] = a.Route == kefu.RouteHandoff
		return handedOff[id], nil
	}
	ids := make([]string, 0, len(set.Queries))
	for id := range set.Queries {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmpQueryID(a, b) })
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ev.Progress != nil && i%20 == 0 {
			ev.Progress(i, len(ids))
		}
		info := set.Info[id]
		a, err := ev.Answerer.Ask(ctx, kefu.AskRequest{KB: kbName, Question: set.Queries[id]}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		row := AnswerRow{ID: id, Question: set.Queries[id], Lang: info.Lang, Kind: info.Kind, None: info.None,
			Handoff: info.Handoff, Route: a.Route, Confidence: a.Confidence, Confident: Confident(a.Route)}
		for e := range set.Qrels[id] {
			row.Expected = append(row.Expected, e)
			if a.Route == kefu.RouteHandoff && !info.None {
				ho, err := entryHandedOff(e)
				if err != nil {
					return nil, err
				}
				row.Right = row.Right || ho
			}
		}
		slices.Sort(row.Expected)
		if len(a.Citations) > 0 && Answered(a.Route) {
			c := a.Citations[0]
			got := c.DocID
			if set.ByChunk {
				got = c.ChunkID
			}
			row.Right = !info.None && set.Qrels[id][got] > 0
			row.Cited = c.DocID
			if q, ok := entry[c.ChunkID]; ok {
				row.Cited = q
			}
		}
		for j, e := range row.Expected {
			if q, ok := entry[e]; ok {
				row.Expected[j] = q
			}
		}
		rep.Rows = append(rep.Rows, row)
		rep.All.add(&row)
		for _, key := range []string{info.Lang, langGroup(info.Lang)} {
			if key == "" {
				continue
			}
			if rep.Langs[key] == nil {
				rep.Langs[key] = &AnswerStats{}
			}
			rep.Langs[key].add(&row)
		}
		if info.Kind != "" {
			if rep.Kinds[info.Kind] == nil {
				rep.Kinds[info.Kind] = &AnswerStats{}
			}
			rep.Kinds[info.Kind].add(&row)
		}
	}
	rep.Separation = map[string]Separation{"all": separationOf(rep.Rows, func(*AnswerRow) bool { return true })}
	for k := range rep.Kinds {
		rep.Separation[k] = separationOf(rep.Rows, func(r *AnswerRow) bool { return r.Kind == k })
	}
	if ev.Progress != nil {
		ev.Progress(len(ids), len(ids))
	}
	return rep, nil
}

// langGroup folds mixed zh/en questions into Chinese: they come from
// Chinese-speaking customers who type some English words. The report keeps
// them apart too.
func langGroup(lang string) string {
	if lang == "mixed" {
		return "zh"
	}
	return ""
}

// cmpQueryID orders q2 before q10.
func cmpQueryID(a, b string) int {
	na, nb := strings.TrimLeft(a, "q"), strings.TrimLeft(b, "q")
	if len(na) != len(nb) {
		return len(na) - len(nb)
	}
	return strings.Compare(na, nb)
}

// Markdown renders the report's tables.
func (r *AnswerReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Answers of %s to %s\n\nConfidence: %s. Threshold %.2f. \"Right\" counts answers from the labelled entry or document, plainly or with the disclaimer; \"plain\" counts routes faq, extractive and generated. Mixed zh/en questions count under zh as well as under mixed.\n\n", r.KB, r.Questions, r.Calibration, r.Threshold)
	row := func(name string, s *AnswerStats) {
		fmt.Fprintf(&b, "| %s | %d | %d | %.3f | %.3f | %d | %.3f | %d / %d | %d / %d | %d |\n", name, s.Questions, s.Answerable,
			s.RightShare(), s.ConfidentRightShare(), s.Confident, s.Precision(), s.NegativeConfident, s.Negatives, s.HandoffsCaught, s.Handoffs, s.FalseHandoffs)
	}
	head := "| %s | questions | answerable | right | plain and right | plain answers | plain precision | negatives answered plainly | hand-offs caught | false hand-offs |\n|---|---|---|---|---|---|---|---|---|---|\n"
	fmt.Fprintf(&b, head, "language")
	for _, l := range sortedKeys(r.Langs) {
		row(l, r.Langs[l])
	}
	row("all", &r.All)
	fmt.Fprintf(&b, "\n"+head, "kind")
	for _, k := range sortedKeys(r.Kinds) {
		row(k, r.Kinds[k])
	}
	if all, ok := r.Separation["all"]; ok && all.Negatives > 0 {
		fmt.Fprintf(&b, "\nSeparation: answerable questions answered right against the %d negatives (the most confident at %.3f). \"At best\" is the share plain and right with the threshold just above that negative; AUROC is the chance that a right answer is more confident than a negative.\n\n| kind | answerable | plain and right | plain and right at best | AUROC |\n|---|---|---|---|---|\n", all.Negatives, all.MaxNegative)
		for _, k := range append(sortedKeys(r.Kinds), "all") {
			sep, ok := r.Separation[k]
			if !ok || sep.Answerable == 0 {
				continue
			}
			st := &r.All
			if k != "all" {
				st = r.Kinds[k]
			}
			fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %.3f |\n", k, sep.Answerable, st.ConfidentRightShare(), sep.Ceiling, sep.AUROC)
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MarshalJSON adds the derived shares to the stats.
func (s AnswerStats) MarshalJSON() ([]byte, error) {
	type plain AnswerStats
	return json.Marshal(struct {
		plain
		RightShare          float64 `json:"right_share"`
		ConfidentRightShare float64 `json:"confident_right_share"`
		Precision           float64 `json:"precision"`
	}{plain(s), s.RightShare(), s.ConfidentRightShare(), s.Precision()})
}
