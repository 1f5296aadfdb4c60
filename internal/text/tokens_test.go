package text

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestEstimateTokens(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"hello world", 3}, // 11 bytes / 4, rounded up
		{"退款多久", 4},        // one per Han character
		{"退款 refund", 4},   // 2 + 7 bytes / 4
		{"a\nb", 3},        // 1 + newline + 1
		{"café", 2},        // 5 bytes
		{"カタカナ한글", 6},      // one per kana and Hangul rune
		{"\xff\xfe", 1},    // invalid bytes count as the bytes they are
	} {
		if got := EstimateTokens(c.s); got != c.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

// FuzzEstimateTokens: the estimate is positive for text, zero for none, at
// most one per byte, and at least one per Han character and per four runes.
func FuzzEstimateTokens(f *testing.F) {
	f.Add("How do I request a refund?")
	f.Add("怎么申请退款？")
	f.Add("a\n\n\xffb")
	f.Fuzz(func(t *testing.T, s string) {
		n := EstimateTokens(s)
		if (s == "") != (n == 0) || n > len(s) || n < 0 {
			t.Fatalf("EstimateTokens(%q) = %d", s, n)
		}
		han := 0
		for _, r := range s {
			if unicode.Is(unicode.Han, r) {
				han++
			}
		}
		if n < han || utf8.ValidString(s) && n < utf8.RuneCountInString(s)/4 {
			t.Fatalf("EstimateTokens(%q) = %d, too few", s, n)
		}
	})
}
