package answer

import (
	"strings"

	"github.com/kefu-dev/kefu/internal/text"
)

// lang returns the language a reply to s is written in: "zh" when the text
// is detected as Chinese, "en" when it is detected as anything else, and
// fallback when nothing can be detected (a question of digits or emoji
// inherits the conversation's language).
func lang(s, fallback string) string {
	switch l := text.Lang(s); {
	case strings.HasPrefix(l, "zh"):
		return "zh"
	case l == "":
		if fallback == "zh" {
			return "zh"
		}
		return "en"
	}
	return "en"
}

// sentences splits text into sentences with the shared Chinese- and
// English-aware splitter.
func sentences(s string) []string { return text.Sentences(s) }
