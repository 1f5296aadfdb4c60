package embed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
	ahocorasick "github.com/petar-dambovaliev/aho-corasick"
	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// maxTokenizerFile bounds the tokenizer.json we read (the largest common ones,
// multilingual SentencePiece vocabularies, are about 17 MB).
const maxTokenizerFile = 64 << 20

// maxTextBytes bounds one input text; longer texts are cut (at a character
// boundary) before tokenising, since the model sees at most MaxTokens anyway.
// With it, the work per text is bounded: every step (normalisers,
// pre-tokenizers, WordPiece, Unigram) is linear in the text's length, and
// Encode stops at the model's limit (BenchmarkTokenizeLong).
const maxTextBytes = 1 << 20

// Tokenizer turns text into the token ids a model expects, exactly as the
// HuggingFace tokenizers library does with the model's tokenizer.json.
//
// The vocabulary model (WordPiece, Unigram, BPE) and the pre-tokenizer come
// from github.com/sugarme/tokenizer. The normaliser, the matching of added
// tokens typed in the text, the special tokens around each input and the
// truncation are done here, because sugarme gets them wrong (see
// ../shared/models/README.md, "Known pitfalls").
//
// A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	tk        *tokenizer.Tokenizer // model and pre-tokenizer only
	vocab     tokenizer.Model      // the vocabulary model, for the fast paths
	words     wordModel            // WordPiece or Unigram written here; nil: sugarme's
	pre       preTokenizer         // how text is cut into words
	norm      textNormalizer       // nil: identity
	raw       *addedMatcher        // added tokens matched on the raw text
	normed    *addedMatcher        // added tokens matched on normalised text
	prefix    []int                // special ids before the text ([CLS])
	suffix    []int                // special ids after it ([SEP])
	pair      []pairPiece          // template of a sentence pair (rerankers)
	maxTokens int
	padID     int
}

// tokenizerFile is the part of tokenizer.json read here; sugarme reads the rest.
type tokenizerFile struct {
	AddedTokens []struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer *struct {
		Type    string `json:"type"`
		Pattern struct {
			String *string `json:"String"`
			Regex  *string `json:"Regex"`
		} `json:"pattern"`
		Behavior string `json:"behavior"`
		Invert   bool   `json:"invert"`
	} `json:"pre_tokenizer"`
	Model struct {
		Type          string  `json:"type"`
		UnkToken      string  `json:"unk_token"`
		SubwordPrefix *string `json:"continuing_subword_prefix"`
		MaxInputChars int     `json:"max_input_chars_per_word"`
	} `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Padding       *struct {
		PadID *int `json:"pad_id"`
	} `json:"padding"`
}

// LoadTokenizer reads dir/tokenizer.json. maxTokens is the model's sequence
// limit, special tokens included; 0 means no limit.
func LoadTokenizer(dir string, maxTokens int) (*Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	st, err := os.Stat(path)
	if err != nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "tokenizer: %w", err)
	}
	if st.Size() > maxTokenizerFile {
		return nil, kefu.Errorf(kefu.ETOOLARGE, "tokenizer: %s is %d bytes, more than the %d allowed", path, st.Size(), maxTokenizerFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "tokenizer: %w", err)
	}
	t, err := parseTokenizer(data, maxTokens)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func parseTokenizer(data []byte, maxTokens int) (t *Tokenizer, err error) {
	defer func() {
		if r := recover(); r != nil { // sugarme's constructors panic on some malformed files
			t, err = nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: %v", r)
		}
	}()
	var mine tokenizerFile
	if err := json.Unmarshal(data, &mine); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: %w", err)
	}
	var cfg tokenizer.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: %w", err)
	}
	if cfg.Model == nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: no model")
	}
	// Built from the parts rather than with pretrained.FromFile: only the model
	// and pre-tokenizer are sugarme's, so no normaliser, added vocabulary,
	// post-processor, truncation or padding of its own can interfere.
	model, err := pretrained.CreateModel(&cfg)
	if err != nil {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "tokenizer.json: model: %w", err)
	}
	if model == nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: no model")
	}
	words, err := newWordModel(mine, data, model)
	if err != nil {
		return nil, err
	}
	if words != nil {
		model = sugarmeModel{Model: model, words: words} // sugarme's own pipeline uses it too
	}
	tk := tokenizer.NewTokenizer(model)
	pre, err := pretrained.CreatePreTokenizer(cfg.PreTokenizer)
	if err != nil {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "tokenizer.json: pre_tokenizer: %w", err)
	}
	if pre != nil {
		tk.WithPreTokenizer(pre)
	}
	t = &Tokenizer{tk: tk, vocab: model, words: words, maxTokens: maxTokens, pre: fastPreTokenizer(mine)}
	if t.norm, err = newNormalizer(mine.Normalizer); err != nil {
		return nil, err
	}
	pp, err := parsePostProcessor(mine.PostProcessor)
	if err != nil {
		return nil, err
	}
	t.prefix, t.suffix, t.pair = pp.prefix, pp.suffix, pp.pair
	var raw, normed []addedToken
	for _, a := range mine.AddedTokens {
		if a.Content == "" {
			continue
		}
		tok := addedToken{id: a.ID, content: a.Content, singleWord: a.SingleWord, lstrip: a.Lstrip, rstrip: a.Rstrip}
		if a.Normalized {
			normed = append(normed, tok)
		} else {
			raw = append(raw, tok)
		}
	}
	t.raw, t.normed = newAddedMatcher(raw), newAddedMatcher(normed)
	t.padID = padID(mine, t)
	if maxTokens > 0 && maxTokens <= len(t.prefix)+len(t.suffix) {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer: max tokens %d leaves no room for text", maxTokens)
	}
	return t, nil
}

// padID is the padding id of tokenizer.json, else that of a [PAD]/<pad>
// token, else 0. Padded positions are masked, so it only has to be valid.
func padID(f tokenizerFile, t *Tokenizer) int {
	if f.Padding != nil && f.Padding.PadID != nil {
		return *f.Padding.PadID
	}
	for _, a := range f.AddedTokens {
		if a.Content == "[PAD]" || a.Content == "<pad>" {
			return a.ID
		}
	}
	if id, ok := t.tk.TokenToId("[PAD]"); ok {
		return id
	}
	return 0
}

// tokenPairID reads the id of a ["[CLS]", 101] pair.
func tokenPairID(pair []any) (int, bool) {
	if len(pair) != 2 {
		return 0, false
	}
	f, ok := pair[1].(float64)
	return int(f), ok
}

// MaxTokens is the sequence limit, special tokens included (0: none).
func (t *Tokenizer) MaxTokens() int { return t.maxTokens }

// PadID is the id padded positions get.
func (t *Tokenizer) PadID() int { return t.padID }

// NumSpecial is how many special tokens Encode adds around each text.
func (t *Tokenizer) NumSpecial() int { return len(t.prefix) + len(t.suffix) }

// Encode returns the ids of text with the special tokens around it, cut to
// MaxTokens keeping the final special tokens (as sentence-transformers does).
func (t *Tokenizer) Encode(text string) ([]int, error) {
	content, err := t.content(text, t.contentLimit())
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(t.prefix)+len(content)+len(t.suffix))
	ids = append(ids, t.prefix...)
	ids = append(ids, content...)
	return append(ids, t.suffix...), nil
}

// CountTokens counts the tokens of text without special tokens and without
// truncation; texts that fail to tokenise count by their bytes. It counts
// the whole text (up to maxTextBytes), not just what the model sees: the
// chunker budgets with it, and cuts what is over. A word longer than the
// model's max_input_chars_per_word counts one ([UNK]), as it embeds.
func (t *Tokenizer) CountTokens(text string) int {
	ids, err := t.content(text, 0)
	if err != nil {
		return len(text)
	}
	return len(ids)
}

func (t *Tokenizer) contentLimit() int {
	if t.maxTokens <= 0 {
		return 0
	}
	return t.maxTokens - len(t.prefix) - len(t.suffix)
}

// content tokenises text without special tokens, stopping once limit ids
// are found (0: no limit).
func (t *Tokenizer) content(text string, limit int) (ids []int, err error) {
	if len(text) > maxTextBytes {
		cut := maxTextBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	for _, seg := range t.raw.split(text) {
		if limit > 0 && len(ids) >= limit {
			break
		}
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		s := seg.text
		if t.norm != nil {
			s = t.norm.normalize(s)
		}
		for _, sub := range t.normed.split(s) {
			if sub.id >= 0 {
				ids = append(ids, sub.id)
				continue
			}
			if ids, err = t.model(ids, sub.text, limit); err != nil {
				return nil, err
			}
		}
	}
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// preTokenizer says how normalised text is cut into words.
type preTokenizer int

const (
	preSugarme preTokenizer = iota // sugarme's own pre-tokenizer and encoder
	preBert                        // HF BertPreTokenizer: whitespace and punctuation
	preSpace                       // Split on " ", removed
)

// fastPreTokenizer picks a pre-tokenizer written here for the common cases.
// sugarme's pre-tokenizers keep alignment tables for every split and
// allocate several times per word, which made tokenising a tenth of the
// engine's time; these do the same cuts without them.
func fastPreTokenizer(f tokenizerFile) preTokenizer {
	if f.Model.Type != "WordPiece" && f.Model.Type != "Unigram" || f.PreTokenizer == nil {
		return preSugarme
	}
	p := f.PreTokenizer
	switch {
	case p.Type == "BertPreTokenizer":
		return preBert
	case p.Type == "WhitespaceSplit":
		return preSpace // after a BERT-style clean-up the only whitespace left is ' '
	case p.Type == "Split" && p.Behavior == "Removed" && !p.Invert &&
		(p.Pattern.String != nil && *p.Pattern.String == " " || p.Pattern.Regex != nil && *p.Pattern.Regex == " "):
		return preSpace
	}
	return preSugarme
}

// model appends the vocabulary ids of normalised text. With the pre-tokenizers
// written here it stops once ids holds limit ids (0: no limit).
func (t *Tokenizer) model(ids []int, text string, limit int) (_ []int, err error) {
	if text == "" {
		return ids, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = kefu.Errorf(kefu.EINVALID, "tokenizer failed on the text: %v", r)
		}
	}()
	switch t.pre {
	case preBert:
		start := -1 // start of the current word, -1 between words
		for i, r := range text {
			if limit > 0 && len(ids) >= limit {
				return ids, nil
			}
			space, punct := unicode.IsSpace(r), !unicode.IsSpace(r) && isBertPunct(r)
			if (space || punct) && start >= 0 {
				if ids, err = t.word(ids, text[start:i], limit); err != nil {
					return nil, err
				}
				start = -1
			}
			switch {
			case punct:
				if ids, err = t.word(ids, text[i:i+utf8.RuneLen(r)], limit); err != nil {
					return nil, err
				}
			case !space && start < 0:
				start = i
			}
		}
		if start >= 0 && (limit <= 0 || len(ids) < limit) {
			return t.word(ids, text[start:], limit)
		}
		return ids, nil
	case preSpace:
		for text != "" && (limit <= 0 || len(ids) < limit) {
			w, rest, _ := strings.Cut(text, " ")
			if ids, err = t.word(ids, w, limit); err != nil {
				return nil, err
			}
			text = rest
		}
		return ids, nil
	}
	enc, err := t.tk.Encode(tokenizer.NewSingleEncodeInput(tokenizer.NewInputSequence(text)), false)
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer: %w", err)
	}
	return append(ids, enc.Ids...), nil
}

// word appends the vocabulary ids of one pre-tokenized word; a Unigram
// word may stop early once ids holds limit ids.
func (t *Tokenizer) word(ids []int, w string, limit int) ([]int, error) {
	if w == "" {
		return ids, nil
	}
	if t.words != nil {
		return t.words.tokenize(ids, w, limit)
	}
	toks, err := t.vocab.Tokenize(w)
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer: %w", err)
	}
	for _, tok := range toks {
		ids = append(ids, tok.Id)
	}
	return ids, nil
}

// isBertPunct is BERT's punctuation: any ASCII symbol or punctuation
// character, or a Unicode punctuation (P*) character.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return r >= 33 && r <= 47 || r >= 58 && r <= 64 || r >= 91 && r <= 96 || r >= 123 && r <= 126
	}
	return unicode.IsPunct(r)
}

// addedToken is a token of tokenizer.json's added_tokens.
type addedToken struct {
	id                         int
	content                    string
	singleWord, lstrip, rstrip bool
}

// addedMatcher finds added tokens in text as HuggingFace's AddedVocabulary
// does: leftmost-longest matches, honouring single_word, lstrip and rstrip.
type addedMatcher struct {
	tokens []addedToken
	ac     ahocorasick.AhoCorasick
}

// segment is a piece of text: an added token (id >= 0) or text to tokenise.
type segment struct {
	text string
	id   int
}

func newAddedMatcher(tokens []addedToken) *addedMatcher {
	if len(tokens) == 0 {
		return nil
	}
	patterns := make([]string, len(tokens))
	for i, tok := range tokens {
		patterns[i] = tok.content
	}
	b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{MatchKind: ahocorasick.LeftMostLongestMatch, DFA: true})
	return &addedMatcher{tokens: tokens, ac: b.Build(patterns)}
}

// split cuts text at the added tokens it contains.
func (m *addedMatcher) split(text string) []segment {
	if m == nil || text == "" {
		return []segment{{text: text, id: -1}}
	}
	var out []segment
	last := 0
	iter := m.ac.Iter(text)
	for match := iter.Next(); match != nil; match = iter.Next() {
		start, end := match.Start(), match.End()
		if start < last {
			continue // inside a stretch an earlier token's rstrip took
		}
		tok := m.tokens[match.Pattern()]
		if tok.singleWord && (endsWithWord(text[:start]) || startsWithWord(text[end:])) {
			continue
		}
		if tok.lstrip {
			for start > last {
				r, size := utf8.DecodeLastRuneInString(text[:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= size
			}
		}
		if tok.rstrip {
			for end < len(text) {
				r, size := utf8.DecodeRuneInString(text[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += size
			}
		}
		if start > last {
			out = append(out, segment{text: text[last:start], id: -1})
		}
		out = append(out, segment{id: tok.id})
		last = end
	}
	if last < len(text) {
		out = append(out, segment{text: text[last:], id: -1})
	}
	return out
}

func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Pc, r)
}

func endsWithWord(s string) bool {
	r, size := utf8.DecodeLastRuneInString(s)
	return size > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return size > 0 && isWordChar(r)
}
