package text

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// Normalize folds s for matching: full-width ASCII letters, digits and
// punctuation become their narrow forms ("ＡＢＣ１２３？" → "ABC123?"),
// the ideographic space a space, half-width katakana full width; every run
// of white space becomes one space and the ends are trimmed. Case is kept.
func Normalize(s string) string {
	return collapseSpace(width.Fold.String(s))
}

// collapseSpace replaces every run of white space by one space and trims.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
