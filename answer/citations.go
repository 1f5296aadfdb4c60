package answer

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// maxCiteRunes bounds how much text the filter holds back while it decides
// whether an open bracket starts a citation: room for a list of twenty
// numbers.
const maxCiteRunes = 64

// citeFilter rewrites a stream of answer text so that it cites only the
// evidence that exists. Citations are [n], full-width ［n］ and 【n】, and
// lists such as [1, 2] or [1，2、3]; each is rewritten as [1][2]. Numbers
// outside 1..n are removed together with the white space before them, and
// counted. Everything else passes through unchanged.
//
// It works on the stream, holding back only open brackets and what follows
// them (at most maxCiteRunes runes; more is dropped) and white space that may precede a
// citation, so a citation split across deltas is handled and nothing invalid
// is ever shown to the user. A removed citation is treated as never written:
// in "[7[9]]" the "[7" and "]" around the removed [9] are read as one
// bracket again, so no citation can form out of the text around a removal.
type citeFilter struct {
	n       int
	emit    func(string)
	ws      strings.Builder // white space held back before a possible citation
	stack   [][]rune        // open brackets and what follows each, held back; the last is being read
	held    int             // runes in stack
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

// Flush ends the text: brackets that never closed are text after all;
// trailing white space is dropped.
func (f *citeFilter) Flush() {
	if len(f.stack) > 0 {
		f.emitHeld()
	}
	f.ws.Reset()
	f.out()
}

// Drop discards what is held back, for a stream that failed.
func (f *citeFilter) Drop() {
	f.stack, f.held = nil, 0
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

// emitHeld writes everything held back as text and clears it.
func (f *citeFilter) emitHeld() {
	f.buf.WriteString(f.ws.String())
	f.ws.Reset()
	for _, b := range f.stack {
		f.buf.WriteString(string(b))
	}
	f.stack, f.held = nil, 0
}

func (f *citeFilter) rune(r rune) {
	if len(f.stack) == 0 {
		switch {
		case isOpen(r):
			f.stack, f.held = [][]rune{{r}}, 1
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
		return
	}
	f.held++
	top := len(f.stack) - 1
	st := citeMore
	if isOpen(r) {
		f.stack = append(f.stack, []rune{r})
	} else {
		f.stack[top] = append(f.stack[top], r)
		var ns []int
		ns, st = parseCite(f.stack[top][1:])
		if st == citeDone {
			f.resolve(ns)
			return
		}
	}
	switch {
	case st == citeInvalid:
		// Not a citation: every bracket held is text; what followed the last
		// one may hold another bracket, so it is read again.
		rest := f.stack[top][1:]
		f.stack[top] = f.stack[top][:1]
		f.emitHeld()
		for _, r := range rest {
			f.rune(r)
		}
	case f.held > maxCiteRunes:
		// Numbers and brackets nested past the limit: not text anyone wrote
		// to be read, and shown verbatim they could form a citation with what
		// follows; dropped, as a removed citation is.
		f.stack, f.held = nil, 0
		f.dropSpaces()
		f.removed++
	}
}

// resolve ends the innermost bracket, a citation of nums.
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
	top := len(f.stack) - 1
	f.held -= len(f.stack[top])
	f.stack = f.stack[:top]
	if b.Len() == 0 {
		if top == 0 {
			f.dropSpaces()
		}
		return // an enclosing bracket, if any, is read on as if the citation was never there
	}
	f.emitHeld()
	f.buf.WriteString(b.String())
}

// dropSpaces removes the spaces before a removed citation ("text [7]."
// reads "text."). Other white space stays: it may be what made a bracket
// before it plain text ("[0⇥[9]]", "[1 ,\r[99…"), and dropping it would glue
// that bracket to what follows into a citation, or into a bracket the next
// reading drops.
func (f *citeFilter) dropSpaces() {
	if strings.Trim(f.ws.String(), " ") == "" {
		f.ws.Reset()
	}
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
