package text

import "testing"

func TestLang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"12345 !!! ...", ""},
		{"怎么申请退款？", "zh"},
		{"How do I get a refund?", "en"},
		{"RAGFlow 支持 Elasticsearch 和 Infinity", "zh"}, // 3 Han, 3 words: tie goes to zh
		{"请在设置中打开 API key 配置", "zh"},                  // 10 Han, 2 words
		{"Contact 客服 for help with your order", "en"}, // 2 Han, 5 words
		{"Please call our team at 400-800", "en"},     // digits do not count
		{"Café naïve résumé", "en"},                   // Latin with accents
		{"これは日本語の文章です", ""},                           // kana outweighs the Han
		{"한국어 문장입니다", ""},                             // Hangul
		{"Это русский текст", ""},                     // Cyrillic words
		{"iPhone15 和 iPad", "en"},                     // 1 Han vs 2 words ("iPhone15" is one)
		{"iPhone15 和 iPad 的区别", "zh"},                 // 4 Han vs 2 words
		{"Use v1.2.3 or v2 of it", "en"},
	}
	for _, tt := range tests {
		if got := Lang(tt.in); got != tt.want {
			t.Errorf("Lang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  a \t b\n\nc  ", "a b c"},
		{"ＡＢＣ１２３？", "ABC123?"},
		{"退款\u3000多久", "退款 多久"},
		{"怎么，申请？", "怎么,申请?"},
		{"ｶﾀｶﾅ", "カタカナ"},
		{"Keep Case", "Keep Case"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHasHan(t *testing.T) {
	if !HasHan("abc 退款") || HasHan("abc カタカナ") || HasHan("") {
		t.Error("HasHan")
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("ＡＢＣ１２３？ 退款\u3000多久")
	f.Add("\xff\xfe a\n")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize is not idempotent on %q: %q then %q", s, n, Normalize(n))
		}
		_ = Lang(s)
	})
}
