package keyword

import (
	"strings"
	"testing"
)

// Every phrase of both built-in lexicon files analyses to between one and
// maxRuleTerms words (a phrase that analyses to nothing, or to more words
// than a rule may hold, is silently dropped by compileLexicon), and every
// line of the bilingual file links the two scripts: a line without both
// Chinese and non-Chinese phrases gives no rule (see crossLanguage).
func TestLexiconFilesAnalyse(t *testing.T) {
	for _, f := range []struct {
		name, text string
		bilingual  bool
	}{{"customer_service.txt", builtinLexicon, false}, {"bilingual.txt", bilingualLexicon, true}} {
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
				if hasHan(p) {
					han = true
				} else {
					other = true
				}
			}
			if f.bilingual && !(han && other) {
				t.Errorf("%s:%d: %q does not link Chinese and English", f.name, n+1, line)
			}
		}
		if lines < 150 {
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
		if hasHan(r.From) {
			fromHan++
		}
		for _, to := range r.To {
			if hasHan(to) == hasHan(r.From) {
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
