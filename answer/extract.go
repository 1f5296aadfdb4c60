package answer

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
)

// Extractive answers are made of at most this many sentences, from the top
// extractChunks pieces of evidence, and at most extractRunes long.
const (
	extractChunks    = 3
	extractSentences = 3
	extractRunes     = 600
	snippetRunes     = 200
	maxChunkRunes    = 20000 // longer chunk texts are cut before sentence splitting
)

// Stop words are left out of query terms: they match every sentence.
var (
	enStop = toSet("a an and are as at be but by can could did do does for from had has have how i if in into is it its me my no not of on or our so than that the their them then there these they this to too us was we were what when where which who why will with would you your")
	zhStop = toSet("怎么 什么 如何 为什么 多少 哪些 哪里 可以 能不 不能 我的 我们 你们 请问 一下 是不 是否 有没 没有 的话")
)

func toSet(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// terms returns the distinct terms of s used to score sentence overlap:
// lower-cased words of space-delimited scripts (stop words and one-letter
// words dropped, a plural "s" stripped) and the overlapping character
// bigrams of Chinese runs (a one-character run counts as itself). Bigrams
// stand in for word segmentation, which the keyword index does properly:
// here they only rank a handful of sentences.
func terms(s string) map[string]bool {
	out := make(map[string]bool)
	s = fold(s)
	var word, han []rune
	flushWord := func() {
		if len(word) > 1 {
			w := string(word)
			if !enStop[w] {
				if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
					w = w[:len(w)-1]
				}
				out[w] = true
			}
		}
		word = word[:0]
	}
	flushHan := func() {
		if len(han) == 1 {
			out[string(han)] = true
		}
		for i := 0; i+1 < len(han); i++ {
			if bg := string(han[i : i+2]); !zhStop[bg] {
				out[bg] = true
			}
		}
		han = han[:0]
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case isWordRune(r):
			flushHan()
			word = append(word, r)
		default:
			flushWord()
			flushHan()
		}
	}
	flushWord()
	flushHan()
	return out
}

// sentence is a candidate for an extractive answer.
type sentence struct {
	text  string
	n     int // evidence number, 1-based
	pos   int // position in its chunk
	score int
}

// extract builds an extractive answer from the first pieces of evidence:
// the sentences sharing the most terms with the query, and those sharing at
// least half as many (ties go to the better ranked evidence, then to the
// earlier sentence), shown in evidence order,
// each group followed by its citation [n]. When no sentence shares a term,
// the opening sentences of the top evidence are used: the retriever ranked it
// first. It returns the text and the evidence numbers cited.
func extract(query string, ev []kefu.Hit, lang string) (string, []int) {
	q := terms(query)
	var cands []sentence
	for i, h := range ev {
		if i >= extractChunks {
			break
		}
		for j, s := range splitSentences(h.Chunk.Text) {
			sc := 0
			for t := range terms(s) {
				if q[t] {
					sc++
				}
			}
			cands = append(cands, sentence{text: s, n: i + 1, pos: j, score: sc})
		}
	}
	if len(cands) == 0 {
		return "", nil
	}
	picked := make([]sentence, 0, extractSentences)
	byScore := append([]sentence(nil), cands...)
	sort.SliceStable(byScore, func(a, b int) bool { return byScore[a].score > byScore[b].score })
	if byScore[0].score == 0 {
		// No overlap: the top evidence's opening sentences.
		for _, c := range cands {
			if c.n == 1 && len(picked) < 2 {
				picked = append(picked, c)
			}
		}
	} else {
		runes, cut := 0, (byScore[0].score+1)/2
		for _, c := range byScore {
			if c.score < cut || len(picked) >= extractSentences {
				break
			}
			l := utf8.RuneCountInString(c.text)
			if len(picked) > 0 && runes+l > extractRunes {
				continue
			}
			runes += l
			picked = append(picked, c)
		}
	}
	sort.Slice(picked, func(a, b int) bool {
		if picked[a].n != picked[b].n {
			return picked[a].n < picked[b].n
		}
		return picked[a].pos < picked[b].pos
	})
	var b strings.Builder
	var cited []int
	sep := " "
	if lang == "zh" {
		sep = ""
	}
	for i, s := range picked {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s.text)
		if i == len(picked)-1 || picked[i+1].n != s.n {
			if r, _ := utf8.DecodeLastRuneInString(s.text); r < utf8.RuneSelf {
				b.WriteByte(' ')
			}
			b.WriteString("[" + strconv.Itoa(s.n) + "]")
			cited = append(cited, s.n)
		}
	}
	return b.String(), cited
}

// splitSentences cuts a chunk's text into trimmed, non-empty sentences.
func splitSentences(s string) []string {
	s = truncateRunes(s, maxChunkRunes)
	var out []string
	for _, sent := range sentences(s) {
		if sent = strings.TrimSpace(sent); sent != "" {
			out = append(out, sent)
		}
	}
	return out
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// snippet is the start of a chunk's text as shown with a citation.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	t := truncateRunes(s, snippetRunes)
	if len(t) < len(s) {
		t += "…"
	}
	return t
}

// citations lists the cited evidence, in the order of nums.
func citations(hits []kefu.Hit, nums []int) []kefu.Citation {
	out := make([]kefu.Citation, 0, len(nums))
	for _, n := range nums {
		if n < 1 || n > len(hits) {
			continue
		}
		c := hits[n-1].Chunk
		out = append(out, kefu.Citation{N: n, DocID: c.DocID, ChunkID: c.ID, Title: c.Title, URL: c.URL, Snippet: snippet(c.Text)})
	}
	return out
}
