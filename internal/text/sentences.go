// Package text holds the text utilities that stages share and may not
// import from each other: sentence boundaries for Chinese, English and
// mixed text, language detection, normalisation, Traditional → Simplified
// Chinese, and the one LLM token estimate (the answerer's prompt budget,
// the API's usage counts). It imports nothing of kefu.
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentence boundaries are found by hand: the Go segmenters at hand
// (blevesearch/segment, rivo/uniseg) implement UAX #29, which splits after
// every "e.g. " or "No. 5" and knows nothing of Chinese full-width
// punctuation, while a support knowledge base is full of both.

// maxAbbrevLen bounds the look-back for an abbreviation before a period.
const maxAbbrevLen = 32

// Abbreviations (lower case, without their final period) after which a
// period never ends a sentence, whatever follows.
var neverBreak = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "sr": true,
	"jr": true, "st": true, "mt": true, "rev": true, "hon": true, "gen": true,
	"col": true, "capt": true, "lt": true, "sgt": true, "gov": true,
	"sen": true, "rep": true, "messrs": true, "mme": true, "mlle": true,
	"vs": true, "e.g": true, "i.e": true, "cf": true, "viz": true,
	"approx": true, "ca": true, "u.s": true, "u.k": true, "u.n": true,
	"u.s.a": true, "dept": true, "esp": true, "incl": true, "min": true,
	"max": true, "avg": true, "resp": true,
}

// Abbreviations after which a period does not end a sentence when a number
// follows: "No. 5", "Fig. 3", "Jan. 15", "p. 12".
var beforeNumber = map[string]bool{
	"no": true, "nos": true, "nr": true, "vol": true, "vols": true, "p": true,
	"pp": true, "fig": true, "figs": true, "eq": true, "eqs": true, "ch": true,
	"chap": true, "sec": true, "art": true, "ref": true, "refs": true,
	"pt": true, "op": true, "ed": true, "tab": true, "para": true, "ver": true,
	"v": true, "jan": true, "feb": true, "mar": true, "apr": true, "jun": true,
	"jul": true, "aug": true, "sep": true, "sept": true, "oct": true,
	"nov": true, "dec": true, "tel": true, "ext": true, "approx": true,
}

// Sentences splits s into sentences, each trimmed of surrounding white
// space; the sentences appear in s in order with only white space between
// them, so nothing but white space is lost.
//
// A sentence ends:
//   - after Chinese and full-width terminators 。！？；… (and runs of them),
//     always;
//   - after ASCII . ! ? (and runs of them) followed by white space, the end
//     of the text or a Chinese character — unless the next word starts in
//     lower case, or the period closes a known abbreviation ("e.g.", "Mr.",
//     "U.S."), an abbreviation before a number ("No. 5", "Fig. 3") or a
//     list number at the start of a sentence ("1. Open the app");
//   - at a blank line (a paragraph end), and at a single newline when the
//     next line starts a list item, heading, quote or table row, or when the
//     line break touches Chinese text (Chinese is not hard-wrapped with
//     spaces, so a newline there ends a line of its own).
//
// Closing quotes and brackets after a terminator stay with their sentence.
// A period inside a word (3.5, v1.2.3, example.com, e.g.,) never ends one.
// Single-letter initials ("J. K. Rowling") are not recognised: support
// text says "option A. Then" far more often.
func Sentences(s string) []string {
	var out []string
	start := 0
	emit := func(end int) {
		if t := strings.TrimSpace(s[start:end]); t != "" {
			out = append(out, t)
		}
		start = end
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
			j := skipHSpace(s, i+1)
			if j < len(s) && s[j] == '\n' {
				emit(i)
			} else if j < len(s) && newlineBreaks(s, start, i, j) {
				emit(i)
			}
			i += size
		case isCJKTerminator(r):
			j := skipTerminators(s, i)
			ellipsis := strings.Trim(s[i:j], "…⋯.") == ""
			j = skipClosers(s, j)
			// An ellipsis before a lower-case word trails off mid-sentence.
			if k := skipSpace(s, j); !ellipsis || k >= len(s) || !startsLower(s[k:]) {
				emit(j)
			}
			i = j
		case r == '.' || r == '!' || r == '?' || r == '．':
			j := skipTerminators(s, i)
			run := s[i:j]
			j = skipClosers(s, j)
			if periodBreaks(s, start, i, run, j) {
				emit(j)
			}
			i = j
		default:
			i += size
		}
	}
	emit(len(s))
	return out
}

// periodBreaks decides whether the ASCII terminator run s[at:at+len(run)],
// followed by closers up to end, ends the sentence that began at start.
func periodBreaks(s string, start, at int, run string, end int) bool {
	if end >= len(s) {
		return true
	}
	next, _ := utf8.DecodeRuneInString(s[end:])
	if isHan(next) {
		return true
	}
	if !unicode.IsSpace(next) {
		return false
	}
	j := skipSpace(s, end)
	if j >= len(s) {
		return true
	}
	if strings.Count(s[end:j], "\n") >= 2 {
		return true // a paragraph ends here whatever the words are
	}
	nr, _ := utf8.DecodeRuneInString(s[j:])
	if unicode.IsLower(nr) || strings.ContainsRune(",;:)]}", nr) {
		return false
	}
	if run != "." && run != "．" {
		return true
	}
	word := wordBefore(s, start, at)
	if word == "" {
		return true
	}
	lw := strings.ToLower(word)
	if neverBreak[lw] {
		return false
	}
	if beforeNumber[lw] && (unicode.IsDigit(nr) || nr == '#') {
		return false
	}
	// A list number opening its sentence: "1. Open the app".
	if len(word) <= 3 && allDigits(word) && strings.TrimSpace(s[start:at]) == word {
		return false
	}
	return true
}

// wordBefore returns the word that ends at s[at], without opening brackets
// or quotes, or "" when it is longer than any abbreviation.
func wordBefore(s string, start, at int) string {
	b := at
	for b > start && at-b <= maxAbbrevLen {
		r, size := utf8.DecodeLastRuneInString(s[start:b])
		if unicode.IsSpace(r) || strings.ContainsRune(`("'“‘[{（「`, r) {
			break
		}
		b -= size
	}
	if at-b > maxAbbrevLen {
		return ""
	}
	return s[b:at]
}

// newlineBreaks decides whether the single newline at s[nl] (the next line
// starting at s[next]) ends the sentence that began at start.
func newlineBreaks(s string, start, nl, next int) bool {
	if startsBlock(s[next:]) {
		return true
	}
	prev, _ := utf8.DecodeLastRuneInString(strings.TrimRightFunc(s[start:nl], unicode.IsSpace))
	nr, _ := utf8.DecodeRuneInString(s[next:])
	return isHan(prev) || isHan(nr) || isCJKPunct(prev) || isCJKPunct(nr)
}

// startsBlock reports whether a line opens a list item, heading, quote or
// table row.
func startsBlock(line string) bool {
	if line == "" {
		return false
	}
	switch line[0] {
	case '#', '>', '|':
		return true
	case '-', '*', '+':
		return len(line) > 1 && line[1] == ' '
	}
	if strings.HasPrefix(line, "•") || strings.HasPrefix(line, "·") {
		return true
	}
	d := 0
	for d < len(line) && d < 4 && line[d] >= '0' && line[d] <= '9' {
		d++
	}
	if d > 0 && d < len(line) {
		c := line[d]
		if c == '.' || c == ')' {
			return d+1 == len(line) || line[d+1] == ' '
		}
		r, _ := utf8.DecodeRuneInString(line[d:])
		return r == '、' || r == '．' || r == '）'
	}
	return false
}

func isCJKTerminator(r rune) bool {
	switch r {
	case '。', '！', '？', '；', '…', '⋯', '｡':
		return true
	}
	return false
}

func isCJKPunct(r rune) bool {
	return (r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFF65) || r == '…' || r == '“' || r == '”'
}

func isCloser(r rune) bool {
	return strings.ContainsRune(`"'”’」』）)]】》〉〕｝}»›〗`, r)
}

func skipTerminators(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isCJKTerminator(r) && r != '.' && r != '!' && r != '?' && r != '．' {
			break
		}
		i += size
	}
	return i
}

func skipClosers(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isCloser(r) {
			break
		}
		i += size
	}
	return i
}

// skipHSpace skips white space other than newlines.
func skipHSpace(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\n' || !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

func startsLower(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLower(r)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
