package retrieve

import (
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
