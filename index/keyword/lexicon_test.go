package keyword

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/internal/text"
)

// Every phrase of the built-in lexicon files analyses to between one and
// maxRuleTerms words (a phrase that analyses to nothing, or to more words
// than a rule may hold, is silently dropped by compileLexicon), and every
// line of the bilingual file links the two scripts: a line without both
// Chinese and non-Chinese phrases gives no rule (see crossLanguage).
func TestLexiconFilesAnalyse(t *testing.T) {
	for _, f := range []struct {
		name, text string
		bilingual  bool
		minLines   int
	}{{"customer_service.txt", builtinLexicon, false, 150}, {"bilingual.txt", bilingualLexicon, true, 150}, {"equivalents.txt", equivalentsLexicon, false, 20}} {
		lines := 0
		for n, line := range strings.Split(f.text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			lines++
			from, to, _ := strings.Cut(line, "=>")
			han, other := false, false
			for _, p := range append(phrases(from), phrases(to)...) {
				ws := wordsOf(defaultAnalyzer, p)
				if len(ws) == 0 || len(ws) > maxRuleTerms {
					t.Errorf("%s:%d: %q analyses to %v", f.name, n+1, p, ws)
				}
				if text.HasHan(p) {
					han = true
				} else {
					other = true
				}
			}
			if f.bilingual && !(han && other) {
				t.Errorf("%s:%d: %q does not link Chinese and English", f.name, n+1, line)
			}
		}
		if lines < f.minLines {
			t.Errorf("%s: %d rule lines", f.name, lines)
		}
	}
}

// A bilingual rule leads only to the other language: its Chinese phrases
// are not made synonyms of each other (customer_service.txt's one-way
// choices stay one-way), and every phrase reaches the other script.
func TestBilingualSynonymsCrossScripts(t *testing.T) {
	rules := BilingualSynonyms(0.35)
	if len(rules) < 400 {
		t.Fatalf("%d bilingual rules", len(rules))
	}
	fromHan := 0
	for _, r := range rules {
		if r.Weight != 0.35 {
			t.Fatalf("rule %q weighs %v", r.From, r.Weight)
		}
		if text.HasHan(r.From) {
			fromHan++
		}
		for _, to := range r.To {
			if text.HasHan(to) == text.HasHan(r.From) {
				t.Errorf("rule %q → %q stays in one script", r.From, to)
			}
		}
	}
	if fromHan == 0 || fromHan == len(rules) {
		t.Fatalf("%d of %d rules from Chinese: want both directions", fromHan, len(rules))
	}
	byFrom := map[string][]string{}
	for _, r := range rules {
		byFrom[r.From] = append(byFrom[r.From], r.To...)
	}
	for from, want := range map[string]string{"退款": "refund", "refund": "退款", "发票": "invoice", "invoice": "发票", "国外": "abroad", "尺码": "size"} {
		if !strings.Contains(strings.Join(byFrom[from], ","), want) {
			t.Errorf("%s → %v, want %s among them", from, byFrom[from], want)
		}
	}
}

// demoShop indexes the demo shop FAQ (../shared/data/demo/shop_faq.csv):
// twenty Chinese and twenty English entries, most in both languages, a
// few (shipping abroad, payment methods, passwords) only in English.
func demoShop(t *testing.T) *Index {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.Shared(t, "data/demo"), "shop_faq.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var docs []Doc
	for _, r := range recs[1:] {
		docs = append(docs, Doc{ID: r[0], DocID: "shop", Kind: "faq", Lang: r[3], Category: r[2], Questions: r[0], Body: r[1]})
	}
	ix := openMem(t, Options{})
	apply(t, ix, docs, nil, nil)
	return ix
}

// Mixed Chinese/English questions, and Chinese questions whose only answer
// is an English entry, find their entry with the KB's default rules
// (SettingsRules: both lexicons), and not with the Chinese/English
// customer-service lexicon alone, so each case tests the bilingual one.
// The questions were written for this test; the entry each wants is the
// one a shop assistant would give.
func TestBilingualLexiconMatches(t *testing.T) {
	ix := demoShop(t)
	cases := map[string]string{
		"warranty 有几年":           "商品保修多久？",
		"exchange 怎么申请":          "怎么换货？",
		"密码忘了怎么找回":               "How do I reset my password?",
		"when will my 退款 arrive": "How long does a refund take?",
		// Loanwords in a Chinese question, with Chinese twins of the
		// English entries they name: the answer is in the question's
		// language (the English twin won before loanwords weighed as a
		// translation; "Chinese" by a function word alone in the first).
		"payment declined 了 咋办": "付款失败怎么办？",
		"points 怎么用":            "积分怎么用？",
	}
	top := func(q string) string {
		hits := search(t, ix, q, 3, nil)
		if len(hits) == 0 {
			return ""
		}
		return hits[0].ChunkID
	}
	ix.SetLexicon(BuiltinSynonyms(builtinSynonymWeight))
	for q, want := range cases {
		if got := top(q); got == want {
			t.Errorf("%q finds %s without the bilingual lexicon: the case proves nothing", q, want)
		}
	}
	rules, err := SettingsRules(&kefu.KBSettings{})
	if err != nil {
		t.Fatal(err)
	}
	ix.SetLexicon(rules)
	for q, want := range cases {
		if got := top(q); got != want {
			t.Errorf("%q → %s, want %s", q, got, want)
		}
	}
	// The question's own language still wins when both hold the need.
	for q, want := range map[string]string{"退款怎么申请": "怎么申请退款？", "how do i apply for a refund": "How do I request a refund?", "发票怎么开": "怎么开发票？", "how to get an invoice": "How do I get an invoice?"} {
		if got := top(q); got != want {
			t.Errorf("%q → %s, want %s", q, got, want)
		}
	}
}

// A translation weighs the bilingual rules' low weight when the KB holds
// the customer's word, and as much as the word when it stands for a loanword
// of a mixed question or for a word the KB does not hold; the loanword then
// weighs what its translation would have.
func TestTranslationWeights(t *testing.T) {
	expectSynonymWeights(t, []synonymWeight{
		{"退款怎么申请", "refund", bilingualSynonymWeight}, // 退款 is held: its Chinese entries answer
		{"how do i get a refund", "退款", bilingualSynonymWeight},
		{"warranty 有几年", "保修", translationWeight},   // an English loanword in a Chinese question
		{"密码忘了怎么找回", "password", translationWeight}, // no Chinese entry holds 密码
	})
	// The loanwords themselves weigh as a translation; one without a
	// translation (a brand) keeps a word's weight.
	ix := demoShop(t)
	rules, err := SettingsRules(&kefu.KBSettings{})
	if err != nil {
		t.Fatal(err)
	}
	ix.SetLexicon(rules)
	for _, c := range []struct {
		query, word string
		weight      float64
	}{{"warranty 有几年", "warranti", loanwordWeight}, {"points 怎么用", "point", loanwordWeight}, {"PayPal 能用吗", "paypal", 1}, {"how long is the warranty", "warranti", 1}} {
		_, info := hitsFor(t, ix, c.query)
		if term, ok := termsOf(info)[c.word]; !ok || term.Kind != kefu.TermWord || term.Weight != c.weight {
			t.Errorf("%s: %s = %+v (found %v), want a word of weight %v", c.query, c.word, term, ok, c.weight)
		}
	}
}

// synonymWeight is a query, one of its synonyms and the weight it must have.
type synonymWeight struct {
	query, term string
	weight      float64
}

// expectSynonymWeights checks the weights of synonyms in the demo shop KB
// with the built-in lexicons.
func expectSynonymWeights(t *testing.T, cases []synonymWeight) {
	t.Helper()
	ix := demoShop(t)
	rules, err := SettingsRules(&kefu.KBSettings{})
	if err != nil {
		t.Fatal(err)
	}
	ix.SetLexicon(rules)
	for _, c := range cases {
		_, info := hitsFor(t, ix, c.query)
		term, ok := termsOf(info)[c.term]
		if !ok || term.Kind != kefu.TermSynonym || term.Weight != c.weight {
			t.Errorf("%s: %s = %+v (found %v), want a synonym of weight %v", c.query, c.term, term, ok, c.weight)
		}
	}
}

// A word of an equivalence group weighs as much as the customer's word; a
// word of a group of related words weighs a related word's half. No line
// is in both files: a group is either equivalent or related.
func TestEquivalentSynonymWeights(t *testing.T) {
	expectSynonymWeights(t, []synonymWeight{
		{"退钱怎么申请", "退款", equivalentSynonymWeight},
		{"咋开发票", "怎么", equivalentSynonymWeight},
		{"forgot my passcode", "password", equivalentSynonymWeight},
		{"包裹到哪了", "快递", builtinSynonymWeight}, // a parcel is not the courier
	})
	lines := map[string]bool{}
	for line := range strings.Lines(builtinLexicon) {
		lines[strings.TrimSpace(line)] = true
	}
	for line := range strings.Lines(equivalentsLexicon) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && lines[l] {
			t.Errorf("%q is in both customer_service.txt and equivalents.txt", l)
		}
	}
}

// A Chinese word no rule knows takes the rules of its longest ending that
// one does (出毛病 ends in 毛病, a quality problem), never of its beginning:
// 人工智能 (artificial intelligence) begins with 人工, a human agent.
func TestRulesOfAWordsEnding(t *testing.T) {
	ix := demoShop(t)
	rules, err := SettingsRules(&kefu.KBSettings{})
	if err != nil {
		t.Fatal(err)
	}
	ix.SetLexicon(rules)
	_, info := hitsFor(t, ix, "用了两天就出毛病了怎么办")
	terms := termsOf(info)
	if w, ok := terms["出毛病"]; !ok || w.Kind != kefu.TermWord {
		t.Fatalf("出毛病 is not one word of the query: %v", terms)
	}
	for _, syn := range []string{"故障", "质量"} {
		if term, ok := terms[syn]; !ok || term.Kind != kefu.TermSynonym || term.Weight != builtinSynonymWeight {
			t.Errorf("出毛病: %s = %+v (found %v), want a synonym of weight %v", syn, term, ok, builtinSynonymWeight)
		}
	}
	_, info = hitsFor(t, ix, "人工智能是什么")
	terms = termsOf(info)
	if w, ok := terms["人工智能"]; !ok || w.Kind != kefu.TermWord {
		t.Fatalf("人工智能 is not one word of the query: %v", terms)
	}
	for _, syn := range []string{"人工客服", "真人", "agent"} {
		if _, ok := terms[syn]; ok {
			t.Errorf("人工智能 drew %s, a synonym of 人工", syn)
		}
	}
}

// A word glued from function words alone is one; a word holding a content
// word is not.
func TestGluedFunctionWords(t *testing.T) {
	for w, want := range map[string]bool{"能用": true, "先用": true, "怎样才能": true, "不想": true, "哪家": true,
		"给我发": false, "能退": false, "升级成": false, "退款": false, "用户": false} {
		if got := isFunctionWord(w); got != want {
			t.Errorf("isFunctionWord(%s) = %v, want %v", w, got, want)
		}
	}
}

// A Chinese word of one character is a common word, not a name: gse rates
// them all as rare as 比特币.
func TestSingleCharacterSpecificity(t *testing.T) {
	if got := specificity("坏"); got != singleCharSpecificity {
		t.Errorf("specificity(坏) = %v, want %v", got, singleCharSpecificity)
	}
	if got := specificity("比特币"); got < 0.9 {
		t.Errorf("specificity(比特币) = %v, want ≥ 0.9", got)
	}
}
