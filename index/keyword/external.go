package keyword

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/vellum"

	"github.com/kefu-dev/kefu"
)

// This file is the keyword side's analysis and BM25F weighting without a
// bleve index, for a backend whose engine stores the postings itself (the
// Qdrant backend, index/qdrant): it analyses chunks and queries exactly as
// Index does, so the engine's scores are Index's scores.

// Analysis analyses chunks and queries as an Index with the default
// analyzer and the same options would. It is safe for concurrent use.
type Analysis struct{ ix *Index }

// NewAnalysis returns the analysis of an index opened with opts (the
// analyzer is always AnalyzerWords).
func NewAnalysis(opts Options) *Analysis {
	opts.Analyzer = AnalyzerWords
	ix := (&Index{analyzer: defaultAnalyzer, name: AnalyzerWords}).with(opts)
	return &Analysis{ix: ix}
}

// SetLexicon replaces the synonym rules queries are expanded with, as
// Index.SetLexicon.
func (a *Analysis) SetLexicon(rules []Rule) { a.ix.SetLexicon(rules) }

// NumFields is the number of text fields of a Doc: title, heading path,
// FAQ questions and body, in that order.
const NumFields = numFields

// Fields holds a chunk's analysed text fields (title, heading path, FAQ
// questions, body), each its terms in order with repeats.
type Fields [NumFields][]string

// Fields analyses the text fields of d.
func (a *Analysis) Fields(d *Doc) Fields {
	var f Fields
	for i, text := range [numFields]string{d.Title, d.Headings, d.Questions, d.Body} {
		if text != "" {
			f[i] = terms(a.ix.analyzer, text)
		}
	}
	return f
}

// Mark prefixes the character and bigram terms the analyzer adds to the
// words (¦多 beside the word 多久).
const Mark = bigramMark

// Head reports whether field i is a heading field (title, heading path or
// questions), whose terms set Hit.HeadMatch.
func Head(i int) bool { return textFields[i] != fieldBody }

// Weights returns each term's BM25F weight in a chunk without its idf:
// (k1+1)·t/(t+k1) where t = Σ boost·tf/(1−b+b·length/avg) over the fields,
// avg being each field's average length over the chunks that have it
// (0: the chunk's own length). An engine that multiplies these by the
// query term's weight and its idf (Qdrant's idf modifier) scores exactly as
// Index.Search does.
func (a *Analysis) Weights(f *Fields, avg [NumFields]float64) map[string]float64 {
	k1, b := a.ix.opts.K1, a.ix.opts.B
	tf := map[string]float64{}
	for i, ts := range f {
		w := a.ix.weights[i]
		if w <= 0 || len(ts) == 0 {
			continue
		}
		av := avg[i]
		if av <= 0 {
			av = float64(len(ts))
		}
		inv := 1 / (1 - b + b*float64(len(ts))/av)
		for _, t := range ts {
			tf[t] += w * inv
		}
	}
	for t, x := range tf {
		tf[t] = (k1 + 1) * x / (x + k1)
	}
	return tf
}

// Query is an analysed keyword query.
type Query struct {
	// Terms describe the distinct terms as Candidates.QueryTerms does,
	// with DF left 0 for the caller to fill.
	Terms []kefu.QueryTerm
	// Indexed are the terms as indexed (Fields' form), in the order of
	// Terms; Weight is each one's weight in the query.
	Indexed []string
	// Counted is the number of the query's own terms (not synonyms).
	Counted int
}

// Query analyses query as Index.SearchHits does: its words and characters,
// the synonyms of the lexicon and, when v is not nil, the weight of their
// translations (translations) and the corrections of the words v does not
// hold.
func (a *Analysis) Query(query string, v *Vocabulary) Query {
	qts := a.ix.queryTerms(query)
	if v != nil && len(qts) > 0 {
		translations(v.held, qts, query)
		qts = corrections(v, qts, query)
	}
	q := Query{Terms: describe(qts, make([]int, len(qts))), Indexed: make([]string, len(qts))}
	for i := range qts {
		q.Indexed[i] = qts[i].term
		if qts[i].counted() {
			q.Counted++
		}
	}
	return q
}

// Vocabulary is a KB's terms with their document frequencies, as an
// external engine reports them, for typo correction.
type Vocabulary struct {
	df    map[string]int
	fst   *vellum.FST // Latin terms → document frequency
	sound map[string][]string
}

// NewVocabulary indexes df (term as indexed → chunks that hold it).
func NewVocabulary(df map[string]int) (*Vocabulary, error) {
	v := &Vocabulary{df: df, sound: map[string][]string{}}
	var latin []string
	for t := range df {
		switch {
		case strings.HasPrefix(t, bigramMark):
		case allHan(t):
			if n := utf8.RuneCountInString(t); n >= 2 && n <= maxHanWindow {
				if s := soundOf(t); s != "" {
					v.sound[s] = append(v.sound[s], t)
				}
			}
		case hasLatinLetter([]byte(t)):
			latin = append(latin, t)
		}
	}
	// The index lists a sound's words in dictionary order.
	for _, ws := range v.sound {
		slices.Sort(ws)
	}
	slices.Sort(latin)
	var buf bytes.Buffer
	b, err := vellum.New(&buf, nil)
	if err != nil {
		return nil, err
	}
	for _, t := range latin {
		if err := b.Insert([]byte(t), uint64(df[t])); err != nil {
			return nil, err
		}
	}
	if err := b.Close(); err != nil {
		return nil, err
	}
	if v.fst, err = vellum.Load(buf.Bytes()); err != nil {
		return nil, err
	}
	return v, nil
}

// DF returns the number of chunks that hold term.
func (v *Vocabulary) DF(term string) int { return v.df[term] }

// Len returns the number of distinct terms.
func (v *Vocabulary) Len() int { return len(v.df) }

func (v *Vocabulary) held(term string) bool       { return v.df[term] > 0 }
func (v *Vocabulary) sounds() map[string][]string { return v.sound }

// fuzzy is Index.fuzzy over the vocabulary. Candidates are ordered by
// their document frequency over all fields at once, where Index counts per
// field, so among more than maxCorrections candidates the choice may
// differ.
func (v *Vocabulary) fuzzy(word string) []string {
	dfa := typoDFA(word)
	if dfa == nil {
		return nil
	}
	counts := map[string]uint64{}
	it, err := v.fst.Search(dfa, nil, nil)
	for err == nil {
		k, c := it.Current()
		if t := string(k); t != word {
			counts[t] = c
		}
		err = it.Next()
	}
	return mostFrequent(counts)
}

// Indexed returns a query term as the index holds it: a character of a
// Chinese word carries a mark that tells it from a one-character word.
func Indexed(qt *kefu.QueryTerm) string {
	if qt.Kind == kefu.TermPart {
		return bigramMark + qt.Text
	}
	return qt.Text
}
