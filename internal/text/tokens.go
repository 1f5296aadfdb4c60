package text

import (
	"unicode"
	"unicode/utf8"
)

// EstimateTokens is a conservative count of the tokens an LLM sees in s,
// for budgeting prompts and reporting usage without the model's
// tokenizer: every Han, kana or Hangul rune counts one token (BPE
// vocabularies of current models spend 0.6 to 1.5 per Chinese character),
// every other run of text one token per four bytes, rounded up (the usual
// figure for English), and every line break one. It is the module's one
// token estimate; embedding models count their own tokens exactly
// (kefu.TokenCounter).
func EstimateTokens(s string) int {
	n, other := 0, 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
			n += (other + 3) / 4
			other = 0
			n++
		case r == '\n':
			n += (other+3)/4 + 1
			other = 0
		default:
			other += size
		}
	}
	return n + (other+3)/4
}
