package answer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-dev/kefu/internal/text"
	ahocorasick "github.com/petar-dambovaliev/aho-corasick"
)

// Limits on hand-off trigger lists, so a policy file or KB settings cannot
// build an unbounded automaton.
const (
	maxTriggers      = 10000
	maxTriggerLength = 200 // bytes, after folding
)

// triggerKind says why a phrase is in the automaton.
type triggerKind uint8

const (
	kindSensitive triggerKind = iota // a sensitive word: hand off
	kindRequest                      // an explicit request for a person: hand off
	kindException                    // contains a trigger but is not one (人工智能)
)

func (k triggerKind) String() string {
	switch k {
	case kindSensitive:
		return "sensitive"
	case kindRequest:
		return "request"
	}
	return "exception"
}

// trigger is one folded phrase of the automaton.
type trigger struct {
	phrase     string
	kind       triggerKind
	startBound bool // the phrase starts with a word rune: needs a boundary before it
	endBound   bool // the phrase ends with a word rune: needs a boundary after it
}

// handoffMatch is the phrase that sent a question to a person.
type handoffMatch struct {
	Phrase string `json:"phrase"` // as folded: lower case, half-width
	Kind   string `json:"kind"`   // "sensitive" or "request"
}

// matcher finds hand-off triggers in a question with one Aho-Corasick
// automaton over every phrase. Both the phrases and the question are folded
// (half-width, lower case, runs of white space to one space), so matching is case-
// and width-insensitive.
//
// The library's own MatchOnlyWholeWords is not used: it tests single bytes
// of UTF-8 as runes (so a Chinese neighbour reads as a letter) and, with
// leftmost matching, a rejected long match hides a valid shorter one. The
// automaton runs in overlapping mode instead and boundaries are checked here
// on decoded runes: phrases that begin or end with a Latin letter or digit
// match only at word boundaries ("agent" is not found in "agentic"), and Han
// and kana count as boundaries, as Chinese has no spaces ("找agent").
type matcher struct {
	ac   ahocorasick.AhoCorasick
	pats []trigger
}

// newMatcher builds the automaton. Empty, over-long and duplicate phrases are
// dropped; at most maxTriggers phrases are kept, sensitive words first.
func newMatcher(sensitive, requests, exceptions []string) *matcher {
	m := &matcher{}
	seen := make(map[string]bool)
	add := func(list []string, kind triggerKind) {
		for _, p := range list {
			if len(m.pats) >= maxTriggers {
				return
			}
			f := fold(p)
			if f == "" || len(f) > maxTriggerLength || seen[f] {
				continue
			}
			seen[f] = true
			first, _ := utf8.DecodeRuneInString(f)
			last, _ := utf8.DecodeLastRuneInString(f)
			m.pats = append(m.pats, trigger{phrase: f, kind: kind, startBound: isWordRune(first), endBound: isWordRune(last)})
		}
	}
	// Exceptions first: a phrase listed both ways is an exception.
	add(exceptions, kindException)
	add(sensitive, kindSensitive)
	add(requests, kindRequest)
	phrases := make([]string, len(m.pats))
	for i, p := range m.pats {
		phrases[i] = p.phrase
	}
	b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{MatchKind: ahocorasick.StandardMatch})
	m.ac = b.Build(phrases)
	return m
}

type span struct {
	pat        int
	start, end int
}

// Match returns the leftmost (then longest) trigger in q that no exception
// covers.
func (m *matcher) Match(q string) (handoffMatch, bool) {
	if m == nil || len(m.pats) == 0 {
		return handoffMatch{}, false
	}
	h := fold(q)
	var hits, excepts []span
	it := m.ac.IterOverlapping(h)
	// Every match ends at a distinct (end, pattern) pair, so the loop is
	// bounded by len(h) times the number of patterns; the cap keeps a
	// pathological policy from making it quadratic in practice.
	for i, next := 0, it.Next(); next != nil && i < 64*len(h)+64; i, next = i+1, it.Next() {
		sp := span{pat: next.Pattern(), start: next.Start(), end: next.End()}
		if sp.pat < 0 || sp.pat >= len(m.pats) || sp.start < 0 || sp.end > len(h) || sp.start > sp.end {
			continue
		}
		p := m.pats[sp.pat]
		if !bounded(h, sp, p) {
			continue
		}
		if p.kind == kindException {
			excepts = append(excepts, sp)
		} else {
			hits = append(hits, sp)
		}
	}
	best := -1
	for i, sp := range hits {
		covered := false
		for _, e := range excepts {
			if e.start <= sp.start && sp.end <= e.end {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		// The leftmost trigger, the longest of those starting there.
		if best < 0 || sp.start < hits[best].start || sp.start == hits[best].start && sp.end > hits[best].end {
			best = i
		}
	}
	if best < 0 {
		return handoffMatch{}, false
	}
	p := m.pats[hits[best].pat]
	return handoffMatch{Phrase: p.phrase, Kind: p.kind.String()}, true
}

// bounded checks the word boundaries a phrase needs around its match in h.
func bounded(h string, sp span, p trigger) bool {
	if p.startBound && sp.start > 0 {
		r, _ := utf8.DecodeLastRuneInString(h[:sp.start])
		if isWordRune(r) {
			return false
		}
	}
	if p.endBound && sp.end < len(h) {
		r, _ := utf8.DecodeRuneInString(h[sp.end:])
		if isWordRune(r) {
			return false
		}
	}
	return true
}

// isWordRune reports whether r is part of a space-delimited word: a letter
// or digit of a script other than Han and kana.
func isWordRune(r rune) bool {
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		return false
	}
	return !unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// fold normalises text for matching and cache keys: text.Normalize (full-
// width letters, digits and punctuation half-width, runs of white space one
// space) and lower case.
func fold(s string) string {
	return strings.ToLower(string(text.Simplify([]byte(text.Normalize(s)))))
}
