package answer

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// maxCiteRunes bounds how much text the filter holds back while it decides
// whether an open bracket starts a citation.
const maxCiteRunes = 24

// citeFilter rewrites a stream of answer text so that it cites only the
// evidence that exists. Citations are [n], full-width ［n］ and 【n】, and
// lists such as [1, 2] or [1，2、3]; each is rewritten as [1][2]. Numbers
// outside 1..n are removed together with the white space before them, and
// counted. Everything else passes through unchanged.
//
// It works on the stream, holding back only an open bracket and what follows
// it (at most maxCiteRunes runes) and white space that may precede a
// citation, so a citation split across deltas is handled and nothing invalid
// is ever shown to the user.
type citeFilter struct {
	n       int
	emit    func(string)
	ws      strings.Builder // white space held back before a possible citation
	br      []rune          // an open bracket and what follows it, held back
	buf     strings.Builder // output of the current Write
	cited   map[int]bool
	removed int
}

func newCiteFilter(n int, emit func(string)) *citeFilter {
	return &citeFilter{n: n, emit: emit, cited: make(map[int]bool)}
}

// Write filters one piece of text.
func (f *citeFilter) Write(s string) {
	for _, r := range s {
		f.rune(r)
	}
	f.out()
}

// Flush ends the text: a held-back bracket that never closed is text after
// all; trailing white space is dropped.
func (f *citeFilter) Flush() {
	if f.br != nil {
		f.buf.WriteString(f.ws.String())
		f.buf.WriteString(string(f.br))
		f.br = nil
	}
	f.ws.Reset()
	f.out()
}

// Drop discards what is held back, for a stream that failed.
func (f *citeFilter) Drop() {
	f.br = nil
	f.ws.Reset()
}

// Cited returns the valid citation numbers seen, in increasing order.
func (f *citeFilter) Cited() []int {
	out := make([]int, 0, len(f.cited))
	for k := range f.cited {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func (f *citeFilter) out() {
	if f.buf.Len() > 0 && f.emit != nil {
		f.emit(f.buf.String())
	}
	f.buf.Reset()
}

func (f *citeFilter) rune(r rune) {
	if f.br != nil {
		f.br = append(f.br, r)
		nums, st := parseCite(f.br[1:])
		switch {
		case st == citeDone:
			f.resolve(nums)
		case st == citeInvalid || len(f.br) > maxCiteRunes:
			// Not a citation: the bracket is text; what followed it may hold
			// another bracket, so it is read again.
			rest := f.br[1:]
			f.buf.WriteString(f.ws.String())
			f.buf.WriteRune(f.br[0])
			f.ws.Reset()
			f.br = nil
			for _, r := range rest {
				f.rune(r)
			}
		}
		return
	}
	switch {
	case isOpen(r):
		f.br = []rune{r}
	case unicode.IsSpace(r):
		f.ws.WriteRune(r)
		if f.ws.Len() > 64 {
			f.buf.WriteString(f.ws.String())
			f.ws.Reset()
		}
	default:
		f.buf.WriteString(f.ws.String())
		f.ws.Reset()
		f.buf.WriteRune(r)
	}
}

func (f *citeFilter) resolve(nums []int) {
	var b strings.Builder
	seen := make(map[int]bool, len(nums))
	for _, k := range nums {
		if seen[k] {
			continue
		}
		seen[k] = true
		if k < 1 || k > f.n {
			f.removed++
			continue
		}
		f.cited[k] = true
		b.WriteString("[" + strconv.Itoa(k) + "]")
	}
	if b.Len() > 0 {
		f.buf.WriteString(f.ws.String())
		f.buf.WriteString(b.String())
	}
	f.ws.Reset()
	f.br = nil
}

func isOpen(r rune) bool  { return r == '[' || r == '［' || r == '【' }
func isClose(r rune) bool { return r == ']' || r == '］' || r == '】' }
func isSep(r rune) bool   { return r == ',' || r == '，' || r == '、' }

const (
	citeMore = iota
	citeDone
	citeInvalid
)

// parseCite reads what follows an open bracket: numbers of one to three
// ASCII digits separated by commas, then a close bracket. It reports
// citeMore while body is a prefix of a citation.
func parseCite(body []rune) ([]int, int) {
	const (
		wantDigit = iota
		inDigits
		afterDigits
	)
	var nums []int
	state, num, digits := wantDigit, 0, 0
	for i, r := range body {
		switch state {
		case wantDigit:
			switch {
			case r == ' ':
			case r >= '0' && r <= '9':
				state, num, digits = inDigits, int(r-'0'), 1
			default:
				return nil, citeInvalid
			}
		case inDigits:
			switch {
			case r >= '0' && r <= '9':
				digits++
				if digits > 3 {
					return nil, citeInvalid
				}
				num = num*10 + int(r-'0')
			case r == ' ':
				nums, state = append(nums, num), afterDigits
			case isSep(r):
				nums, state = append(nums, num), wantDigit
			case isClose(r) && i == len(body)-1:
				return append(nums, num), citeDone
			default:
				return nil, citeInvalid
			}
		case afterDigits:
			switch {
			case r == ' ':
			case isSep(r):
				state = wantDigit
			case isClose(r) && i == len(body)-1:
				return nums, citeDone
			default:
				return nil, citeInvalid
			}
		}
	}
	return nil, citeMore
}

// cleanCitations filters a whole text the way the stream is filtered: it
// returns the text citing only evidence 1..n, the valid numbers cited and
// how many citations were removed.
func cleanCitations(s string, n int) (string, []int, int) {
	var b strings.Builder
	f := newCiteFilter(n, func(p string) { b.WriteString(p) })
	f.Write(s)
	f.Flush()
	return b.String(), f.Cited(), f.removed
}
