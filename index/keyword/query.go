package keyword

import (
	_ "embed"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// charWeight is the weight in the query of a character indexed beside a
// Chinese word (TermPart), where the word itself weighs 1. The characters
// are there for a word cut differently in the query and in the KB (退回来
// and 退回); at full weight the scattered characters of a short colloquial
// query (小 and 大 of 衣服小了能换大一号不) outweigh its words in any long
// answer that happens to hold them (小时, 大促). At half weight a
// character still counts where the word is missing, but backs the word up
// rather than counting as another word. Measured: shop_dev right 0.868 →
// 0.872, mrr@10 0.933 → 0.937; afqmc_faq_zh BM25 nDCG@10 0.2420 → 0.2434.
const charWeight = 0.5

// funcCharWeight is the weight in the query of a question character or
// particle (哪, 吗, 么…: lexicon/function_chars.txt) indexed beside a word.
// It says nothing of the topic; at charWeight the 哪 of a short query drew
// it to the one short FAQ question that holds 哪. Measured (EVAL.md, tenth
// round): shop_dev recall@1 0.905 → 0.908, afqmc_faq_zh BM25 nDCG@10
// 0.2434 → 0.2436.
const funcCharWeight = 0.1

//go:embed lexicon/function_chars.txt
var functionCharsFile string

// functionChars are the characters of lexicon/function_chars.txt, each
// with bigramMark as the analyzer indexes it.
var functionChars = func() map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(functionCharsFile) {
		line, _, _ = strings.Cut(line, "#")
		for _, c := range strings.Fields(line) {
			m[bigramMark+c] = true
		}
	}
	return m
}()

// queryTerm is a distinct analysed query term and its weight in the query.
type queryTerm struct {
	term    string
	surface string  // as the query (or the rule) wrote it
	qtf     float64 // occurrences for words and characters; the rule's weight for synonyms
	kind    kefu.TermKind
	of      []int   // characters and synonyms: the words (indexes in the term list) they stand for
	fn      bool    // a function word (see functionWords)
	spec    float64 // words: kefu.QueryTerm.Specificity
	src     []int   // synonyms from the lexicon: the query words the rule's source matched (see translations)
	phrases [][]int // words: the synonyms of several words added for it, as their terms' indexes
}

// counted reports whether the term counts in Hit.Matched and Hit.Head:
// the query's own terms do, the synonyms rules added do not.
func (q *queryTerm) counted() bool { return q.kind != kefu.TermSynonym }

// queryTerms analyses query with the index's analyzer: its distinct words
// in order, then the characters indexed beside Chinese words, then the
// words the index's lexicon adds for them. At most MaxQueryTerms in all.
func (ix *Index) queryTerms(query string) []queryTerm {
	if len(query) > MaxQueryBytes {
		cut := MaxQueryBytes
		for cut > 0 && !utf8.RuneStart(query[cut]) {
			cut--
		}
		query = query[:cut]
	}
	text, toks := analyzeKeepingText(ix.analyzer, []byte(query))
	at := make(map[string]int, len(toks))
	var out []queryTerm
	add := func(term, surface string, kind kefu.TermKind, w float64) int {
		if i, ok := at[term]; ok {
			if kind == kefu.TermSynonym {
				if out[i].kind == kefu.TermSynonym {
					out[i].qtf = max(out[i].qtf, w)
				}
			} else {
				out[i].qtf += w
			}
			return i
		}
		if len(out) == MaxQueryTerms {
			return -1
		}
		at[term] = len(out)
		out = append(out, queryTerm{term: term, surface: surface, qtf: w, kind: kind})
		return len(out) - 1
	}
	type span struct{ start, end, term int }
	var words []span // word tokens in order, with their byte spans
	for _, t := range toks {
		if strings.HasPrefix(string(t.Term), bigramMark) {
			continue
		}
		i := add(string(t.Term), surface(text, t), kefu.TermWord, 1)
		if i >= 0 {
			words = append(words, span{t.Start, t.End, i})
			out[i].fn = isFunctionWord(out[i].term)
			out[i].spec = specificity(out[i].term)
		}
	}
	for _, t := range toks {
		if !strings.HasPrefix(string(t.Term), bigramMark) {
			continue
		}
		w := charWeight
		if functionChars[string(t.Term)] {
			w = funcCharWeight
		}
		i := add(string(t.Term), surface(text, t), kefu.TermPart, w)
		if i < 0 || out[i].kind != kefu.TermPart {
			continue
		}
		for _, w := range words {
			if w.start <= t.Start && t.Start < w.end {
				out[i].of = appendOnce(out[i].of, w.term)
				break
			}
		}
	}
	lex := ix.lexicon.Load()
	if lex == nil || lex.Len() == 0 {
		return out
	}
	added := 0
	matched := make([]bool, len(words)) // a rule's source holds the word
	// expand adds the synonyms of the rules whose source is key, for the
	// n words from words[p].
	expand := func(p, n int, key string) bool {
		for _, e := range lex.rules[key] {
			for j := range n {
				matched[p+j] = true
			}
			var phrase []int // the terms of a synonym of several words
			for _, w := range e.words {
				if j, ok := at[w]; ok && out[j].kind != kefu.TermSynonym {
					phrase = append(phrase, j)
					continue // the query has it already
				}
				if added == maxExpansions {
					return false
				}
				i := add(w, e.text, kefu.TermSynonym, e.weight)
				if i < 0 {
					return false
				}
				added++
				phrase = append(phrase, i)
				for j := range n {
					out[i].src = appendOnce(out[i].src, words[p+j].term)
				}
				// A synonym stands for the words it replaces only when it
				// is a whole phrase of one content word: one word of a
				// longer phrase (一起 of 一起用), or a function word (用),
				// found in a chunk does not mean the chunk says the same.
				if len(e.words) == 1 && !isFunctionWord(w) {
					for j := range n {
						out[i].of = appendOnce(out[i].of, words[p+j].term)
					}
				}
			}
			// A phrase stands for them as a whole: a chunk holding all
			// its words (质量 and 问题 of 质量问题) says what they say.
			if len(e.words) > 1 && len(phrase) == len(e.words) {
				for j := range n {
					w := &out[words[p+j].term]
					w.phrases = append(w.phrases, phrase)
				}
			}
		}
		return true
	}
	for p := range words {
		for n := min(lex.maxSrc, len(words)-p); n >= 1; n-- {
			src := make([]string, n)
			for j := range n {
				src[j] = out[words[p+j].term].term
			}
			if !expand(p, n, strings.Join(src, "\x1f")) {
				return out
			}
		}
	}
	// A Chinese word no rule knows takes the rules of its ending (ruleEnding).
	for p, w := range words {
		if matched[p] {
			continue
		}
		if end := ruleEnding(lex, out[w.term].term); end != "" && !expand(p, 1, end) {
			return out
		}
	}
	return out
}

// ruleEnding returns the longest ending, of two characters or more, of a
// Chinese word of three or more that names a rule of lex ("" when none):
// gse cuts 出毛病 as one word, and the lexicon knows 毛病. Only an ending:
// the last part of a Chinese compound is its head (智能 of 人工智能,
// artificial intelligence, which is no 人工 human agent) or, in a verb and
// its object (出毛病), what it is about.
func ruleEnding(lex *Lexicon, word string) string {
	if utf8.RuneCountInString(word) < 3 || !text.HasHan(word) {
		return ""
	}
	_, i := utf8.DecodeRuneInString(word)
	for utf8.RuneCountInString(word[i:]) >= 2 {
		if len(lex.rules[word[i:]]) > 0 {
			return word[i:]
		}
		_, n := utf8.DecodeRuneInString(word[i:])
		i += n
	}
	return ""
}

// analyzeKeepingText analyses input with a and returns the text after the
// char filters too, into which the tokens' offsets point (for their surface
// forms).
func analyzeKeepingText(a analysis.Analyzer, input []byte) ([]byte, analysis.TokenStream) {
	da, ok := a.(*analysis.DefaultAnalyzer)
	if !ok {
		toks := a.Analyze(input)
		for _, t := range toks {
			if t.End > len(input) {
				return nil, toks // offsets into text we cannot see: no surfaces
			}
		}
		return input, toks
	}
	for _, cf := range da.CharFilters {
		input = cf.Filter(input)
	}
	toks := da.Tokenizer.Tokenize(input)
	for _, tf := range da.TokenFilters {
		toks = tf.Filter(toks)
	}
	return input, toks
}

func appendOnce(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// functionWords are words that carry no topic of their own: question words,
// pronouns, modal verbs, fillers and greetings, in Chinese and English. They
// still count for ranking; the answerability features leave them out when
// they weigh what a query is about. Words that ask for a slot (多久, 多少钱,
// 什么时候, long, much) are not in the list: they tell "how long does a
// refund take" from "how do I get a refund".
var functionWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
怎么 怎样 怎么样 怎么办 如何 什么 为什么 为啥 咋 咋办 啥 哪 哪里 哪儿 哪些 哪个 是否 是不是
能 能否 能不能 可以 可不可以 可否 行 行不行 要 想 想要 需要 应该 得 会 还 还是 没 没有 不 别
一下 一般 请 请问 麻烦 帮 帮忙 帮我 谢谢 你好 您好 嗯 哈 呀 喂 亲 在吗
我 我们 你 你们 您 他 她 它 自己 大家 人家
现在 已经 刚 刚刚 刚才 就 都 也 又 再 才 先 很 太 非常 真的 其实 到底 究竟
这 那 这个 那个 这样 那样 这里 那里 个 些 点 一点 有点
办 弄 搞 整 做 操作 用 给 让 把 被 对 跟 从 向 该
哪家 哪种 哪位 啥样 咋样 怎么样`) {
		m[w] = true
	}
	// English words as the analyzer stems them.
	for _, w := range strings.Fields(`
can could would should shall may might must will want need please tell know let
hi hello hey thanks thank ok okay just still yet also really actually help
anyone someone something anything thing stuff guys
keep keeps kept say says saying said
ugh oh hmm lol pls plz dont wont cant didnt doesnt isnt wasnt
already again anymore instead ever even maybe`) {
		env := snowballstem.NewEnv(w)
		english.Stem(env)
		m[env.Current()] = true
	}
	return m
}()

// isFunctionWord reports whether term is a function word, or a Chinese word
// the segmenter glued together from function words alone (能用, 先用,
// 怎样才能, 不想): it says no more than they do.
func isFunctionWord(term string) bool {
	if functionWords[term] {
		return true
	}
	if !text.HasHan(term) || utf8.RuneCountInString(term) < 2 || utf8.RuneCountInString(term) > 6 {
		return false
	}
	return gluedFunctionWords(term)
}

// gluedFunctionWords reports whether s splits wholly into function words.
func gluedFunctionWords(s string) bool {
	if s == "" {
		return true
	}
	for i := len(s); i > 0; i-- {
		if i < len(s) && !utf8.RuneStart(s[i]) {
			continue
		}
		if functionWords[s[:i]] && gluedFunctionWords(s[i:]) {
			return true
		}
	}
	return false
}

// surface is a token as the text wrote it, or its term when the offsets do
// not fit the text. A marked character's offsets span the mark too.
func surface(text []byte, t *analysis.Token) string {
	if c, ok := strings.CutPrefix(string(t.Term), bigramMark); ok {
		return c
	}
	if t.Start < 0 || t.End > len(text) || t.Start > t.End {
		return string(t.Term)
	}
	return string(text[t.Start:t.End])
}
