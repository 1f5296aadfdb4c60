package keyword

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	unitok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/go-porterstemmer"
	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"
	"github.com/go-ego/gse"
	"golang.org/x/text/unicode/norm"

	"github.com/kefu-dev/kefu/internal/text"
)

// Names under which the analysis components are registered with bleve.
const (
	// AnalyzerWords is the default analyzer: NFKC folding (full-width to
	// half-width), Unicode word boundaries, gse word segmentation of Han runs
	// (accurate mode without HMM) plus each Han character as a marked term of
	// its own, lower-casing, English possessives, English and Chinese stop
	// words and Snowball (Porter2) stemming of Latin words. The characters
	// give partial credit where gse cuts the same phrase differently in a
	// question and in its FAQ (afqmc_faq_zh train nDCG@10 0.2099 → 0.2333).
	AnalyzerWords = "kefu_words"
	// AnalyzerBigram is AnalyzerWords with overlapping character bigrams for
	// Han runs instead of words; the baseline gse must beat.
	AnalyzerBigram = "kefu_bigram"

	CharFilterFold  = "kefu_fold"       // NFKC: full-width → half-width, compatibility forms
	TokenizerWords  = "kefu_gse"        // Unicode words; Han runs cut into words by gse
	TokenizerBigram = "kefu_cjk_bigram" // Unicode words; Han runs cut into character bigrams
	FilterStop      = "kefu_stop"       // English (Snowball list) and Chinese stop words
	FilterStem      = "kefu_stem"       // Snowball or Porter stemming of tokens with Latin letters only
)

// hanMode says how a run of Han characters becomes tokens.
type hanMode string

const (
	hanDAG      hanMode = "dag"       // gse accurate mode (DAG + HMM for unknown words)
	hanDAGNoHMM hanMode = "dag_nohmm" // gse accurate mode without HMM
	hanSearch   hanMode = "search"    // gse search mode (no HMM): words plus their dictionary sub-words
	hanBigram   hanMode = "bigram"    // overlapping character bigrams
	// hanWordsBigrams is gse accurate mode without HMM plus the run's
	// overlapping character bigrams as terms of their own (marked with
	// bigramMark, so the bigram 多久 and the word 多久 count apart). The
	// bigrams catch paraphrases the words miss when gse cuts a phrase
	// differently in the question and in the FAQ (钱多久能退回来 → 能退 | 回来,
	// 退款多久能到账 → 能 | 到账: no shared word but 多久; shared bigrams 多久, 久能).
	hanWordsBigrams hanMode = "dag_nohmm+bigram"
	hanWordsChars   hanMode = "dag_nohmm+char"        // words plus single characters (the default)
	hanWordsAll     hanMode = "dag_nohmm+char+bigram" // words, characters and bigrams (measured only)
)

// bigramMark prefixes the character and bigram terms added to the words.
// U+00A6 is a symbol the word tokenizer never keeps, so no word can look
// like one, and the word 多久 and the characters 多, 久 count apart.
const bigramMark = "¦"

// analyzerConfig describes one analyzer; the registered analyzers are fixed
// configurations, tests build others to measure the alternatives.
type analyzerConfig struct {
	Han     hanMode
	StopZh  bool   // remove zhStopWords
	Stemmer string // "porter", "snowball" or "" for none
}

// Default configurations, chosen by the measurements in quality_test.go.
var (
	wordsConfig  = analyzerConfig{Han: hanWordsChars, StopZh: true, Stemmer: "snowball"}
	bigramConfig = analyzerConfig{Han: hanBigram, StopZh: true, Stemmer: "snowball"}
)

// zhStopWords are Chinese function words and particles. The list is short on
// purpose: question words (怎么, 如何, 多少) carry meaning in FAQ matching.
var zhStopWords = strings.Fields(`
的 了 吗 呢 吧 啊 呀 嘛 哦 么 之 其 着 过 地 得 和 与 及 或 就 都 也 又 而
是 在 有 我 你 您 他 她 它 我们 你们 他们 这 那 这个 那个 一个 请问 您好 你好
`)

func newStopMap() analysis.TokenMap {
	m := analysis.NewTokenMap()
	// LoadBytes parses the Snowball list format (| comments) bleve ships.
	if err := m.LoadBytes(en.EnglishStopWords); err != nil {
		panic(err) // the embedded list is constant
	}
	return m
}

var (
	stopEn = newStopMap()
	stopZh = func() analysis.TokenMap {
		m := analysis.NewTokenMap()
		for _, w := range zhStopWords {
			m.AddToken(w)
		}
		return m
	}()
)

// foldFilter is the NFKC char filter, then Traditional → Simplified Chinese
// (text.Simplify). NFKC maps full-width Latin letters, digits and punctuation
// to ASCII and compatibility forms (①, ﬁ) to plain ones; case is folded
// later by the lower-case token filter. Invalid UTF-8 becomes U+FFFD first:
// the word segmenter would otherwise glue it to its neighbours, spaces
// included.
type foldFilter struct{}

func (foldFilter) Filter(input []byte) []byte {
	if isASCII(input) {
		return input
	}
	if !utf8.Valid(input) {
		input = bytes.ToValidUTF8(input, []byte("\uFFFD"))
	}
	return text.Simplify(norm.NFKC.Bytes(input))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// mixedTokenizer splits text at Unicode word boundaries (bleve's unicode
// tokenizer, which handles Latin words, numbers and apostrophes) and hands
// each run of adjacent ideographs, which that tokenizer yields one character
// at a time, to gse or to the bigram cutter. Mixed zh/en text thus gets
// words in both scripts from one field.
type mixedTokenizer struct {
	mode hanMode
	uni  *unitok.UnicodeTokenizer
	seg  func() (*gse.Segmenter, error) // nil: the shared segmenter
}

func (t *mixedTokenizer) Tokenize(input []byte) analysis.TokenStream {
	toks := t.uni.Tokenize(input)
	out := make(analysis.TokenStream, 0, len(toks))
	pos := 1
	for i := 0; i < len(toks); {
		tok := toks[i]
		if tok.Type != analysis.Ideographic {
			tok.Position = pos
			pos++
			out = append(out, tok)
			i++
			continue
		}
		j := i + 1
		for j < len(toks) && toks[j].Type == analysis.Ideographic && toks[j].Start == toks[j-1].End {
			j++
		}
		start, end := toks[i].Start, toks[j-1].End
		out, pos = t.cutHan(out, pos, input[start:end], start)
		i = j
	}
	return out
}

func (t *mixedTokenizer) cutHan(out analysis.TokenStream, pos int, run []byte, offset int) (analysis.TokenStream, int) {
	emit := func(term []byte, start int) {
		out = append(out, &analysis.Token{
			Term: term, Start: offset + start, End: offset + start + len(term),
			Position: pos, Type: analysis.Ideographic,
		})
		pos++
	}
	bigrams := func(mark string) {
		for i := 0; i < len(run); {
			_, n1 := utf8.DecodeRune(run[i:])
			if i+n1 >= len(run) {
				break
			}
			_, n2 := utf8.DecodeRune(run[i+n1:])
			emit(append([]byte(mark), run[i:i+n1+n2]...), i)
			i += n1
		}
	}
	if t.mode == hanBigram {
		if utf8.RuneCount(run) == 1 {
			emit(run, 0)
			return out, pos
		}
		bigrams("")
		return out, pos
	}
	out, pos = t.cutWords(out, pos, run, offset)
	switch t.mode {
	case hanWordsBigrams:
		bigrams(bigramMark)
	case hanWordsChars, hanWordsAll:
		for i := 0; i < len(run); {
			_, n := utf8.DecodeRune(run[i:])
			emit(append([]byte(bigramMark), run[i:i+n]...), i)
			i += n
		}
		if t.mode == hanWordsAll {
			bigrams(bigramMark)
		}
	}
	return out, pos
}

// cutWords cuts a Han run into words with gse.
func (t *mixedTokenizer) cutWords(out analysis.TokenStream, pos int, run []byte, offset int) (analysis.TokenStream, int) {
	emit := func(term []byte, start int) {
		out = append(out, &analysis.Token{
			Term: term, Start: offset + start, End: offset + start + len(term),
			Position: pos, Type: analysis.Ideographic,
		})
		pos++
	}
	getSeg := t.seg
	if getSeg == nil {
		getSeg = segmenter
	}
	s, err := getSeg()
	if err != nil {
		// The dictionary is embedded in the binary, so this cannot happen
		// short of memory corruption; fall back to single characters.
		for i := 0; i < len(run); {
			_, n := utf8.DecodeRune(run[i:])
			emit(run[i:i+n], i)
			i += n
		}
		return out, pos
	}
	var words []string
	switch t.mode {
	case hanSearch:
		words = s.CutSearch(string(run), false)
	case hanDAGNoHMM, hanWordsBigrams, hanWordsChars, hanWordsAll:
		words = s.Cut(string(run), false)
	default:
		words = s.Cut(string(run), true)
	}
	at := 0
	for _, w := range words {
		if w == "" {
			continue
		}
		// Accurate modes return consecutive pieces of the run; search mode
		// adds sub-words, which get the offset of the word they came from.
		start := at
		if strings.HasPrefix(string(run[at:]), w) {
			at += len(w)
		}
		emit([]byte(w), start)
	}
	return out, pos
}

// lowerFilter lower-cases tokens. It replaces bleve's to_lower, which
// corrupts a token when a rune's lower case is shorter in UTF-8 (İ → i)
// and a rune follows: it stops copying the rest into place.
type lowerFilter struct{}

func (lowerFilter) Filter(input analysis.TokenStream) analysis.TokenStream {
	for _, tok := range input {
		tok.Term = lower(tok.Term)
	}
	return input
}

// lower returns b lower-cased, in place for ASCII, untouched (no copy) when
// nothing changes, as for Han words.
func lower(b []byte) []byte {
	if isASCII(b) {
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return b
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if unicode.ToLower(r) != r {
			return bytes.ToLower(b)
		}
		i += n
	}
	return b
}

// stopFilter drops English and, when configured, Chinese stop words.
type stopFilter struct{ zh bool }

func (f stopFilter) Filter(input analysis.TokenStream) analysis.TokenStream {
	out := input[:0]
	for _, tok := range input {
		if tok.Type == analysis.Ideographic {
			// Marked characters stay, stop words included: dropping them
			// measured worse (afqmc train 0.2333 → 0.2302).
			if f.zh && stopZh[string(tok.Term)] {
				continue
			}
		} else if stopEn[string(tok.Term)] {
			continue
		}
		out = append(out, tok)
	}
	return out
}

// stemFilter stems tokens that contain a Latin letter and leaves Han words,
// numbers and other scripts alone (the stemmers would otherwise strip
// suffixes off romanised fragments inside them).
type stemFilter struct{ snowball bool }

func (f stemFilter) Filter(input analysis.TokenStream) analysis.TokenStream {
	for _, tok := range input {
		if tok.Type == analysis.Ideographic || !hasLatinLetter(tok.Term) {
			continue
		}
		if f.snowball {
			env := snowballstem.NewEnv(string(tok.Term))
			english.Stem(env)
			tok.Term = []byte(env.Current())
		} else {
			tok.Term = analysis.BuildTermFromRunes(porterstemmer.StemWithoutLowerCasing(bytes.Runes(tok.Term)))
		}
	}
	return input
}

func hasLatinLetter(b []byte) bool {
	for _, c := range b {
		if c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

// newAnalyzer builds the analyzer of cfg.
func newAnalyzer(cfg analyzerConfig) (analysis.Analyzer, error) {
	switch cfg.Han {
	case hanDAG, hanDAGNoHMM, hanSearch, hanBigram, hanWordsBigrams, hanWordsChars, hanWordsAll:
	default:
		return nil, fmt.Errorf("keyword: unknown Han mode %q", cfg.Han)
	}
	filters := []analysis.TokenFilter{
		lowerFilter{},
		en.NewPossessiveFilter(),
		stopFilter{zh: cfg.StopZh},
	}
	switch cfg.Stemmer {
	case "porter":
		filters = append(filters, stemFilter{})
	case "snowball":
		filters = append(filters, stemFilter{snowball: true})
	case "":
	default:
		return nil, fmt.Errorf("keyword: unknown stemmer %q", cfg.Stemmer)
	}
	return &analysis.DefaultAnalyzer{
		CharFilters:  []analysis.CharFilter{foldFilter{}},
		Tokenizer:    &mixedTokenizer{mode: cfg.Han, uni: unitok.NewUnicodeTokenizer()},
		TokenFilters: filters,
	}, nil
}

func init() {
	analyzer := func(cfg analyzerConfig) registry.AnalyzerConstructor {
		return func(map[string]any, *registry.Cache) (analysis.Analyzer, error) { return newAnalyzer(cfg) }
	}
	tokenizer := func(mode hanMode) registry.TokenizerConstructor {
		return func(config map[string]any, _ *registry.Cache) (analysis.Tokenizer, error) {
			m := mode
			if v, ok := config["mode"].(string); ok && mode != hanBigram {
				m = hanMode(v)
			}
			switch m {
			case hanDAG, hanDAGNoHMM, hanSearch, hanBigram, hanWordsBigrams, hanWordsChars, hanWordsAll:
			default:
				return nil, fmt.Errorf("keyword: unknown Han mode %q", m)
			}
			return &mixedTokenizer{mode: m, uni: unitok.NewUnicodeTokenizer()}, nil
		}
	}
	must(registry.RegisterCharFilter(CharFilterFold, func(map[string]any, *registry.Cache) (analysis.CharFilter, error) {
		return foldFilter{}, nil
	}))
	must(registry.RegisterTokenizer(TokenizerWords, tokenizer(wordsConfig.Han)))
	must(registry.RegisterTokenizer(TokenizerBigram, tokenizer(hanBigram)))
	must(registry.RegisterTokenFilter(FilterStop, func(config map[string]any, _ *registry.Cache) (analysis.TokenFilter, error) {
		zh, ok := config["zh"].(bool)
		return stopFilter{zh: zh || !ok}, nil
	}))
	must(registry.RegisterTokenFilter(FilterStem, func(config map[string]any, _ *registry.Cache) (analysis.TokenFilter, error) {
		s, _ := config["stemmer"].(string)
		return stemFilter{snowball: s != "porter"}, nil
	}))
	must(registry.RegisterAnalyzer(AnalyzerWords, analyzer(wordsConfig)))
	must(registry.RegisterAnalyzer(AnalyzerBigram, analyzer(bigramConfig)))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

var defaultAnalyzer = func() analysis.Analyzer {
	a, err := newAnalyzer(wordsConfig)
	must(err)
	return a
}()

// Terms returns the terms AnalyzerWords makes of text, in order and with
// repeats: what an index with the default analyzer stores of that text.
func Terms(text string) []string { return terms(defaultAnalyzer, text) }

func terms(a analysis.Analyzer, text string) []string {
	toks := a.Analyze([]byte(text))
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = string(t.Term)
	}
	return out
}
