package retrieve

import (
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// partCredit is the share of a word's weight a hit earns when it lacks the
// word but holds some of its characters (a Chinese word cut differently in
// the query and in the KB: 退回来 vs 退回): half, in proportion to the
// characters held. A hit that holds all of them (发票 and 开 in 开发票) earns
// wholeCredit and counts as holding the word.
const (
	partCredit  = 0.5
	wholeCredit = 0.8
)

// content is the query's content words as the answerability features see
// them: their weights and, per word, the masks that count as holding it.
type content struct {
	weight      []float64  // idf in the KB; for a word the KB does not know, the largest possible idf times its specificity
	known       []float64  // 1 when the KB holds the word or a synonym; a share of its characters otherwise
	spec        []float64  // kefu.QueryTerm.Specificity, 1 where unknown
	word        []uint64   // bit of the word itself and of its synonyms
	phrases     [][]uint64 // per word, the bits of each synonym of several words: all of one count as the word
	parts       [][]uint64
	chars       []uint64  // bit of each character term of a content word
	charW       []float64 // its idf
	maxIDF      float64
	total       float64
	unknown     float64 // weighted share of content the KB does not know
	unknownSpec float64 // the largest specificity of a word the KB does not know
	nContent    int
}

// idf is BM25's idf of a term held by df of n chunks.
func idf(df, n float64) float64 { return math.Log(1 + (n-df+0.5)/(df+0.5)) }

// contentOf collects the content words of a query from its terms.
func contentOf(c *kefu.Candidates) *content {
	terms := c.QueryTerms
	if len(terms) > 64 {
		terms = terms[:64]
	}
	n := float64(max(c.DocCount, 1))
	ct := &content{maxIDF: idf(0, n)}
	index := map[int]int{} // term index of a word → its place in ct
	for i, t := range terms {
		if t.Kind != kefu.TermWord || t.Function {
			continue
		}
		index[i] = len(ct.weight)
		ct.weight = append(ct.weight, 0)
		ct.known = append(ct.known, 0)
		sp := t.Specificity
		if sp < 0 {
			sp = 1
		}
		ct.spec = append(ct.spec, sp)
		ct.word = append(ct.word, 1<<i)
		ct.parts = append(ct.parts, nil)
		ct.phrases = append(ct.phrases, nil)
	}
	minDF := make([]float64, len(ct.weight)) // smallest positive df among the word and its synonyms
	partsKnown := make([][2]int, len(ct.weight))
	for i, t := range terms {
		switch t.Kind {
		case kefu.TermWord:
			if j, ok := index[i]; ok && t.DF > 0 {
				minDF[j] = float64(t.DF)
			}
		}
	}
	// A synonym of several words counts when a chunk holds them all. It
	// makes a word the KB does not know known (at most as often as the
	// phrase's rarest word), but does not reweigh one it knows: its words
	// alone are commoner than the phrase. A phrase made only of the query's
	// own words says nothing they do not ("combine coupons" for the "two"
	// of "combine two coupons": a chunk about combining a coupon with a
	// sale holds it): it does not count.
	phraseDF := make([]float64, len(ct.weight))
	for i, t := range terms {
		j, ok := index[i]
		if !ok {
			continue
		}
	phrases:
		for _, p := range t.Phrases {
			var m uint64
			df, own := 0, 0
			for _, k := range p {
				if k >= len(terms) || terms[k].DF == 0 {
					continue phrases
				}
				if terms[k].Kind == kefu.TermWord {
					own++
				}
				m |= 1 << k
				if df == 0 || terms[k].DF < df {
					df = terms[k].DF
				}
			}
			if m == 0 || own == len(p) {
				continue
			}
			ct.phrases[j] = append(ct.phrases[j], m)
			phraseDF[j] = max(phraseDF[j], float64(df))
		}
	}
	for i, t := range terms {
		for _, w := range t.For {
			j, ok := index[w]
			if !ok {
				continue
			}
			switch t.Kind {
			case kefu.TermSynonym:
				ct.word[j] |= 1 << i
				if t.DF > 0 && (minDF[j] == 0 || float64(t.DF) < minDF[j]) {
					minDF[j] = float64(t.DF)
				}
			case kefu.TermPart:
				if len(ct.parts[j]) == 0 || !slices.Contains(ct.chars, 1<<i) {
					ct.chars = append(ct.chars, 1<<i)
					ct.charW = append(ct.charW, idf(float64(t.DF), n))
				}
				ct.parts[j] = append(ct.parts[j], 1<<i)
				partsKnown[j][1]++
				if t.DF > 0 {
					partsKnown[j][0]++
				}
			}
		}
	}
	for j, df := range phraseDF {
		if minDF[j] == 0 {
			minDF[j] = df
		}
	}
	for j := range ct.weight {
		if minDF[j] > 0 {
			ct.weight[j], ct.known[j] = idf(minDF[j], n), 1
		} else {
			// A word the KB does not know weighs by how specific it is in
			// the language: 比特币 as much as the rarest word of the KB,
			// 今天 or 入口 about half.
			ct.weight[j] = ct.maxIDF * ct.spec[j]
			if pk := partsKnown[j]; pk[1] > 0 {
				ct.known[j] = partCredit * float64(pk[0]) / float64(pk[1])
			}
		}
		ct.total += ct.weight[j]
		ct.unknown += ct.weight[j] * (1 - ct.known[j])
		if ct.known[j] < 0.5 {
			ct.unknownSpec = math.Max(ct.unknownSpec, ct.spec[j])
		}
	}
	if ct.total > 0 {
		ct.unknown /= ct.total
	}
	ct.nContent = len(ct.weight)
	return ct
}

// held returns how much of word j a chunk with mask m holds: 1 for the word
// or a synonym, a share of partCredit for its characters.
func (ct *content) held(j int, m uint64) float64 {
	if m&ct.word[j] != 0 {
		return 1
	}
	for _, p := range ct.phrases[j] {
		if m&p == p {
			return 1
		}
	}
	if len(ct.parts[j]) == 0 {
		return 0
	}
	n := 0
	for _, p := range ct.parts[j] {
		if m&p != 0 {
			n++
		}
	}
	if n == len(ct.parts[j]) {
		return wholeCredit
	}
	return partCredit * float64(n) / float64(len(ct.parts[j]))
}

// cover returns the weighted share of the content a mask holds, the number
// of words it holds whole (itself or a synonym) and the weights of the
// heaviest word it lacks and of the heaviest it holds, over the largest
// possible weight.
func (ct *content) cover(m uint64) (share, matched, missing, evidence float64) {
	if ct.total == 0 {
		return 0, 0, 0, 0
	}
	for j, w := range ct.weight {
		h := ct.held(j, m)
		share += w * h
		if h >= wholeCredit {
			matched++
		}
		missing = math.Max(missing, w*(1-h)/ct.maxIDF)
		evidence = math.Max(evidence, w*h/ct.maxIDF)
	}
	return share / ct.total, matched, missing, evidence
}

// charShare is the idf-weighted share of the content words' characters a
// mask holds: what survives a typo or a word cut differently.
func (ct *content) charShare(m uint64) float64 {
	var held, total float64
	for i, b := range ct.chars {
		total += ct.charW[i]
		if m&b != 0 {
			held += ct.charW[i]
		}
	}
	if total == 0 {
		return 0
	}
	return held / total
}

// share is cover's first result.
func (ct *content) share(m uint64) float64 {
	s, _, _, _ := ct.cover(m)
	return s
}

// answerability sets the answerability features of f for the top hit.
func answerability(f *kefu.Features, c *kefu.Candidates, hits []kefu.Hit) {
	if len(c.QueryTerms) == 0 {
		return
	}
	ct := contentOf(c)
	f.Content = float64(ct.nContent)
	f.Unknown, f.UnknownSpec = ct.unknown, ct.unknownSpec
	if len(hits) == 0 {
		return
	}
	top := hits[0].Chunk
	var self *kefu.Scored
	for i := range c.Keyword {
		if c.Keyword[i].ChunkID == top.ID && c.Keyword[i].Masked {
			self = &c.Keyword[i]
			break
		}
	}
	if self == nil {
		f.Missing = 1
		if ct.nContent == 0 {
			f.Missing = 0
		}
		return
	}
	f.QuestionCover = ct.share(self.HeadMatch)
	f.AnswerCover = ct.share(self.BodyMatch)
	f.Cover, f.Matched, f.Missing, f.Evidence = ct.cover(self.HeadMatch | self.BodyMatch)
	f.CharCover = ct.charShare(self.HeadMatch | self.BodyMatch)

	// Competition: the best other document, and whether the top hit is
	// also the best match of the question fields and of the answer alone.
	topDoc := c.Docs[top.ID]
	bestOther, bestHead, bestBody := 0.0, f.QuestionCover, f.AnswerCover
	agree := 1.0
	for i := range c.Keyword {
		s := &c.Keyword[i]
		if !s.Masked || s.ChunkID == top.ID {
			continue
		}
		// Another FAQ entry competes with what it answers, its questions:
		// words its answer happens to mention (大 in 大促期间 against a
		// question about a bigger size) are not a better answer.
		held := s.HeadMatch | s.BodyMatch
		if s.FAQ {
			held = s.HeadMatch
		}
		cov := ct.share(held)
		if d, ok := c.Docs[s.ChunkID]; !ok || d != topDoc || top.Kind == kefu.KindFAQ {
			bestOther = math.Max(bestOther, cov)
		}
		if ct.share(s.HeadMatch) > bestHead+1e-9 {
			agree = 0
		}
		if ct.share(s.BodyMatch) > bestBody+1e-9 {
			agree = 0
		}
	}
	f.CoverMargin = f.Cover - bestOther
	f.QAAgreement = agree
}

// restated returns the largest share of one of the chunk's questions (an
// FAQ entry's phrasings; a passage's last heading or title) that the query
// holds: Chinese characters and Latin words, after width folding, case
// folding and Traditional → Simplified. 1 means the query restates it.
func restated(query string, c *kefu.Chunk) float64 {
	qs := c.Questions
	if len(qs) == 0 {
		if len(c.Headings) > 0 {
			qs = c.Headings[len(c.Headings)-1:]
		} else if c.Title != "" {
			qs = []string{c.Title}
		}
	}
	have := units(query)
	best := 0.0
	for _, q := range qs {
		u := units(q)
		if len(u) == 0 {
			continue
		}
		n := 0
		for k := range u {
			if have[k] {
				n++
			}
		}
		best = math.Max(best, float64(n)/float64(len(u)))
	}
	return best
}

// units are a text's Han characters and lower-cased Latin words and numbers.
func units(s string) map[string]bool {
	s = strings.ToLower(string(text.Simplify([]byte(text.Normalize(s)))))
	out := map[string]bool{}
	word := strings.Builder{}
	flush := func() {
		if word.Len() > 0 {
			out[word.String()] = true
			word.Reset()
		}
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			flush()
			out[string(r)] = true
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return out
}
