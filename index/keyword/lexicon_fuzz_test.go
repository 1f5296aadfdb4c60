package keyword

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
)

// FuzzParseSynonyms feeds arbitrary synonym files to the parser: it must
// not panic, must refuse with the API's own error codes, and what it
// accepts must be rules a query can use: a non-empty phrase of valid UTF-8
// leading to at least one other, no more than MaxRules of them, and as
// many as the lines' left-hand phrases say.
func FuzzParseSynonyms(f *testing.F) {
	for _, s := range []string{
		"退钱, 退款，退回款项\n坏了, 碎了 => 质量问题\nparcel,package\n",
		"# comment\n\n a , b , c \n",
		"x =>\n", "=> y\n", "a\n", "a, a\n", "a => b => c\n", "，，\n", "\xff, b\n",
		strings.Repeat("w, ", 2000) + "w\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 1<<16 {
			t.Skip()
		}
		rules, err := ParseSynonyms(text, 0.5)
		if err != nil {
			if c := kefu.ErrorCode(err); c != kefu.EINVALID && c != kefu.ETOOLARGE {
				t.Fatalf("error %v has code %q, want invalid or too large", err, c)
			}
			return
		}
		if len(rules) > MaxRules {
			t.Fatalf("%d rules, over MaxRules", len(rules))
		}
		want := 0
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			from, _, _ := strings.Cut(line, "=>")
			want += len(phrases(from))
		}
		if len(rules) != want {
			t.Fatalf("%d rules from %q, want one per left-hand phrase: %d", len(rules), text, want)
		}
		for _, r := range rules {
			if r.From == "" || !utf8.ValidString(r.From) || len(r.To) == 0 || r.Weight != 0.5 {
				t.Fatalf("unusable rule %+v from %q", r, text)
			}
			for _, to := range r.To {
				if to == "" || !utf8.ValidString(to) {
					t.Fatalf("rule %+v leads to an empty or invalid phrase", r)
				}
			}
		}
	})
}

// TestParseSynonymsBoundsGroups: an equivalence group of n phrases makes
// n rules of n-1 phrases each, so a line of a few kilobytes could make
// millions of strings; the parser refuses a side of more than maxGroup.
func TestParseSynonymsBoundsGroups(t *testing.T) {
	line := strings.TrimSuffix(strings.Repeat("w,", maxGroup+1), ",")
	if _, err := ParseSynonyms("ok, fine\n"+line+"\n", 1); kefu.ErrorCode(err) != kefu.ETOOLARGE || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a group of %d phrases: %v, want too large naming line 2", maxGroup+1, err)
	}
	line = strings.TrimSuffix(strings.Repeat("w,", maxGroup), ",")
	if rules, err := ParseSynonyms(line, 1); err != nil || len(rules) != maxGroup {
		t.Fatalf("a group of %d phrases: %d rules, %v", maxGroup, len(rules), err)
	}
}
