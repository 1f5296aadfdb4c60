// Package keyword is kefu's keyword index: BM25 over a bleve index whose
// analyzer segments Chinese into words with gse and stems English. It
// imports the root only.
//
// bleve stores the postings (term frequencies and field lengths), applies
// batches atomically and persists them; the scoring is ours (see search.go),
// because bleve's own BM25 departs from the textbook formula in ways that cost
// quality: it averages document length as the number of distinct terms per
// document, uses the square root of the term frequency, squares the idf
// through its query norm and multiplies by a coordination factor.
package keyword

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
	bbolt "go.etcd.io/bbolt"

	"github.com/kefu-dev/kefu"
)

// Doc is what the keyword index holds of one chunk.
type Doc struct {
	ID        string            // chunk id (the bleve document id)
	DocID     string            // owning document, filterable
	Kind      string            // "passage" | "faq", filterable
	Title     string            // weighted above body
	Headings  string            // heading path "A > B > C", weighted above body
	Questions string            // FAQ phrasings joined by "\n", weighted above body
	Body      string            // passage text or FAQ answer
	Lang      string            // filterable as meta "lang"
	Category  string            // filterable as meta "category"
	Meta      map[string]string // filterable exact values
}

// FromChunk returns what the keyword index holds of c. A first heading that
// repeats the title is left out of the heading path, so that the title's
// words are not counted twice.
func FromChunk(c *kefu.Chunk) Doc {
	headings := c.Headings
	if len(headings) > 0 && headings[0] == c.Title {
		headings = headings[1:]
	}
	return Doc{
		ID: c.ID, DocID: c.DocID, Kind: string(c.Kind),
		Title: c.Title, Headings: strings.Join(headings, " > "), Questions: strings.Join(c.Questions, "\n"), Body: c.Text,
		Lang: c.Lang, Category: c.Category, Meta: c.Meta,
	}
}

// AnalyzerVersion changes whenever the analysis of text changes (tokenizer,
// dictionary, stop words, stemming): an index built by another version must
// be rebuilt, since its terms no longer match the queries'. The store keeps
// it in the index's metadata.
const AnalyzerVersion = "2026-12-06.2"

// Boosts weight the text fields in BM25F: a term occurrence in a field counts
// as Boost occurrences. A zero Boosts means DefaultBoosts; otherwise a zero
// field is not searched.
type Boosts struct {
	Title, Headings, Questions, Body float64
}

// DefaultBoosts are the field weights chosen by measurement (see
// quality_test.go and README.md in this folder).
var DefaultBoosts = Boosts{Title: 2, Headings: 2, Questions: 2, Body: 1}

// Options configure an Index. The zero value is the default.
type Options struct {
	// Analyzer is the bleve analyzer of the text fields, fixed when the
	// index is created: AnalyzerWords (the default), AnalyzerBigram or any
	// registered one. Opening an existing index with another name fails; ""
	// accepts whatever the index was built with.
	Analyzer string
	K1       float64 // BM25 term-frequency saturation; default 1.2
	B        float64 // BM25 length normalisation in [0,1]; default 0.75; negative means 0
	Boosts   Boosts  // field weights; zero means DefaultBoosts
	// CompactAfter is the pause in writes after which the index merges its
	// segments into one (see compact.go); 0 means DefaultCompactAfter,
	// negative never (Compact still does).
	CompactAfter time.Duration

	scoring scoring // variants for the measurements in the tests
}

// Defaults of Options.
const (
	DefaultK1 = 1.2
	DefaultB  = 0.75
)

// Limits on input.
const (
	MaxQueryBytes = 8 << 10 // longer queries are cut (at a rune boundary)
	MaxQueryTerms = 128     // distinct query terms beyond these are ignored
	MaxK          = 10000   // larger k is treated as MaxK
)

// Bleve field names.
const (
	fieldTitle     = "title"
	fieldHeadings  = "headings"
	fieldQuestions = "questions"
	fieldBody      = "body"
	fieldFilter    = "filter" // exact terms: docTerm, kindTerm, metaTerm
	fieldLen       = "lens"   // stored only: the analysed length of each text field
)

// textFields are the searched fields, in the order of lengths and boosts.
var textFields = [numFields]string{fieldTitle, fieldHeadings, fieldQuestions, fieldBody}

const numFields = 4

// Internal keys.
const (
	keyStats      = "kefu.stats"
	keyMetaPrefix = "kefu.meta."
)

func docTerm(id string) string    { return "d\x00" + id }
func kindTerm(k string) string    { return "k\x00" + k }
func metaTerm(k, v string) string { return "m\x00" + k + "\x00" + v }

// Index is a keyword index of chunks. Search may run concurrently with itself
// and with Apply.
type Index struct {
	idx      bleve.Index
	adv      index.Index
	analyzer analysis.Analyzer
	name     string // analyzer name
	opts     Options
	weights  [numFields]float64

	mu      sync.Mutex // serialises Apply
	scratch scratches  // a search's per-document arrays, kept between searches
	tmp     string     // directory of an ephemeral index, removed by Close

	pruned atomic.Int64 // searches whose last terms were scored for candidates only
	listed atomic.Int64 // pruned searches that listed their candidates (skipTo)

	lexicon atomic.Pointer[Lexicon] // synonyms added to queries; nil: none

	compactor *compactor // shared by the views of with

	gen     atomic.Uint64 // increases with every Apply
	soundIx atomic.Pointer[soundIndex]
	soundMu sync.Mutex // builds soundIx once per generation
}

// SetLexicon replaces the synonym rules the index adds to queries (see
// ParseSynonyms); nil or empty rules add none. The rules are analysed with
// the index's analyzer, so a rule matches what a query's words become.
func (ix *Index) SetLexicon(rules []Rule) {
	ix.lexicon.Store(compileLexicon(ix.analyzer, rules))
}

// Lexicon returns the rules the index adds to queries, compiled.
func (ix *Index) Lexicon() *Lexicon { return ix.lexicon.Load() }

// fieldStats are the collection statistics BM25 needs that bleve does not
// keep: per text field, the number of documents that have it and the sum of
// their analysed lengths. They are stored in the index's internal data and
// updated in the same batch as the documents.
type fieldStats struct {
	Docs [numFields]int64 `json:"docs"`
	Sum  [numFields]int64 `json:"sum"`
}

func (s *fieldStats) avg(f int) float64 {
	if s.Docs[f] <= 0 || s.Sum[f] <= 0 {
		return 0
	}
	return float64(s.Sum[f]) / float64(s.Docs[f])
}

func (s *fieldStats) add(lens [numFields]int, sign int64) {
	for f, l := range lens {
		if l > 0 {
			s.Docs[f] += sign
			s.Sum[f] += sign * int64(l)
		}
	}
}

func (o Options) withDefaults() Options {
	if o.K1 <= 0 {
		o.K1 = DefaultK1
	}
	if o.B == 0 {
		o.B = DefaultB
	} else if o.B < 0 {
		o.B = 0
	} else if o.B > 1 {
		o.B = 1
	}
	if o.Boosts == (Boosts{}) {
		o.Boosts = DefaultBoosts
	}
	return o
}

func newMapping(analyzer string) *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = index.BM25Scoring
	m.DefaultAnalyzer = analyzer
	m.IndexDynamic, m.StoreDynamic, m.DocValuesDynamic = false, false, false
	dm := bleve.NewDocumentStaticMapping()
	field := func(analyzer string, idx, store bool) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = analyzer
		f.Index, f.Store = idx, store
		f.IncludeTermVectors, f.IncludeInAll, f.DocValues = false, false, false
		return f
	}
	for _, name := range textFields {
		dm.AddFieldMappingsAt(name, field(analyzer, true, false))
	}
	dm.AddFieldMappingsAt(fieldFilter, field(keyword.Name, true, false))
	dm.AddFieldMappingsAt(fieldLen, field(keyword.Name, false, true))
	m.DefaultMapping = dm
	return m
}

// ErrInUse is wrapped in the error of Open when another Index (in this or
// another process) holds the directory. Unlike an unreadable index, it is no
// reason to delete and rebuild.
var ErrInUse = errors.New("the index is open elsewhere")

// boltTimeout bounds the wait for the lock of an index's bolt file.
const boltTimeout = "2s"

// Open opens the index in dir, creating it when absent. With dir "" the
// index is ephemeral: it lives in a temporary directory that Close removes,
// and Apply does not wait for the disk. (bleve's purely in-memory scorch
// index never merges segments, so it would slow down with every Apply.)
func Open(dir string, opts Options) (*Index, error) {
	opts = opts.withDefaults()
	name := opts.Analyzer
	if name == "" {
		name = AnalyzerWords
	}
	var (
		idx bleve.Index
		err error
		tmp string
	)
	switch {
	case dir == "":
		if tmp, err = os.MkdirTemp("", "kefu-keyword-"); err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
		idx, err = bleve.NewUsing(filepath.Join(tmp, "index"), newMapping(name), scorch.Name, scorch.Name,
			map[string]any{"unsafe_batch": true, "bolt_timeout": boltTimeout})
	case exists(filepath.Join(dir, "index_meta.json")) && exists(filepath.Join(dir, "store")):
		// Without a timeout, opening an index another Index holds blocks
		// forever on its bolt file lock.
		idx, err = bleve.OpenUsing(dir, map[string]any{"bolt_timeout": boltTimeout})
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, kefu.Errorf(kefu.ECONFLICT, "keyword: index %s: %w", dir, ErrInUse)
		}
	default:
		// A crash while creating can leave index_meta.json without a
		// store; nothing was indexed yet, so start afresh.
		if err := os.RemoveAll(dir); err != nil {
			return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: clear %s: %w", dir, err)
		}
		idx, err = bleve.NewUsing(dir, newMapping(name), scorch.Name, scorch.Name, map[string]any{"bolt_timeout": boltTimeout})
	}
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: open %q: %w", dir, err)
	}
	ix, err := newIndex(idx, opts)
	if err != nil {
		_ = idx.Close()
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, err
	}
	ix.tmp = tmp
	return ix, nil
}

func newIndex(idx bleve.Index, opts Options) (*Index, error) {
	m, ok := idx.Mapping().(*mapping.IndexMappingImpl)
	if !ok {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: unexpected mapping type %T", idx.Mapping())
	}
	name := m.DefaultAnalyzer
	if opts.Analyzer != "" && opts.Analyzer != name {
		return nil, kefu.Errorf(kefu.ECONFLICT, "keyword: the index was built with analyzer %q, not %q; rebuild it", name, opts.Analyzer)
	}
	an := m.AnalyzerNamed(name)
	if an == nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: analyzer %q is not registered", name)
	}
	adv, err := idx.Advanced()
	if err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	// The scorer decodes scorch's internal ids (big-endian document numbers).
	if _, ok := adv.(*scorch.Scorch); !ok {
		return nil, kefu.Errorf(kefu.EINTERNAL, "keyword: index type %T is not scorch", adv)
	}
	ix := (&Index{idx: idx, adv: adv, analyzer: an, name: name}).with(opts)
	delay := opts.CompactAfter
	if delay == 0 {
		delay = DefaultCompactAfter
	}
	ix.compactor = newCompactor(ix, delay)
	ix.compactor.wrote() // an index opened with many segments merges them too
	return ix, nil
}

// with returns a view of the same bleve index that searches with other
// query-time options (K1, B, Boosts, scoring); the tests compare variants on
// one index with it.
func (ix *Index) with(opts Options) *Index {
	opts.Analyzer = ix.name
	opts = opts.withDefaults()
	v := &Index{idx: ix.idx, adv: ix.adv, analyzer: ix.analyzer, name: ix.name, opts: opts, compactor: ix.compactor}
	b := opts.Boosts
	v.weights = [numFields]float64{b.Title, b.Headings, b.Questions, b.Body}
	return v
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Analyzer returns the name of the index's analyzer.
func (ix *Index) Analyzer() string { return ix.name }

// Terms returns the terms the index's analyzer makes of text.
func (ix *Index) Terms(text string) []string { return terms(ix.analyzer, text) }

// fixedTokens is an analyzer that returns tokens analysed beforehand, so that
// Apply analyses each field once and knows its length.
type fixedTokens analysis.TokenStream

func (t fixedTokens) Analyze([]byte) analysis.TokenStream { return analysis.TokenStream(t) }

type analysed struct {
	doc  *document.Document
	lens [numFields]int
}

func (ix *Index) analyse(d *Doc) analysed {
	var a analysed
	a.doc = document.NewDocument(d.ID)
	for f, text := range [numFields]string{d.Title, d.Headings, d.Questions, d.Body} {
		if text == "" {
			continue
		}
		toks := ix.analyzer.Analyze([]byte(text))
		if len(toks) == 0 {
			continue
		}
		a.lens[f] = len(toks)
		a.doc.AddField(document.NewTextFieldCustom(textFields[f], nil, nil, index.IndexField, fixedTokens(toks)))
	}
	filter := []string{docTerm(d.DocID), kindTerm(d.Kind)}
	if d.Lang != "" {
		filter = append(filter, metaTerm("lang", d.Lang))
	}
	if d.Category != "" {
		filter = append(filter, metaTerm("category", d.Category))
	}
	for k, v := range d.Meta {
		filter = append(filter, metaTerm(k, v))
	}
	ftoks := make(analysis.TokenStream, len(filter))
	for i, t := range filter {
		ftoks[i] = &analysis.Token{Term: []byte(t), Position: i + 1, Start: 0, End: len(t), Type: analysis.AlphaNumeric}
	}
	a.doc.AddField(document.NewTextFieldCustom(fieldFilter, nil, nil, index.IndexField, fixedTokens(ftoks)))
	lens := make([]string, numFields)
	for f, l := range a.lens {
		lens[f] = strconv.Itoa(l)
	}
	a.doc.AddField(document.NewTextFieldWithIndexingOptions(fieldLen, nil, []byte(strings.Join(lens, " ")), index.StoreField))
	return a
}

// analyseAll analyses docs on all cores: segmentation is most of the cost of
// indexing.
func (ix *Index) analyseAll(docs []Doc) []analysed {
	out := make([]analysed, len(docs))
	workers := min(runtime.GOMAXPROCS(0), len(docs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(docs); i += workers {
				out[i] = ix.analyse(&docs[i])
			}
		})
	}
	wg.Wait()
	return out
}

// storedLens reads the field lengths stored with document id, or reports
// that the index does not hold it.
func storedLens(r index.IndexReader, id string) (lens [numFields]int, found bool, err error) {
	doc, err := r.Document(id)
	if err != nil || doc == nil {
		return lens, false, err
	}
	var raw []byte
	doc.VisitFields(func(f index.Field) {
		if f.Name() == fieldLen {
			raw = f.Value()
		}
	})
	parts := strings.Fields(string(raw))
	if len(parts) != numFields {
		return lens, false, fmt.Errorf("keyword: document %q has malformed lengths %q", id, raw)
	}
	for f, p := range parts {
		if lens[f], err = strconv.Atoi(p); err != nil {
			return lens, false, fmt.Errorf("keyword: document %q has malformed lengths %q", id, raw)
		}
	}
	return lens, true, nil
}

func readStats(r index.IndexReader) (fieldStats, error) {
	var s fieldStats
	raw, err := r.GetInternal([]byte(keyStats))
	if err != nil || len(raw) == 0 {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("keyword: corrupt statistics: %w", err)
	}
	return s, nil
}

// Apply writes puts and deletes as one atomic batch, together with meta (for
// example {"version": "42"}), so that after a crash the caller can check that
// the index matches its own state. A put replaces the chunk with the same ID;
// an ID both put and deleted ends up put. A search sees the whole batch or
// none of it.
func (ix *Index) Apply(puts []Doc, deletes []string, meta map[string]string) error {
	for i := range puts {
		if puts[i].ID == "" {
			return kefu.Errorf(kefu.EINVALID, "keyword: chunk %d has no id", i)
		}
		// NUL separates key from value in the filter terms.
		for k := range puts[i].Meta {
			if k == "" || strings.IndexByte(k, 0) >= 0 {
				return kefu.Errorf(kefu.EINVALID, "keyword: chunk %q has an empty meta key or one with a NUL byte", puts[i].ID)
			}
		}
	}
	for k := range meta {
		if k == "" {
			return kefu.Errorf(kefu.EINVALID, "keyword: empty meta key")
		}
	}
	// The last put of an ID wins, as in a bleve batch.
	last := make(map[string]int, len(puts))
	for i := range puts {
		last[puts[i].ID] = i
	}
	docs := ix.analyseAll(puts)

	ix.mu.Lock()
	defer ix.mu.Unlock()
	r, err := ix.adv.Reader()
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	stats, err := readStats(r)
	if err == nil {
		// Take out what the replaced and deleted chunks contributed.
		seen := make(map[string]bool, len(puts)+len(deletes))
		old := func(id string) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			lens, found, err := storedLens(r, id)
			if found {
				stats.add(lens, -1)
			}
			return err
		}
		for _, id := range deletes {
			if err = old(id); err != nil {
				break
			}
		}
		for id := range last {
			if err != nil {
				break
			}
			err = old(id)
		}
	}
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}

	b := ix.idx.NewBatch()
	for _, id := range deletes {
		if _, put := last[id]; !put {
			b.Delete(id)
		}
	}
	for i := range docs {
		if last[puts[i].ID] != i {
			continue
		}
		stats.add(docs[i].lens, 1)
		if err := b.IndexAdvanced(docs[i].doc); err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
		}
	}
	raw, err := json.Marshal(&stats)
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	b.SetInternal([]byte(keyStats), raw)
	for k, v := range meta {
		b.SetInternal([]byte(keyMetaPrefix+k), []byte(v))
	}
	if err := ix.idx.Batch(b); err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: apply batch: %w", err)
	}
	ix.gen.Add(1)
	ix.compactor.wrote()
	return nil
}

// Meta returns the value stored under key by Apply, or "" when there is none.
func (ix *Index) Meta(key string) (string, error) {
	v, err := ix.idx.GetInternal([]byte(keyMetaPrefix + key))
	if err != nil {
		return "", kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	return string(v), nil
}

// Count returns the number of chunks in the index.
func (ix *Index) Count() (uint64, error) {
	n, err := ix.idx.DocCount()
	if err != nil {
		return 0, kefu.Errorf(kefu.EINTERNAL, "keyword: %w", err)
	}
	return n, nil
}

// Close releases the index; with a directory, everything applied is on
// disk. Closing an ephemeral index deletes it.
func (ix *Index) Close() error {
	ix.compactor.stop()
	err := ix.idx.Close()
	if ix.tmp != "" {
		if rerr := os.RemoveAll(ix.tmp); err == nil {
			err = rerr
		}
	}
	if err != nil && !errors.Is(err, bleve.ErrorIndexClosed) {
		return kefu.Errorf(kefu.EINTERNAL, "keyword: close: %w", err)
	}
	return nil
}

// lenFromNorm recovers a field's analysed length from the norm bleve's zap
// segments return, float32(1/sqrt(length)); the rounding is exact for
// lengths far beyond any chunk.
func lenFromNorm(norm float64) float64 {
	if norm <= 0 {
		return 0
	}
	return math.Round(1 / (norm * norm))
}
