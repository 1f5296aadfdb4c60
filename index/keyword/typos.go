package keyword

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	segment "github.com/blevesearch/scorch_segment_api/v2"
	"github.com/blevesearch/vellum"
	lev "github.com/blevesearch/vellum/levenshtein"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/mozillazg/go-pinyin"

	"github.com/kefu-dev/kefu"
)

// Typo correction: a query word the KB does not hold gets, as synonyms, the
// KB's words that it may be a misspelling of. In Latin script, those within
// one edit (two for words of eight letters or more, a transposition
// counting as one), found with a Levenshtein automaton over the terms
// dictionaries (the machinery of bleve's fuzzy queries). In Chinese, where
// people type with a pinyin input method and pick the wrong character of
// the right sound (退宽 for 退款, 快第 for 快递), the KB's words that sound
// the same (toneless pinyin), looked up in a pinyin index of the KB's
// vocabulary built when the index changes.

// Bounds of typo correction.
const (
	typoWeight     = 0.5 // weight of a correction, as for a synonym
	maxCorrections = 3   // corrections per query word
	minTypoRunes   = 4   // shorter Latin words are not corrected
	maxHanWindow   = 4   // longest Chinese run looked up by sound
)

var (
	levOnce    sync.Once
	lev1, lev2 *lev.LevenshteinAutomatonBuilder
	levErr     error
	pinyinArgs = pinyin.NewArgs() // toneless, first reading; read-only
)

func levBuilders() (*lev.LevenshteinAutomatonBuilder, *lev.LevenshteinAutomatonBuilder, error) {
	levOnce.Do(func() {
		if lev1, levErr = lev.NewLevenshteinAutomatonBuilder(1, true); levErr == nil {
			lev2, levErr = lev.NewLevenshteinAutomatonBuilder(2, true)
		}
	})
	return lev1, lev2, levErr
}

// soundOf returns the toneless pinyin of a Chinese text, syllables joined
// by spaces, or "" when a rune has none.
func soundOf(s string) string {
	parts := make([]string, 0, utf8.RuneCountInString(s))
	for _, r := range s {
		p := pinyin.SinglePinyin(r, pinyinArgs)
		if len(p) == 0 || p[0] == "" {
			return ""
		}
		parts = append(parts, p[0])
	}
	return strings.Join(parts, " ")
}

// soundIndex maps the sound of each Chinese word of the KB to the words.
type soundIndex struct {
	gen   uint64
	words map[string][]string
}

// sounds returns the pinyin index of the vocabulary of sn, rebuilding it
// when the index changed since it was built. It is labelled with sn's
// generation, not the index's now: warm builds it from a snapshot that
// writes may have passed while it decoded postings.
func (ix *Index) sounds(sn *snap) *soundIndex {
	gen := sn.gen
	if si := ix.soundIx.Load(); si != nil && si.gen == gen {
		return si
	}
	ix.soundMu.Lock()
	defer ix.soundMu.Unlock()
	if si := ix.soundIx.Load(); si != nil && si.gen == gen {
		return si
	}
	si := &soundIndex{gen: gen, words: map[string][]string{}}
	seen := map[string]bool{}
	for i := range sn.segs {
		for f := range textFields {
			d, err := sn.dict(i, f)
			if err != nil || d == nil {
				continue
			}
			for _, hr := range hanRanges {
				it := d.AutomatonIterator(&vellum.AlwaysMatch{}, []byte(hr[0]), []byte(hr[1]))
				for {
					e, err := it.Next()
					if err != nil || e == nil {
						break
					}
					w := e.Term
					if seen[w] || strings.HasPrefix(w, bigramMark) || !allHan(w) {
						continue
					}
					seen[w] = true
					if n := utf8.RuneCountInString(w); n < 2 || n > maxHanWindow {
						continue
					}
					if s := soundOf(w); s != "" {
						si.words[s] = append(si.words[s], w)
					}
				}
			}
		}
	}
	if cur := ix.soundIx.Load(); cur == nil || cur.gen <= gen {
		ix.soundIx.Store(si) // (an older snapshot's does not replace a newer one's)
	}
	return si
}

// hanRanges are the key ranges of the terms dictionaries that hold every
// word of Han characters with a reading: UTF-8 sorts as code points, so a
// word lies in the range of its first character's block (CJK radicals to
// the Unified Ideographs, the compatibility ideographs, the supplementary
// planes' extensions). The pinyin index reads only these, skipping the
// Latin words and marked bigrams that make most of a mixed vocabulary.
var hanRanges = [][2]string{{"\u2e80", "\ua000"}, {"\uf900", "\ufb00"}, {"\U00020000", "\U00032400"}}

func allHan(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	return s != ""
}

// vocab is what typo correction needs of a KB's terms: the index's
// snapshot (snapVocab), or a Vocabulary an external engine reports.
type vocab interface {
	held(term string) bool
	fuzzy(word string) []string  // Latin terms within edit distance, the most frequent first
	sounds() map[string][]string // toneless pinyin → the Chinese words of 2–4 characters
}

// snapVocab is the vocabulary of one snapshot of the index.
type snapVocab struct {
	ix   *Index
	sn   *snap
	s    *scratch
	mask uint8 // the fields of docFreqs' union: any will do; the scored ones share the search's cache entries
}

func (v snapVocab) held(term string) bool {
	st, err := v.sn.docFreqs(v.mask, []byte(term), v.s, nil)
	if err != nil {
		return false
	}
	for _, fp := range v.ix.searchedFields() {
		if st.field[fp.slot] > 0 {
			return true
		}
	}
	return false
}

func (v snapVocab) fuzzy(word string) []string  { return v.ix.fuzzy(v.sn, word) }
func (v snapVocab) sounds() map[string][]string { return v.ix.sounds(v.sn).words }

// corrections adds to qts, as synonyms, the corrections of the query words
// that the KB does not hold.
func corrections(v vocab, qts []queryTerm, query string) []queryTerm {
	held := v.held
	has := map[string]int{}
	for i, q := range qts {
		has[q.term] = i
	}
	add := func(term, surface string, of []int) []queryTerm {
		if j, ok := has[term]; ok {
			if qts[j].kind == kefu.TermSynonym {
				for _, w := range of {
					qts[j].of = appendOnce(qts[j].of, w)
				}
			}
			return qts
		}
		if len(qts) >= MaxQueryTerms {
			return qts
		}
		has[term] = len(qts)
		return append(qts, queryTerm{term: term, surface: surface, qtf: typoWeight, kind: kefu.TermSynonym, of: of})
	}
	var hanWords []int // unheld words of a Chinese run, in order
	for i := range qts {
		q := &qts[i]
		if q.kind != kefu.TermWord || q.fn || held(q.term) {
			continue
		}
		if allHan(q.term) {
			hanWords = append(hanWords, i)
			continue
		}
		for _, c := range v.fuzzy(q.term) {
			qts = add(c, c, []int{i})
		}
	}
	if len(hanWords) == 0 {
		return qts
	}
	// By sound: each window of the query's Chinese runs that is not a
	// word of the KB, looked up by its pinyin. A window must overlap an
	// unheld word.
	sounds := v.sounds()
	if len(sounds) == 0 {
		return qts
	}
	words := map[string]int{} // query word → index, for the windows' words
	for i, q := range qts {
		if q.kind == kefu.TermWord {
			words[q.surface] = i
		}
	}
	for _, run := range hanRuns(query) {
		rs := []rune(run)
		for a := 0; a < len(rs); a++ {
			for b := a + 2; b <= min(len(rs), a+maxHanWindow); b++ {
				win := string(rs[a:b])
				if held(win) {
					continue
				}
				var of []int
				unheld := false
				for _, wi := range hanWords {
					if strings.Contains(win, qts[wi].surface) || strings.Contains(qts[wi].surface, win) {
						of = appendOnce(of, wi)
						unheld = true
					}
				}
				if !unheld {
					continue
				}
				for w, i := range words {
					if strings.Contains(win, w) {
						of = appendOnce(of, i)
					}
				}
				cands := sounds[soundOf(win)]
				for k, c := range cands {
					if k == maxCorrections {
						break
					}
					if c != win {
						qts = add(c, c, of)
					}
				}
			}
		}
	}
	return qts
}

// hanRuns returns the runs of Chinese characters of a text, after the
// same folding as the analyzer's.
func hanRuns(s string) []string {
	text := string(foldFilter{}.Filter([]byte(s)))
	var out []string
	start := -1
	for i, r := range text {
		if unicode.Is(unicode.Han, r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, text[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, text[start:])
	}
	return out
}

// fuzzy returns up to maxCorrections terms of the text fields within edit
// distance of a Latin word, the most frequent first.
func (ix *Index) fuzzy(sn *snap, word string) []string {
	var mask uint8
	for f := range textFields {
		if ix.weights[f] > 0 {
			mask |= 1 << f
		}
	}
	var dfa *lev.DFA
	counts := map[string]uint64{}
	for i := range sn.segs {
		k := fuzzyKey{seg: sn.segs[i].ss.Segment(), fields: mask, word: word}
		near, ok := fuzzyCache.Get(k)
		if !ok {
			if dfa == nil {
				if dfa = typoDFA(word); dfa == nil {
					return nil
				}
			}
			near = sn.nearWords(i, mask, word, dfa)
			fuzzyCache.Add(k, near)
		}
		for _, w := range near {
			counts[w.term] += w.count
		}
	}
	return mostFrequent(counts)
}

// termCount is a term and the number of documents of a segment holding it.
type termCount struct {
	term  string
	count uint64
}

// nearWords are the Latin words of segment i's dictionaries (the fields in
// mask) that dfa accepts, other than word.
func (sn *snap) nearWords(i int, mask uint8, word string, dfa *lev.DFA) []termCount {
	var out []termCount
	for f := range textFields {
		if mask&(1<<f) == 0 {
			continue
		}
		dict, err := sn.dict(i, f)
		if err != nil || dict == nil {
			continue
		}
		it := dict.AutomatonIterator(dfa, nil, nil)
		for {
			e, err := it.Next()
			if err != nil || e == nil {
				break
			}
			// Known defect, kept so that corrections do not change: zapx
			// v17's DictionaryIterator reuses one PostingsList and never
			// clears its 1-hit state, so after a term held by a single
			// document every later term of the iteration counts 1.
			if e.Term != word && !strings.HasPrefix(e.Term, bigramMark) && hasLatinLetter([]byte(e.Term)) {
				out = append(out, termCount{e.Term, e.Count})
			}
		}
	}
	return out
}

// fuzzyKey names the words near a query word in a segment's dictionaries,
// which never change.
type fuzzyKey struct {
	seg    segment.Segment
	fields uint8
	word   string
}

// fuzzyCacheEntries bounds the near words kept (all indexes): a few hundred
// bytes each.
const fuzzyCacheEntries = 1 << 14

// fuzzyCache keeps the words near the query words looked up recently, per
// segment: running the Levenshtein automaton over every dictionary of every
// segment cost about a tenth of a search at 100k chunks, for the same
// misspelled or unknown words again and again.
var fuzzyCache = func() *lru.Cache[fuzzyKey, []termCount] {
	c, err := lru.New[fuzzyKey, []termCount](fuzzyCacheEntries)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return c
}()

// typoDFA is the automaton of the words within a Latin word's typo
// distance (1, or 2 from 8 letters on); nil when the word is too short,
// not Latin, or the automaton cannot be built.
func typoDFA(word string) *lev.DFA {
	n := utf8.RuneCountInString(word)
	if n < minTypoRunes || !hasLatinLetter([]byte(word)) {
		return nil
	}
	b1, b2, err := levBuilders()
	if err != nil {
		return nil
	}
	b, d := b1, uint8(1)
	if n >= 8 {
		b, d = b2, 2
	}
	dfa, err := b.BuildDfa(word, d)
	if err != nil {
		return nil
	}
	return dfa
}

// mostFrequent returns up to maxCorrections terms of counts, the most
// frequent first, then alphabetical, so the choice is stable.
func mostFrequent(counts map[string]uint64) []string {
	out := make([]string, 0, len(counts))
	for t := range counts {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out[:min(len(out), maxCorrections)]
}
