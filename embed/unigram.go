package embed

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
)

// unkPenalty is HuggingFace's K_UNK_PENALTY: an unknown character scores
// this much below the vocabulary's lowest piece.
const unkPenalty = 10.0

// metaSpace is SentencePiece's word marker ▁ (U+2581).
const metaSpace = "\u2581"

// unigram is HuggingFace's Unigram model (tokenizers/src/models/unigram,
// encode_optimized): the Viterbi path through every vocabulary piece found
// at each character, an unknown character where no single-character piece
// exists, runs of unknowns fused into one, byte fallback when asked.
//
// Written here rather than used from sugarme/tokenizer because its Viterbi
// builds the result by prepending to a slice (quadratic: 100 KB of text
// without spaces took 55 s), caches every text it has seen, and never
// tries pieces longer than 20 bytes. This one is linear: each position
// tries at most the longest piece's length, stopping as soon as no piece
// starts with what it has read.
type unigram struct {
	trie         map[string]trieEntry // every piece and every start of one
	scores       []float64            // by id
	unk          int                  // -1: none
	unkScore     float64
	maxPiece     int // bytes
	byteFallback bool
	// byMeta: no piece has ▁ but at its start and ▁ itself is a piece, so
	// every path through the lattice has a boundary before each ▁ and the
	// text can be cut there (which lets Encode stop at its limit).
	byMeta bool
}

// unigramFile is tokenizer.json's Unigram model.
type unigramFile struct {
	UnkID        *int                 `json:"unk_id"`
	ByteFallback bool                 `json:"byte_fallback"`
	Vocab        []unigramPieceInFile `json:"vocab"`
}

// unigramPieceInFile is one ["piece", score] pair.
type unigramPieceInFile struct {
	piece string
	score float64
}

func (p *unigramPieceInFile) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("a Unigram vocabulary entry must be [\"piece\", score]")
	}
	if err := json.Unmarshal(pair[0], &p.piece); err != nil {
		return fmt.Errorf("a Unigram vocabulary entry must be [\"piece\", score]")
	}
	if string(pair[1]) == "null" {
		return nil
	}
	return json.Unmarshal(pair[1], &p.score)
}

// newUnigram builds the model from tokenizer.json's "model" object.
func newUnigram(raw json.RawMessage) (*unigram, error) {
	var f unigramFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: Unigram model: %v", err)
	}
	if len(f.Vocab) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: Unigram model without a vocabulary")
	}
	u := &unigram{trie: make(map[string]trieEntry, 2*len(f.Vocab)), scores: make([]float64, len(f.Vocab)), unk: -1, byteFallback: f.ByteFallback}
	minScore := math.Inf(1)
	for id, p := range f.Vocab {
		u.scores[id] = p.score
		minScore = min(minScore, p.score)
		if p.piece != "" {
			addPiece(u.trie, p.piece, int32(id))
			u.maxPiece = max(u.maxPiece, len(p.piece))
		}
	}
	if f.UnkID != nil {
		if *f.UnkID < 0 || *f.UnkID >= len(f.Vocab) {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: Unigram unk_id %d is not in the vocabulary", *f.UnkID)
		}
		u.unk = *f.UnkID
	}
	u.unkScore = minScore - unkPenalty
	u.byMeta = u.trie[metaSpace].piece
	for piece, e := range u.trie {
		if e.piece && strings.Contains(piece[1:], metaSpace) {
			u.byMeta = false
			break
		}
	}
	return u, nil
}

// trieEntry says what a string is to a vocabulary: a piece (with its id;
// a repeated piece has its last id), the start of a longer piece, or both.
// One map lookup per character read answers both questions of a
// longest-match or Viterbi scan.
type trieEntry struct {
	id     int32
	piece  bool
	prefix bool
}

// addPiece puts piece and its starts (at character boundaries) in trie.
func addPiece(trie map[string]trieEntry, piece string, id int32) {
	e := trie[piece]
	e.id, e.piece = id, true
	trie[piece] = e
	for i := 1; i < len(piece); i++ {
		if utf8.RuneStart(piece[i]) {
			e := trie[piece[:i]]
			e.prefix = true
			trie[piece[:i]] = e
		}
	}
}

// node is a position of the Viterbi lattice: the best path that ends there.
type node struct {
	score float64
	start int32 // where its last piece starts; -1: not reached
	id    int32
}

// tokenize appends the ids of one pre-tokenized word, stopping once ids
// holds limit ids (0: no limit) at a point where the rest cannot change
// them.
func (u *unigram) tokenize(ids []int, word string, limit int) ([]int, error) {
	if !u.byMeta {
		ids, _, err := u.viterbi(ids, word, 0)
		return ids, err
	}
	var err error
	score := 0.0
	for word != "" && (limit <= 0 || len(ids) < limit) {
		next := strings.Index(word[1:], metaSpace) + 1 // the next ▁ but one at the start
		if next == 0 {
			next = len(word)
		}
		if ids, score, err = u.viterbi(ids, word[:next], score); err != nil {
			return nil, err
		}
		word = word[next:]
	}
	return ids, nil
}

// viterbi appends the ids of the best segmentation of s and returns its
// score plus base. base is the score of the best path up to s when s is a
// piece of a longer word: the sums are then added in the order the whole
// word's lattice adds them, so ties between equal-scoring paths break the
// same way, to the last bit.
func (u *unigram) viterbi(ids []int, s string, base float64) ([]int, float64, error) {
	if s == "" {
		return ids, base, nil
	}
	lattice := make([]node, len(s)+1)
	for i := range lattice {
		lattice[i].start = -1
	}
	lattice[0].start, lattice[0].score = 0, base
	for at := 0; at < len(s); {
		_, charLen := utf8.DecodeRuneInString(s[at:])
		base := lattice[at].score
		single := false
		for end := at + 1; end <= len(s) && end-at <= u.maxPiece; end++ {
			if end < len(s) && !utf8.RuneStart(s[end]) {
				continue // a piece is whole characters
			}
			e := u.trie[s[at:end]]
			if e.piece {
				if n := &lattice[end]; n.start < 0 || base+u.scores[e.id] > n.score {
					n.score, n.start, n.id = base+u.scores[e.id], int32(at), e.id
				}
				if end-at == charLen {
					single = true
				}
			}
			if !e.prefix {
				break
			}
		}
		if !single {
			if u.unk < 0 {
				return nil, 0, kefu.Errorf(kefu.EINVALID, "tokenizer: a character has no piece and the vocabulary no unknown token")
			}
			if n := &lattice[at+charLen]; n.start < 0 || base+u.unkScore > n.score {
				n.score, n.start, n.id = base+u.unkScore, int32(at), int32(u.unk)
			}
		}
		at += charLen
	}
	// Walk the best path back, appending its ids last first with runs of
	// unknowns fused into one, then put them in order.
	first := len(ids)
	unk := int32(u.unk)
	for end := len(s); end > 0; {
		n := lattice[end]
		start := int(n.start)
		for u.unk >= 0 && n.id == unk && start > 0 && lattice[start].id == unk {
			start = int(lattice[start].start)
		}
		if u.unk < 0 || n.id != unk {
			ids = append(ids, int(n.id))
			end = start
			continue
		}
		var err error
		at := len(ids)
		if ids, err = u.appendUnknown(ids, s[start:end]); err != nil {
			return nil, 0, err
		}
		slices.Reverse(ids[at:]) // byte fallback: several ids
		end = start
	}
	slices.Reverse(ids[first:])
	return ids, lattice[len(s)].score, nil
}

// appendUnknown appends the id of a run of unknowns on the best path, as
// HuggingFace does: the run's own id if it is a piece after all, else its
// bytes' <0xXX> pieces with byte fallback, else the unknown id.
func (u *unigram) appendUnknown(ids []int, piece string) ([]int, error) {
	if e := u.trie[piece]; e.piece {
		return append(ids, int(e.id)), nil
	}
	if u.byteFallback {
		n := len(ids)
		for i := 0; i < len(piece); i++ {
			e := u.trie[fmt.Sprintf("<0x%02X>", piece[i])]
			if !e.piece {
				ids = ids[:n]
				break
			}
			ids = append(ids, int(e.id))
		}
		if len(ids) == n+len(piece) {
			return ids, nil
		}
	}
	if u.unk < 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer: a character has no piece and the vocabulary no unknown token")
	}
	return append(ids, u.unk), nil
}
