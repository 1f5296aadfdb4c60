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

// parsePairTemplate reads how a post_processor joins two sequences, as
// HuggingFace tokenizers does for encode(a, b). A tokenizer without one
// cannot encode pairs (nil, no error).
func parsePairTemplate(raw json.RawMessage) ([]pairPiece, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Pair       []struct {
			SpecialToken *struct {
				ID     string `json:"id"`
				TypeID int    `json:"type_id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID     string `json:"id"`
				TypeID int    `json:"type_id"`
			} `json:"Sequence"`
		} `json:"pair"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
		Cls []any `json:"cls"`
		Sep []any `json:"sep"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad post_processor: %w", err)
	}
	switch p.Type {
	case "TemplateProcessing":
		var out []pairPiece
		for _, piece := range p.Pair {
			switch {
			case piece.Sequence != nil:
				out = append(out, pairPiece{seq: piece.Sequence.ID, typ: piece.Sequence.TypeID})
			case piece.SpecialToken != nil:
				st, ok := p.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: pair template token %q undefined", piece.SpecialToken.ID)
				}
				out = append(out, pairPiece{ids: st.IDs, typ: piece.SpecialToken.TypeID})
			}
		}
		return out, nil
	case "BertProcessing":
		cls, ok1 := tokenPairID(p.Cls)
		sep, ok2 := tokenPairID(p.Sep)
		if !ok1 || !ok2 {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: BertProcessing without cls/sep")
		}
		return []pairPiece{{ids: []int{cls}}, {seq: "A"}, {ids: []int{sep}}, {seq: "B", typ: 1}, {ids: []int{sep}, typ: 1}}, nil
	case "RobertaProcessing":
		cls, ok1 := tokenPairID(p.Cls)
		sep, ok2 := tokenPairID(p.Sep)
		if !ok1 || !ok2 {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: RobertaProcessing without cls/sep")
		}
		return []pairPiece{{ids: []int{cls}}, {seq: "A"}, {ids: []int{sep, sep}}, {seq: "B"}, {ids: []int{sep}}}, nil
	case "Sequence":
		for _, sub := range p.Processors {
			pieces, err := parsePairTemplate(sub)
			if err != nil {
				return nil, err
			}
			if pieces != nil {
				return pieces, nil
			}
		}
	}
	return nil, nil
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
