package embed

import (
	"strings"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
)

// defaultMaxInputChars is HuggingFace's default max_input_chars_per_word.
const defaultMaxInputChars = 100

// wordPiece is HuggingFace's WordPiece model (tokenizers/src/models/
// wordpiece): greedy longest-match-first, a word longer than maxChars
// characters or with a part no piece covers becomes the unknown token.
//
// Written here rather than used from sugarme/tokenizer because its
// WordPiece builds every candidate piece with fmt.Sprintf, from the
// word's end down: a 100-character word cost thousands of allocations,
// and a base64 blob (words cut at '+' and '/') ran at 0.1 MB/s. This one
// reads forward while what it has read starts some piece, without
// allocating.
type wordPiece struct {
	first    map[string]trieEntry // pieces that start a word
	cont     map[string]trieEntry // continuation pieces, without their prefix
	unk      int                  // -1: no unknown token in the vocabulary
	maxChars int
}

// newWordPiece builds the model over a vocabulary (piece → id).
func newWordPiece(vocab map[string]int, unkToken, prefix string, maxChars int) *wordPiece {
	if maxChars <= 0 {
		maxChars = defaultMaxInputChars
	}
	wp := &wordPiece{first: make(map[string]trieEntry, 2*len(vocab)), cont: map[string]trieEntry{}, unk: -1, maxChars: maxChars}
	for piece, id := range vocab {
		if piece == "" {
			continue
		}
		addPiece(wp.first, piece, int32(id))
		if rest, ok := strings.CutPrefix(piece, prefix); ok && rest != "" && prefix != "" {
			addPiece(wp.cont, rest, int32(id))
		}
	}
	if id, ok := vocab[unkToken]; ok {
		wp.unk = id
	}
	return wp
}

// tokenize appends the ids of one pre-tokenized word (a word is at most
// maxChars long, so no limit applies inside it). Its work is linear in the
// word's length: a long word is refused after counting its characters, and
// each piece found reads at most the longest piece's length.
func (wp *wordPiece) tokenize(ids []int, word string, _ int) ([]int, error) {
	if word == "" {
		return ids, nil
	}
	if utf8.RuneCountInString(word) > wp.maxChars {
		return wp.unknown(ids)
	}
	n := len(ids)
	for start := 0; start < len(word); {
		trie := wp.first
		if start > 0 {
			trie = wp.cont
		}
		best, id := -1, int32(0)
		for end := start + 1; end <= len(word); end++ {
			if end < len(word) && !utf8.RuneStart(word[end]) {
				continue // a piece is whole characters
			}
			e := trie[word[start:end]]
			if e.piece {
				best, id = end, e.id
			}
			if !e.prefix {
				break
			}
		}
		if best < 0 {
			return wp.unknown(ids[:n])
		}
		ids = append(ids, int(id))
		start = best
	}
	return ids, nil
}

func (wp *wordPiece) unknown(ids []int) ([]int, error) {
	if wp.unk < 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer: a word has no pieces and the vocabulary no unknown token")
	}
	return append(ids, wp.unk), nil
}
