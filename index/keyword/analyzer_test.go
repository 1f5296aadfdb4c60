package keyword

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/registry"
)

func TestTerms(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		// Chinese words, not characters; function words dropped.
		{"refund", "怎么申请退款", []string{"怎么", "申请", "退款"}},
		{"invoice", "发票怎么开？", []string{"发票", "怎么", "开"}},
		{"huabei is one word", "花呗还款日是几号", []string{"花呗", "还款", "日", "几号"}},
		// Customer-service words gse's dictionary lacks (domainWords), which
		// it would cut into characters (微 信, 顺 丰, 自 提).
		{"wechat and couriers", "用微信支付，发顺丰还是中通", []string{"用", "微信", "支付", "发", "顺丰", "还是", "中通"}},
		{"pickup and login", "自提点在哪 登入不了", []string{"自提", "点", "哪", "登入", "不了"}},
		{"missing items", "少件漏发了找谁", []string{"少件", "漏发", "找", "谁"}},
		// A domain word does not split the words around it: 改密码 keeps 密码.
		{"password", "怎么改密码", []string{"怎么", "改", "密码"}},
		{"zh stop words", "我的订单还没有发货，请问什么时候到账", []string{"订单", "还", "没有", "发货", "什么", "时候", "到账"}},
		// English: lower case, possessive, stop words, Snowball stems.
		{"english", "The running dogs' owners were refunded", []string{"run", "dog", "owner", "refund"}},
		{"possessive", "the customer's orders", []string{"custom", "order"}},
		// Mixed scripts in one string, with and without spaces.
		{"mixed", "iPhone 15的退款流程 refund policy", []string{"iphon", "15", "退款", "流程", "refund", "polici"}},
		{"mixed no spaces", "退款refund到账", []string{"退款", "refund", "到账"}},
		// Full-width letters, digits and space fold to ASCII; case folds.
		{"full width", "ＲＥＦＵＮＤ\u3000１２３ Ａｐｐｌｅ", []string{"refund", "123", "appl"}},
		{"empty", "", []string{}},
		{"punctuation only", "？！。，,.;:", []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var words []string
			for _, term := range Terms(c.text) {
				if !strings.HasPrefix(term, bigramMark) {
					words = append(words, term)
				}
			}
			if !slices.Equal(words, c.want) && !(len(words) == 0 && len(c.want) == 0) {
				t.Fatalf("words of Terms(%q) = %q, want %q", c.text, words, c.want)
			}
		})
	}
}

// Each Han character is also a term of its own, marked apart from the
// words; stop words are dropped as words, not as characters.
func TestTermsAddCharacters(t *testing.T) {
	got := Terms("我的订单退款了 refund")
	want := []string{"订单", "退款", "¦我", "¦的", "¦订", "¦单", "¦退", "¦款", "¦了", "refund"}
	if !slices.Equal(got, want) {
		t.Fatalf("Terms = %q, want %q", got, want)
	}
}

func TestBigramAnalyzer(t *testing.T) {
	a, err := newAnalyzer(bigramConfig)
	if err != nil {
		t.Fatal(err)
	}
	got := terms(a, "申请退款 refunds 花")
	want := []string{"申请", "请退", "退款", "refund", "花"}
	if !slices.Equal(got, want) {
		t.Fatalf("bigram terms = %q, want %q", got, want)
	}
}

// The stemmers must leave Han words alone even next to Latin letters.
func TestStemLeavesHanAlone(t *testing.T) {
	for _, s := range []string{"退货es", "中文ing"} {
		for _, term := range Terms(s) {
			if strings.ContainsAny(term, "abcdefghijklmnopqrstuvwxyz") && !isASCII([]byte(term)) {
				t.Fatalf("Terms(%q) mixes scripts in %q", s, term)
			}
		}
	}
	if got := Terms("退货es"); !slices.Contains(got, "退货") {
		t.Fatalf("Terms(退货es) = %q, want 退货 kept", got)
	}
}

// The registered components build through bleve's registry, as a mapping
// that names them would.
func TestRegistered(t *testing.T) {
	cache := registry.NewCache()
	for _, name := range []string{AnalyzerWords, AnalyzerBigram} {
		a, err := cache.AnalyzerNamed(name)
		if err != nil {
			t.Fatalf("analyzer %s: %v", name, err)
		}
		if got := terms(a, "退款 refunds"); len(got) < 2 || got[len(got)-1] != "refund" {
			t.Fatalf("%s: terms = %q", name, got)
		}
	}
	if _, err := cache.TokenizerNamed(TokenizerWords); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.TokenizerNamed(TokenizerBigram); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.CharFilterNamed(CharFilterFold); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.TokenFilterNamed(FilterStop); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.TokenFilterNamed(FilterStem); err != nil {
		t.Fatal(err)
	}
}

func FuzzTerms(f *testing.F) {
	for _, s := range []string{"怎么申请退款", "The running dogs' owners", "ＲＥＦＵＮＤ１２３", "退款refund到账", "\xff\xfe", "a\x00b", "ǅ İ ß ﬁ ①"} {
		f.Add(s)
	}
	// Load the dictionary before fuzzing: on a busy machine its load can
	// outlast the fuzzer's patience with a single input.
	if _, err := segmenter(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			s = s[:4096]
		}
		got := Terms(s)
		for _, term := range got {
			if term == "" {
				t.Fatalf("Terms(%q) has an empty term: %q", s, got)
			}
			if strings.ContainsAny(term, " \t\n") {
				t.Fatalf("Terms(%q) has a term with white space: %q", s, term)
			}
			if utf8.ValidString(s) && !utf8.ValidString(term) {
				t.Fatalf("Terms(%q) has invalid UTF-8 term %q", s, term)
			}
		}
		if again := Terms(s); !slices.Equal(got, again) {
			t.Fatalf("Terms(%q) not deterministic: %q then %q", s, got, again)
		}
	})
}

// Preload readies what the first query would otherwise wait for: the
// segmenter and, for typo correction, the Levenshtein automata builders
// (run alone, this test is the first to ask for them).
func TestPreloadBuildsTypoAutomata(t *testing.T) {
	if err := Preload(); err != nil {
		t.Fatal(err)
	}
	if lev1 == nil || lev2 == nil {
		t.Fatal("Preload left the Levenshtein automata builders unbuilt")
	}
}
