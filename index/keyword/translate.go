package keyword

import (
	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// translationWeight is the weight of a translation that stands for the
// customer's own word: an English word written into a Chinese question, or
// a word the KB does not hold whose translation it does. It then carries
// the question as much as the word would have.
const translationWeight = 1.0

// loanwordWeight is the weight of a loanword of a mixed question that has
// a translation into the question's language: a translation's default.
const loanwordWeight = bilingualSynonymWeight

// translations raises the weight of the synonyms the bilingual lexicon
// added in the other script than the words they stand for (its rules weigh
// little by default, so that a question's twin entry in the other language
// does not rival the entry in its own), where the translation is what the
// question needs:
//
//   - in a mixed question (refund 在哪里申请), the words of the other
//     language are loanwords in a sentence of the question's language
//     (text.Lang): their translations into it count as the words, and
//     they as their translations;
//   - a content word no chunk of the KB holds (能寄到国外吗 in a KB whose
//     only answer is "Do you ship internationally?"), and that no held
//     synonym in its own script stands for, has only its translations to
//     find the entry by.
//
// held reports whether the KB holds an analysed term.
func translations(held func(string) bool, qts []queryTerm, query string) {
	// A translation: a synonym in the other script that stands for the
	// words (one content word; the words of a phrase such as money back
	// for 退款 are each only part of it).
	cross := func(q *queryTerm) bool {
		if q.kind != kefu.TermSynonym || len(q.src) == 0 || len(q.of) == 0 {
			return false
		}
		for _, w := range q.src {
			if text.HasHan(qts[w].term) == text.HasHan(q.term) {
				return false
			}
		}
		return true
	}
	// Mixed: content words in Latin script beside Chinese words, of
	// which a function word is enough (payment failed 怎么办 is asked in
	// Chinese).
	han, latin := false, false
	for _, q := range qts {
		if q.kind == kefu.TermWord {
			if text.HasHan(q.term) {
				han = true
			} else if !q.fn {
				latin = true
			}
		}
	}
	if han && latin {
		zh := text.Lang(query) == "zh"
		loan := map[int]bool{}
		for i := range qts {
			if q := &qts[i]; cross(q) && text.HasHan(q.term) == zh {
				q.qtf = max(q.qtf, translationWeight)
				for _, w := range q.src {
					loan[w] = true
				}
			}
		}
		// The loanwords themselves weigh as a translation does: they and
		// their translation have swapped roles, so the entry in the
		// question's language wins over its twin in the loanwords'
		// (payment failed 怎么办 → 付款失败怎么办？, not "My payment
		// failed."). A loanword without a translation (PayPal) keeps
		// its weight.
		for w := range loan {
			qts[w].qtf = min(qts[w].qtf, loanwordWeight)
		}
	}
	unheld := map[int]bool{}
	for i, q := range qts {
		if q.kind == kefu.TermWord && !q.fn && !held(q.term) {
			unheld[i] = true
		}
	}
	if len(unheld) == 0 {
		return
	}
	covered := map[int]bool{} // unheld words a held synonym in their own script stands for
	for _, q := range qts {
		if q.kind != kefu.TermSynonym || len(q.of) == 0 || cross(&q) || !held(q.term) {
			continue
		}
		for _, w := range q.of {
			covered[w] = true
		}
	}
	for i := range qts {
		q := &qts[i]
		if !cross(q) {
			continue
		}
		stands := true
		for _, w := range q.src {
			stands = stands && unheld[w] && !covered[w]
		}
		if stands {
			q.qtf = max(q.qtf, translationWeight)
		}
	}
}
