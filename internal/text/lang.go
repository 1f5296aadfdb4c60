package text

import (
	"unicode"
	"unicode/utf8"
)

// Lang returns the dominant language of s: "zh", "en", or "" when s has no
// letters or is mostly in another script (Japanese kana, Korean, Cyrillic…).
//
// The rule: every Han character counts one for Chinese, every word of Latin
// letters one for English (an English word carries about as much as one or
// two Han characters), and every kana or Hangul character or word of another
// alphabet one for "other". The largest count wins; a tie between Chinese
// and English goes to Chinese, because Chinese support text is full of
// English product names ("RAGFlow 支持 Elasticsearch 和 Infinity" is "zh")
// while English text rarely carries Chinese.
func Lang(s string) string {
	var zh, en, other int
	var inLatin, inOther bool
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		latin, alpha := false, false
		switch {
		case r < utf8.RuneSelf:
			latin = 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		case isHan(r):
			zh++
		case unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
			other++
		case unicode.IsLetter(r) && unicode.Is(unicode.Latin, r):
			latin = true
		case unicode.IsLetter(r):
			alpha = true
		}
		if latin && !inLatin {
			en++
		}
		if alpha && !inOther {
			other++
		}
		// A word runs over letters and the digits or apostrophes inside it.
		digit := '0' <= r && r <= '9' || r >= utf8.RuneSelf && unicode.IsDigit(r)
		inLatin = latin || (inLatin && (digit || r == '\''))
		inOther = alpha || (inOther && digit)
	}
	switch {
	case zh == 0 && en == 0:
		return ""
	case other > zh && other > en:
		return ""
	case zh >= en:
		return "zh"
	}
	return "en"
}

// isHan reports whether r is a Chinese (Han) character.
func isHan(r rune) bool {
	return r >= 0x2E80 && unicode.Is(unicode.Han, r)
}

// HasHan reports whether s contains a Chinese (Han) character.
func HasHan(s string) bool {
	for _, r := range s {
		if isHan(r) {
			return true
		}
	}
	return false
}
