package keyword

import (
	"bufio"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// Rule is one synonym rule: a query holding the phrase From also matches
// each phrase of To, with the weight Weight (an original query word weighs
// 1). Phrases are plain text, analysed like the documents when compiled.
type Rule struct {
	From   string
	To     []string
	Weight float64
}

// Limits of a synonym file.
const (
	MaxRules      = 20000 // rules, after equivalence groups are expanded
	maxRuleBytes  = 4096  // one line
	maxGroup      = 100   // phrases on one side of a line: a group of n makes n rules of n-1 phrases
	maxRuleTerms  = 4     // words in one phrase; longer phrases are ignored
	maxExpansions = 32    // terms one query may gain from rules
)

// ParseSynonyms reads rules in the Solr synonyms format, the one a team
// already knows: blank lines and lines starting with # are skipped; a line
// "a, b, c" makes the phrases equivalent (each matches the others); a line
// "a, b => c, d" lets a and b also match c and d, not the reverse. Every
// rule gets weight. Errors name the line.
func ParseSynonyms(text string, weight float64) ([]Rule, error) {
	var rules []Rule
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 1024), maxRuleBytes+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, kefu.Errorf(kefu.EINVALID, "synonyms line %d: not UTF-8", n)
		}
		from, to, oneWay := strings.Cut(line, "=>")
		lhs, rhs := phrases(from), phrases(to)
		if len(lhs) > maxGroup || len(rhs) > maxGroup {
			return nil, kefu.Errorf(kefu.ETOOLARGE, "synonyms line %d: more than %d phrases on one side", n, maxGroup)
		}
		if len(rules)+len(lhs) > MaxRules {
			return nil, kefu.Errorf(kefu.ETOOLARGE, "synonyms: more than %d rules", MaxRules)
		}
		switch {
		case oneWay && (len(lhs) == 0 || len(rhs) == 0):
			return nil, kefu.Errorf(kefu.EINVALID, "synonyms line %d: %q needs phrases on both sides of =>", n, line)
		case oneWay:
			for _, f := range lhs {
				rules = append(rules, Rule{From: f, To: rhs, Weight: weight})
			}
		case len(lhs) < 2:
			return nil, kefu.Errorf(kefu.EINVALID, "synonyms line %d: %q: a group needs at least two phrases separated by commas", n, line)
		default:
			for i, f := range lhs {
				others := make([]string, 0, len(lhs)-1)
				others = append(append(others, lhs[:i]...), lhs[i+1:]...)
				rules = append(rules, Rule{From: f, To: others, Weight: weight})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "synonyms: a line over %d bytes", maxRuleBytes)
	}
	return rules, nil
}

// phrases splits a side of a rule at commas (ASCII or full-width).
func phrases(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Lexicon is a compiled set of rules: analysed word sequences mapped to the
// words they also match. It is immutable and safe for concurrent use.
type Lexicon struct {
	rules  map[string][]expansion // key: the source words joined by "\x1f"
	maxSrc int                    // most words in a source
	size   int
}

type expansion struct {
	words  []string
	weight float64
	text   string // the phrase as the rule wrote it
}

// Len is the number of compiled rules.
func (l *Lexicon) Len() int {
	if l == nil {
		return 0
	}
	return l.size
}

// compileLexicon analyses each rule's phrases with a into words (the
// characters added beside Chinese words are left out) and keeps the rules
// whose both sides have words. The heaviest target wins when two rules
// give the same one.
func compileLexicon(a analysis.Analyzer, rules []Rule) *Lexicon {
	l := &Lexicon{rules: map[string][]expansion{}}
	for _, r := range rules {
		src := wordsOf(a, r.From)
		if len(src) == 0 || len(src) > maxRuleTerms || r.Weight <= 0 {
			continue
		}
		key := strings.Join(src, "\x1f")
		for _, t := range r.To {
			dst := wordsOf(a, t)
			if len(dst) == 0 || len(dst) > maxRuleTerms || strings.Join(dst, "\x1f") == key {
				continue
			}
			l.add(key, expansion{words: dst, weight: r.Weight, text: t})
		}
		l.maxSrc = max(l.maxSrc, len(src))
	}
	return l
}

func (l *Lexicon) add(key string, e expansion) {
	list := l.rules[key]
	for i, o := range list {
		if slicesEqual(o.words, e.words) {
			list[i].weight = max(o.weight, e.weight)
			return
		}
	}
	l.rules[key] = append(list, e)
	l.size++
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wordsOf returns the words a makes of text, without the marked characters.
func wordsOf(a analysis.Analyzer, text string) []string {
	var out []string
	for _, t := range a.Analyze([]byte(text)) {
		if !strings.HasPrefix(string(t.Term), bigramMark) {
			out = append(out, string(t.Term))
		}
	}
	return out
}

// String describes the lexicon for logs.
func (l *Lexicon) String() string { return fmt.Sprintf("lexicon(%d rules)", l.Len()) }

//go:embed lexicon/customer_service.txt
var builtinLexicon string

//go:embed lexicon/bilingual.txt
var bilingualLexicon string

//go:embed lexicon/equivalents.txt
var equivalentsLexicon string

// embeddedRules parses an embedded lexicon once, on first use, and keeps
// what keep makes of its rules.
func embeddedRules(text string, keep func([]Rule) []Rule) func() []Rule {
	return sync.OnceValue(func() []Rule {
		rules, err := ParseSynonyms(text, 1)
		if err != nil {
			panic(err) // embedded at build time and tested
		}
		return keep(rules)
	})
}

func asParsed(rules []Rule) []Rule { return rules }

var (
	builtinRules    = embeddedRules(builtinLexicon, asParsed)
	equivalentRules = embeddedRules(equivalentsLexicon, asParsed)
	bilingualRules  = embeddedRules(bilingualLexicon, crossLanguage)
)

// BuiltinSynonyms returns the rules of the built-in customer-service
// lexicon (lexicon/customer_service.txt) with the given weight.
func BuiltinSynonyms(weight float64) []Rule { return withWeight(builtinRules(), weight) }

// EquivalentSynonyms returns the rules of the built-in groups of words
// that mean the same thing (lexicon/equivalents.txt: 退钱 and 退款, 咋 and
// 怎么) with the given weight.
func EquivalentSynonyms(weight float64) []Rule { return withWeight(equivalentRules(), weight) }

// BilingualSynonyms returns the rules of the built-in Chinese ↔ English
// customer-service lexicon (lexicon/bilingual.txt) with the given weight.
// Each rule leads from a phrase in one script only to the phrases of its
// line in the other (see crossLanguage).
func BilingualSynonyms(weight float64) []Rule { return withWeight(bilingualRules(), weight) }

func withWeight(src []Rule, weight float64) []Rule {
	out := make([]Rule, len(src))
	for i, r := range src {
		out[i] = Rule{From: r.From, To: r.To, Weight: weight}
	}
	return out
}

// crossLanguage keeps, of each rule, the targets written in the other
// script than its source (Han against the rest), and drops the rules left
// with none. A line of the bilingual lexicon thus links its Chinese phrases
// to its English ones without making the phrases of one language synonyms
// of each other: that is customer_service.txt's business, whose one-way
// choices (碎了 => 质量问题, cracked => damaged) would otherwise be undone.
func crossLanguage(rules []Rule) []Rule {
	var out []Rule
	for _, r := range rules {
		var to []string
		for _, t := range r.To {
			if text.HasHan(t) != text.HasHan(r.From) {
				to = append(to, t)
			}
		}
		if len(to) > 0 {
			out = append(out, Rule{From: r.From, To: to, Weight: r.Weight})
		}
	}
	return out
}
