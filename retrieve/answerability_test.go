package retrieve

import (
	"math"
	"testing"

	"github.com/kefu-dev/kefu"
)

// A synonym of several words (质量问题 for 坏了) holds the word for a chunk
// that has all its words, and not for one that has only some.
func TestPhraseSynonymHoldsTheWord(t *testing.T) {
	c := &kefu.Candidates{DocCount: 20, QueryTerms: []kefu.QueryTerm{
		{Text: "坏", Kind: kefu.TermWord, Specificity: 0.5, Phrases: [][]int{{1, 2}}},
		{Text: "质量", Kind: kefu.TermSynonym, DF: 2},
		{Text: "问题", Kind: kefu.TermSynonym, DF: 3},
	}}
	ct := contentOf(c)
	if ct.known[0] != 1 {
		t.Fatalf("坏 with a phrase the KB holds: known %v, want 1", ct.known[0])
	}
	if got := ct.held(0, 1<<1|1<<2); got != 1 {
		t.Errorf("chunk holding 质量 and 问题 holds %v of 坏, want 1", got)
	}
	if got := ct.held(0, 1<<2); got != 0 {
		t.Errorf("chunk holding only 问题 holds %v of 坏, want 0", got)
	}
	// A word the KB knows keeps its own weight.
	c.QueryTerms[0].DF = 9
	if w := contentOf(c).weight[0]; w != idf(9, 20) {
		t.Errorf("known word reweighed by its phrase: %v, want %v", w, idf(9, 20))
	}
}

// A phrase made only of the query's own words does not hold a word: in
// "combine two coupons", "combine coupons" (a synonym of "two coupons")
// would let any chunk with "combine" and "coupons" hold "two".
func TestPhraseOfTheQuerysOwnWordsHoldsNothing(t *testing.T) {
	c := &kefu.Candidates{DocCount: 20, QueryTerms: []kefu.QueryTerm{
		{Text: "combin", Kind: kefu.TermWord, DF: 1},
		{Text: "two", Kind: kefu.TermWord, Phrases: [][]int{{0, 2}}},
		{Text: "coupon", Kind: kefu.TermWord, DF: 3},
	}}
	ct := contentOf(c)
	if ct.known[1] != 0 {
		t.Fatalf("two, by a phrase of the query's own words: known %v, want 0", ct.known[1])
	}
	if got := ct.held(1, 1<<0|1<<2); got != 0 {
		t.Errorf("chunk holding combine and coupon holds %v of two, want 0", got)
	}
}

// Another FAQ entry rivals the top hit by its questions: its answer
// mentioning more of the query's words does not make it a better answer
// (鞋子尺码偏小，想换大一码 against the exchange entry, when the
// shipping-time entry's answer says 大促期间). A passage rivals by its text.
func TestCoverMarginFAQRivalByItsQuestions(t *testing.T) {
	terms := []kefu.QueryTerm{
		{Text: "尺码", Kind: kefu.TermWord, DF: 2},
		{Text: "换", Kind: kefu.TermWord, DF: 2},
		{Text: "大", Kind: kefu.TermWord, DF: 2},
	}
	top := &kefu.Chunk{ID: "exchange", DocID: "faq.csv", Kind: kefu.KindFAQ}
	c := &kefu.Candidates{DocCount: 20, QueryTerms: terms,
		Docs: map[string]string{"exchange": "faq.csv", "shipping": "faq.csv", "guide": "guide.md"},
		Keyword: []kefu.Scored{
			{ChunkID: "exchange", Score: 3, HeadMatch: 1<<0 | 1<<1, Masked: true, FAQ: true},
			{ChunkID: "shipping", Score: 2, HeadMatch: 1 << 2, BodyMatch: 1<<0 | 1<<1 | 1<<2, Masked: true, FAQ: true},
		}}
	var f kefu.Features
	answerability(&f, c, []kefu.Hit{{Chunk: top}})
	if want := 2.0 / 3; math.Abs(f.Cover-want) > 1e-9 || math.Abs(f.CoverMargin-(want-1.0/3)) > 1e-9 {
		t.Errorf("FAQ rival whose answer holds every word: cover %.3f, margin %.3f; want %.3f and %.3f (its question holds 大 only)",
			f.Cover, f.CoverMargin, want, want-1.0/3)
	}
	// The same words in a passage's text are what it is about.
	c.Keyword = append(c.Keyword, kefu.Scored{ChunkID: "guide", Score: 1, BodyMatch: 1<<0 | 1<<1 | 1<<2, Masked: true})
	f = kefu.Features{}
	answerability(&f, c, []kefu.Hit{{Chunk: top}})
	if want := 2.0/3 - 1; math.Abs(f.CoverMargin-want) > 1e-9 {
		t.Errorf("passage rival holding every word: margin %.3f, want %.3f", f.CoverMargin, want)
	}
}
