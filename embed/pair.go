package embed

import (
	"encoding/json"

	"github.com/kefu-dev/kefu"
)

// pairPiece is one element of a sentence-pair template: special token ids,
// or sequence A or B, with the token type id its tokens get.
type pairPiece struct {
	ids []int  // special token ids; nil for a sequence
	seq string // "A" or "B" for a sequence
	typ int
}

// postProcessor is how a tokenizer.json post_processor wraps sequences, as
// HuggingFace tokenizers does for encode(a) and encode(a, b): the special
// ids around a single sequence, and the template of a pair (nil when the
// tokenizer defines none: it cannot encode pairs).
type postProcessor struct {
	prefix, suffix []int
	pair           []pairPiece
}

// templatePiece is one element of a TemplateProcessing template.
type templatePiece struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"Sequence"`
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	var pp postProcessor
	if len(raw) == 0 || string(raw) == "null" {
		return pp, nil
	}
	var p struct {
		Type          string            `json:"type"`
		Processors    []json.RawMessage `json:"processors"`
		Single        []templatePiece   `json:"single"`
		Pair          []templatePiece   `json:"pair"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
		Cls []any `json:"cls"`
		Sep []any `json:"sep"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return pp, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad post_processor: %w", err)
	}
	special := func(id string) ([]int, error) {
		st, ok := p.SpecialTokens[id]
		if !ok {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: template token %q undefined", id)
		}
		return st.IDs, nil
	}
	switch p.Type {
	case "TemplateProcessing":
		seen := false
		for _, piece := range p.Single {
			switch {
			case piece.Sequence != nil:
				seen = true
			case piece.SpecialToken != nil:
				ids, err := special(piece.SpecialToken.ID)
				if err != nil {
					return pp, err
				}
				if seen {
					pp.suffix = append(pp.suffix, ids...)
				} else {
					pp.prefix = append(pp.prefix, ids...)
				}
			}
		}
		for _, piece := range p.Pair {
			switch {
			case piece.Sequence != nil:
				pp.pair = append(pp.pair, pairPiece{seq: piece.Sequence.ID, typ: piece.Sequence.TypeID})
			case piece.SpecialToken != nil:
				ids, err := special(piece.SpecialToken.ID)
				if err != nil {
					return pp, err
				}
				pp.pair = append(pp.pair, pairPiece{ids: ids, typ: piece.SpecialToken.TypeID})
			}
		}
	case "BertProcessing", "RobertaProcessing":
		cls, ok1 := tokenPairID(p.Cls)
		sep, ok2 := tokenPairID(p.Sep)
		if !ok1 || !ok2 {
			return pp, kefu.Errorf(kefu.EINVALID, "tokenizer.json: %s without cls/sep", p.Type)
		}
		pp.prefix, pp.suffix = []int{cls}, []int{sep}
		if p.Type == "BertProcessing" {
			pp.pair = []pairPiece{{ids: []int{cls}}, {seq: "A"}, {ids: []int{sep}}, {seq: "B", typ: 1}, {ids: []int{sep}, typ: 1}}
		} else {
			pp.pair = []pairPiece{{ids: []int{cls}}, {seq: "A"}, {ids: []int{sep, sep}}, {seq: "B"}, {ids: []int{sep}}}
		}
	case "ByteLevel":
	case "Sequence":
		// The specials of every step wrap a single sequence; the first step
		// with a pair template joins pairs.
		for _, sub := range p.Processors {
			s, err := parsePostProcessor(sub)
			if err != nil {
				return pp, err
			}
			pp.prefix, pp.suffix = append(pp.prefix, s.prefix...), append(pp.suffix, s.suffix...)
			if pp.pair == nil {
				pp.pair = s.pair
			}
		}
	default:
		return pp, kefu.Errorf(kefu.EUNSUPPORTED, "tokenizer.json: post_processor %q is not supported", p.Type)
	}
	return pp, nil
}

// EncodePair returns the ids and token type ids of the pair (a, b) as the
// model's pair template joins them, cut to MaxTokens the way HuggingFace's
// "longest_first" truncation does: one token at a time from the longer side.
func (t *Tokenizer) EncodePair(a, b string) (ids, types []int, err error) {
	if t.pair == nil {
		return nil, nil, kefu.Errorf(kefu.EUNSUPPORTED, "this tokenizer has no sentence-pair template")
	}
	ca, err := t.content(a, 0)
	if err != nil {
		return nil, nil, err
	}
	cb, err := t.content(b, 0)
	if err != nil {
		return nil, nil, err
	}
	if t.maxTokens > 0 {
		special := 0
		for _, p := range t.pair {
			special += len(p.ids)
		}
		budget := max(t.maxTokens-special, 0)
		for len(ca)+len(cb) > budget {
			if len(ca) > len(cb) {
				ca = ca[:len(ca)-1]
			} else {
				cb = cb[:len(cb)-1]
			}
		}
	}
	for _, p := range t.pair {
		part := p.ids
		switch p.seq {
		case "A":
			part = ca
		case "B":
			part = cb
		}
		ids = append(ids, part...)
		for range part {
			types = append(types, p.typ)
		}
	}
	return ids, types, nil
}
