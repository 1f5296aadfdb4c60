package embed

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
	"github.com/sugarme/tokenizer/normalizer"
	"github.com/sugarme/tokenizer/pretrained"
	"golang.org/x/text/unicode/norm"
)

// A textNormalizer performs one step of a tokenizer.json "normalizer".
//
// The steps are written here rather than taken from sugarme/tokenizer because
// its v0.3.0 normalisers differ from HuggingFace's: strip_accents null is read
// as false, accents are removed without NFD first, only ASCII whitespace is
// cleaned, removing a leading multi-byte character duplicates tokens and its
// NFKC leaves text decomposed (see ../shared/models/README.md).
type textNormalizer interface {
	normalize(s string) string
}

// newNormalizer builds the normaliser a tokenizer.json describes; nil config
// is the identity.
func newNormalizer(raw json.RawMessage) (textNormalizer, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad normalizer: %w", err)
	}
	switch head.Type {
	case "BertNormalizer":
		var c struct {
			CleanText          *bool `json:"clean_text"`
			HandleChineseChars *bool `json:"handle_chinese_chars"`
			StripAccents       *bool `json:"strip_accents"`
			Lowercase          *bool `json:"lowercase"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad BertNormalizer: %w", err)
		}
		// HuggingFace defaults: everything on; strip_accents null follows lowercase.
		b := bertNormalizer{cleanText: true, chineseChars: true, lowercase: true}
		if c.CleanText != nil {
			b.cleanText = *c.CleanText
		}
		if c.HandleChineseChars != nil {
			b.chineseChars = *c.HandleChineseChars
		}
		if c.Lowercase != nil {
			b.lowercase = *c.Lowercase
		}
		b.stripAccents = b.lowercase
		if c.StripAccents != nil {
			b.stripAccents = *c.StripAccents
		}
		return b, nil
	case "NFC":
		return formNormalizer{norm.NFC}, nil
	case "NFD":
		return formNormalizer{norm.NFD}, nil
	case "NFKC":
		return formNormalizer{norm.NFKC}, nil
	case "NFKD":
		return formNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripMarksNormalizer{}, nil
	case "Strip", "StripNormalizer":
		var c struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad Strip: %w", err)
		}
		return stripNormalizer{left: c.Left, right: c.Right}, nil
	case "Prepend":
		var c struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad Prepend: %w", err)
		}
		return prependNormalizer(c.Prepend), nil
	case "Replace":
		var c struct {
			Pattern struct {
				String *string `json:"String"`
				Regex  *string `json:"Regex"`
			} `json:"pattern"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad Replace: %w", err)
		}
		switch {
		case c.Pattern.String != nil:
			return replaceNormalizer{old: *c.Pattern.String, new: c.Content}, nil
		case c.Pattern.Regex != nil:
			re, err := regexp.Compile(*c.Pattern.Regex)
			if err != nil {
				return nil, kefu.Errorf(kefu.EUNSUPPORTED, "tokenizer.json: Replace regex %q: %w", *c.Pattern.Regex, err)
			}
			return regexpNormalizer{re: re, new: c.Content}, nil
		}
		return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: Replace without a pattern")
	case "Sequence":
		var c struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad Sequence: %w", err)
		}
		var seq sequenceNormalizer
		for _, sub := range c.Normalizers {
			n, err := newNormalizer(sub)
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "Precompiled", "Nmt":
		// SentencePiece's precompiled character map: no library but sugarme
		// reads it, so its implementation is used for this one step.
		var cfg map[string]any
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, kefu.Errorf(kefu.EINVALID, "tokenizer.json: bad %s: %w", head.Type, err)
		}
		n, err := pretrained.CreateNormalizer(cfg)
		if err != nil {
			return nil, kefu.Errorf(kefu.EUNSUPPORTED, "tokenizer.json: normalizer %s: %w", head.Type, err)
		}
		return sugarmeNormalizer{n}, nil
	}
	return nil, kefu.Errorf(kefu.EUNSUPPORTED, "tokenizer.json: normalizer type %q is not supported", head.Type)
}

// bertNormalizer is HuggingFace's BertNormalizer (tokenizers/src/normalizers/bert.rs).
type bertNormalizer struct {
	cleanText, chineseChars, stripAccents, lowercase bool
}

func (b bertNormalizer) normalize(s string) string {
	if isASCII(s) {
		return b.normalizeASCII(s)
	}
	var sb strings.Builder
	sb.Grow(len(s) + len(s)/2)
	for _, r := range s {
		if b.cleanText {
			if r == 0 || r == utf8.RuneError || isControl(r) {
				continue
			}
			if unicode.IsSpace(r) {
				r = ' '
			}
		}
		if b.chineseChars && isChineseChar(r) {
			sb.WriteByte(' ')
			sb.WriteRune(r)
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(r)
	}
	out := sb.String()
	if b.stripAccents {
		out = stripMarks(norm.NFD.String(out))
	}
	if b.lowercase {
		out = lowercase(out)
	}
	return out
}

// normalizeASCII is the same as normalize for pure ASCII input, in one pass.
func (b bertNormalizer) normalizeASCII(s string) string {
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if b.cleanText {
			switch {
			case c == '\t' || c == '\n' || c == '\r':
				c = ' '
			case c < 0x20 || c == 0x7f:
				continue
			}
		}
		if b.lowercase && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return string(buf)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isControl is HuggingFace's is_control: the Unicode "Other" categories (Cc,
// Cf, Co, Cs and unassigned), except tab, newline and carriage return.
// Unassigned code points follow Go's Unicode tables; HuggingFace's follow an
// older Unicode version, so characters assigned since then (recent emoji)
// are kept here and dropped there.
func isControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) {
		return true
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isChineseChar reports whether r is in a CJK ideograph block, as BERT's
// tokenizer defines it.
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// stripMarks drops non-spacing marks (category Mn).
func stripMarks(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

// lowercase maps each character to its lower case as Rust's char::to_lowercase
// does: per character, no context (Σ is always σ), and İ becomes "i̇".
func lowercase(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if r == 'İ' {
			sb.WriteString("i\u0307")
			continue
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return sb.String()
}

type formNormalizer struct{ f norm.Form }

func (n formNormalizer) normalize(s string) string { return n.f.String(s) }

type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string { return lowercase(s) }

type stripMarksNormalizer struct{}

func (stripMarksNormalizer) normalize(s string) string { return stripMarks(s) }

type stripNormalizer struct{ left, right bool }

func (n stripNormalizer) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// prependNormalizer adds its text in front of any non-empty input.
type prependNormalizer string

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return string(p) + s
}

type replaceNormalizer struct{ old, new string }

func (n replaceNormalizer) normalize(s string) string {
	if n.old == "" {
		return s
	}
	return strings.ReplaceAll(s, n.old, n.new)
}

type regexpNormalizer struct {
	re  *regexp.Regexp
	new string
}

func (n regexpNormalizer) normalize(s string) string { return n.re.ReplaceAllLiteralString(s, n.new) }

type sequenceNormalizer []textNormalizer

func (seq sequenceNormalizer) normalize(s string) string {
	for _, n := range seq {
		s = n.normalize(s)
	}
	return s
}

type sugarmeNormalizer struct{ n normalizer.Normalizer }

func (n sugarmeNormalizer) normalize(s string) (out string) {
	defer func() {
		if recover() != nil {
			out = s // sugarme panics on some inputs; keep the text rather than crash
		}
	}()
	ns, err := n.n.Normalize(normalizer.NewNormalizedFrom(s))
	if err != nil {
		return s
	}
	return ns.GetNormalized()
}
