package embed

import (
	"encoding/json"

	"github.com/kefu-dev/kefu"
	"github.com/sugarme/tokenizer"
)

// wordModel turns one pre-tokenized word into vocabulary ids in time linear
// in its length. Unigram words may be long (SentencePiece normalisers turn
// spaces into ▁, so a whole text is one word); tokenize may then stop once
// ids holds limit ids (0: no limit), where the rest cannot change them.
type wordModel interface {
	tokenize(ids []int, word string, limit int) ([]int, error)
}

// newWordModel returns the WordPiece or Unigram model written here for
// tokenizer.json's model, or nil for the types left to sugarme (BPE,
// WordLevel: a word costs O(n log n) there and WordLevel one lookup).
func newWordModel(f tokenizerFile, data []byte, sugarme tokenizer.Model) (wordModel, error) {
	switch f.Model.Type {
	case "WordPiece":
		prefix := "##"
		if f.Model.SubwordPrefix != nil {
			prefix = *f.Model.SubwordPrefix
		}
		return newWordPiece(sugarme.GetVocab(), f.Model.UnkToken, prefix, f.Model.MaxInputChars), nil
	case "Unigram":
		var m struct {
			Model json.RawMessage `json:"model"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: %w", err)
		}
		return newUnigram(m.Model)
	}
	return nil, nil
}

// sugarmeModel puts a wordModel under sugarme's pipeline (the pre-tokenizers
// not written here); sugarme's model answers the vocabulary questions.
type sugarmeModel struct {
	tokenizer.Model
	words wordModel
}

// Tokenize implements tokenizer.Model. Only the ids are read from sugarme's
// encodings, so every token spans the whole word.
func (m sugarmeModel) Tokenize(word string) ([]tokenizer.Token, error) {
	ids, err := m.words.tokenize(nil, word, 0)
	if err != nil {
		return nil, err
	}
	toks := make([]tokenizer.Token, len(ids))
	for i, id := range ids {
		v, _ := m.IdToToken(id)
		toks[i] = tokenizer.Token{Id: id, Value: v, Offsets: []int{0, len(word)}}
	}
	return toks, nil
}
