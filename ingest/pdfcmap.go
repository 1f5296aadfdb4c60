package ingest

import (
	"strconv"
	"strings"
	"unicode/utf16"
)

// pdfCMap is a parsed CMap: a font's ToUnicode map (codes to text) or a
// Type 0 font's embedded encoding (codes to CIDs), with the codespace
// ranges that say how many bytes each code of a shown string takes.
//
// Written here rather than taken from github.com/ledongthuc/pdf, whose
// parser only serves fonts without an /Encoding (Type 3 fonts, as Chromium
// writes for CFF-flavoured CJK fonts, lose their Chinese), panics on some
// malformed maps, scans every entry for every glyph and reads no CIDs.
type pdfCMap struct {
	space  []pdfCodeRange
	uni    map[uint32]string // bfchar, and bfranges of up to pdfCMapSpan codes
	uniRng []pdfUniRange     // longer bfranges
	cid    map[uint32]uint32 // cidchar, and short cidranges
	cidRng []pdfCIDRange     // longer cidranges
	parent string            // usecmap: the predefined CMap this one extends
}

type pdfCodeRange struct {
	n      int // bytes
	lo, hi uint32
}

type pdfUniRange struct {
	lo, hi uint32
	dst    []uint16 // UTF-16 of lo's text; later codes add to the last unit
}

type pdfCIDRange struct {
	lo, hi, cid uint32
}

const (
	pdfCMapSpan       = 256     // ranges this long or shorter are expanded into the maps
	pdfCMapMaxEntries = 1 << 18 // map entries kept of one CMap; a 2-byte code space has 65,536
	pdfCMapMaxRanges  = 256     // long ranges kept of one CMap: each glyph's lookup may scan them
	pdfCMapMaxOps     = 1 << 20 // operands on the stack between two operators
)

// cmapTok is one PostScript token of a CMap: a string, a name, a number,
// an array of tokens or an operator.
type cmapTok struct {
	kind byte // 's' string, 'n' name, 'i' number, 'a' array, 'o' operator
	s    string
	i    int64
	a    []cmapTok
}

// readPDFCMap parses a CMap program. Malformed entries are skipped and
// entry counts are not trusted (the operands between the begin and end
// operators are); data that is no CMap gives an empty one.
func readPDFCMap(data []byte) *pdfCMap {
	m := &pdfCMap{uni: map[uint32]string{}, cid: map[uint32]uint32{}}
	lx := cmapLexer{data: data}
	var stk []cmapTok
	entries := 0
	for {
		t, ok := lx.next(0)
		if !ok {
			return m
		}
		if t.kind != 'o' {
			if len(stk) < pdfCMapMaxOps {
				stk = append(stk, t)
			}
			continue
		}
		switch t.s {
		case "endcodespacerange":
			for i := 0; i+1 < len(stk); i += 2 {
				lo, hi := stk[i].s, stk[i+1].s
				if len(lo) == 0 || len(lo) > 4 || len(lo) != len(hi) {
					continue
				}
				m.space = append(m.space, pdfCodeRange{len(lo), pdfCode(lo), pdfCode(hi)})
			}
		case "endbfchar":
			for i := 0; i+1 < len(stk) && entries < pdfCMapMaxEntries; i += 2 {
				if src := stk[i].s; stk[i].kind == 's' && len(src) > 0 && len(src) <= 4 {
					m.uni[pdfCode(src)] = cmapDstText(stk[i+1])
					entries++
				}
			}
		case "endbfrange":
			for i := 0; i+2 < len(stk); i += 3 {
				a, b, ok := cmapRange(stk[i], stk[i+1])
				if !ok {
					continue
				}
				switch dst := stk[i+2]; dst.kind {
				case 'a': // one destination per code
					for j := 0; j < len(dst.a) && uint64(a)+uint64(j) <= uint64(b) && entries < pdfCMapMaxEntries; j++ {
						m.uni[a+uint32(j)] = cmapDstText(dst.a[j])
						entries++
					}
				case 's':
					base := utf16Units(dst.s)
					if len(base) == 0 {
						continue
					}
					if b-a < pdfCMapSpan {
						for c := a; c <= b && entries < pdfCMapMaxEntries; c++ {
							m.uni[c] = pdfRangeText(base, c-a)
							entries++
						}
					} else if len(m.uniRng) < pdfCMapMaxRanges {
						m.uniRng = append(m.uniRng, pdfUniRange{a, b, base})
					}
				}
			}
		case "endcidchar":
			for i := 0; i+1 < len(stk) && entries < pdfCMapMaxEntries; i += 2 {
				if src := stk[i].s; stk[i].kind == 's' && len(src) > 0 && len(src) <= 4 && stk[i+1].kind == 'i' && stk[i+1].i >= 0 {
					m.cid[pdfCode(src)] = uint32(stk[i+1].i)
					entries++
				}
			}
		case "endcidrange":
			for i := 0; i+2 < len(stk); i += 3 {
				a, b, ok := cmapRange(stk[i], stk[i+1])
				if !ok || stk[i+2].kind != 'i' || stk[i+2].i < 0 {
					continue
				}
				cid := uint32(stk[i+2].i)
				if b-a < pdfCMapSpan {
					for c := a; c <= b && entries < pdfCMapMaxEntries; c++ {
						m.cid[c] = cid + c - a
						entries++
					}
				} else if len(m.cidRng) < pdfCMapMaxRanges {
					m.cidRng = append(m.cidRng, pdfCIDRange{a, b, cid})
				}
			}
		case "usecmap":
			if len(stk) > 0 && stk[len(stk)-1].kind == 'n' {
				m.parent = stk[len(stk)-1].s
			}
		}
		stk = stk[:0] // every operator here consumes what came before it
	}
}

// cmapRange reads a range's two codes, which must have one length.
func cmapRange(lo, hi cmapTok) (uint32, uint32, bool) {
	if lo.kind != 's' || hi.kind != 's' || len(lo.s) == 0 || len(lo.s) > 4 || len(lo.s) != len(hi.s) {
		return 0, 0, false
	}
	a, b := pdfCode(lo.s), pdfCode(hi.s)
	return a, b, a <= b
}

// codeLen is how many bytes the code at the start of s takes by the
// codespace ranges, or 0 when none matches.
func (m *pdfCMap) codeLen(s string) int {
	for n := 1; n <= 4 && n <= len(s); n++ {
		c := pdfCode(s[:n])
		for _, r := range m.space {
			if r.n == n && r.lo <= c && c <= r.hi {
				return n
			}
		}
	}
	return 0
}

// text is the text of a code, and whether the map has one.
func (m *pdfCMap) text(code uint32) (string, bool) {
	if s, ok := m.uni[code]; ok {
		return s, true
	}
	for _, r := range m.uniRng {
		if r.lo <= code && code <= r.hi {
			return pdfRangeText(r.dst, code-r.lo), true
		}
	}
	return "", false
}

// cidOf maps a code to its CID, and whether the map has one.
func (m *pdfCMap) cidOf(code uint32) (uint32, bool) {
	if c, ok := m.cid[code]; ok {
		return c, true
	}
	for _, r := range m.cidRng {
		if r.lo <= code && code <= r.hi {
			return r.cid + code - r.lo, true
		}
	}
	return 0, false
}

// pdfCode reads up to four bytes as a big-endian code.
func pdfCode(s string) uint32 {
	var c uint32
	for i := 0; i < len(s) && i < 4; i++ {
		c = c<<8 | uint32(s[i])
	}
	return c
}

// cmapDstText is the text of a bfchar destination: UTF-16BE, or a glyph name.
func cmapDstText(t cmapTok) string {
	switch t.kind {
	case 'n':
		return glyphNameText(t.s)
	case 's':
		return string(utf16.Decode(utf16Units(t.s)))
	}
	return ""
}

// pdfRangeText is the text of the code off codes after a bfrange's first.
func pdfRangeText(base []uint16, off uint32) string {
	u := append([]uint16(nil), base...)
	u[len(u)-1] += uint16(off)
	return string(utf16.Decode(u))
}

func utf16Units(s string) []uint16 {
	u := make([]uint16, 0, (len(s)+1)/2)
	for i := 0; i+1 < len(s); i += 2 {
		u = append(u, uint16(s[i])<<8|uint16(s[i+1]))
	}
	if len(s)%2 == 1 { // a one-byte destination, as some producers write
		u = append(u, uint16(s[len(s)-1]))
	}
	return u
}

// glyphNameText is the text of a glyph name by the Adobe Glyph List's
// rules for names without a list entry: uniXXXX[XXXX…], uXXXX[XX],
// ligatures joined by '_', suffixes after '.' dropped, one ASCII
// character. Other names give "" (callers fall back to the library's list).
func glyphNameText(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if strings.Contains(name, "_") {
		var b strings.Builder
		for _, part := range strings.Split(name, "_") {
			t := glyphNameText(part)
			if t == "" {
				return ""
			}
			b.WriteString(t)
		}
		return b.String()
	}
	if len(name) == 1 && name[0] > ' ' && name[0] < 0x7f {
		return name
	}
	hexRune := func(s string) (rune, bool) {
		if strings.ToUpper(s) != s {
			return 0, false
		}
		r, err := strconv.ParseUint(s, 16, 32)
		return rune(r), err == nil && r <= 0x10FFFF && (r < 0xD800 || r > 0xDFFF)
	}
	if strings.HasPrefix(name, "uni") && len(name) >= 7 && (len(name)-3)%4 == 0 {
		var b strings.Builder
		for i := 3; i < len(name); i += 4 {
			r, ok := hexRune(name[i : i+4])
			if !ok {
				return ""
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	if strings.HasPrefix(name, "u") && len(name) >= 5 && len(name) <= 7 {
		if r, ok := hexRune(name[1:]); ok {
			return string(r)
		}
	}
	return ""
}

// cmapLexer tokenises the PostScript subset CMaps are written in.
type cmapLexer struct {
	data []byte
	pos  int
}

// next reads one token; depth bounds nested arrays.
func (lx *cmapLexer) next(depth int) (cmapTok, bool) {
	d := lx.data
	for lx.pos < len(d) {
		c := d[lx.pos]
		switch {
		case c == '%':
			for lx.pos < len(d) && d[lx.pos] != '\n' && d[lx.pos] != '\r' {
				lx.pos++
			}
		case isPDFSpace(c):
			lx.pos++
		case c == '<' && lx.pos+1 < len(d) && d[lx.pos+1] == '<', c == '>' && lx.pos+1 < len(d) && d[lx.pos+1] == '>':
			lx.pos += 2
			return cmapTok{kind: 'o', s: string(d[lx.pos-2 : lx.pos])}, true
		case c == '<':
			lx.pos++
			var b []byte
			var hi byte
			half := false
			for lx.pos < len(d) && d[lx.pos] != '>' {
				v, ok := unhexByte(d[lx.pos])
				lx.pos++
				if !ok {
					continue
				}
				if half {
					b = append(b, hi<<4|v)
				} else {
					hi = v
				}
				half = !half
			}
			if half {
				b = append(b, hi<<4)
			}
			lx.pos++
			return cmapTok{kind: 's', s: string(b)}, true
		case c == '(':
			return cmapTok{kind: 's', s: lx.literal()}, true
		case c == '/':
			lx.pos++
			start := lx.pos
			for lx.pos < len(d) && !isPDFSpace(d[lx.pos]) && !isPDFDelim(d[lx.pos]) {
				lx.pos++
			}
			return cmapTok{kind: 'n', s: string(d[start:lx.pos])}, true
		case c == '[':
			lx.pos++
			t := cmapTok{kind: 'a'}
			for {
				for lx.pos < len(d) && isPDFSpace(d[lx.pos]) {
					lx.pos++
				}
				if lx.pos >= len(d) || d[lx.pos] == ']' {
					lx.pos++
					return t, true
				}
				e, ok := lx.next(depth + 1)
				if !ok || depth > 8 {
					return t, ok
				}
				if len(t.a) < pdfCMapSpan {
					t.a = append(t.a, e)
				}
			}
		case c == ']' || c == ')' || c == '>' || c == '{' || c == '}':
			lx.pos++
		default:
			start := lx.pos
			for lx.pos < len(d) && !isPDFSpace(d[lx.pos]) && !isPDFDelim(d[lx.pos]) {
				lx.pos++
			}
			w := string(d[start:lx.pos])
			if n, err := strconv.ParseInt(w, 10, 64); err == nil {
				return cmapTok{kind: 'i', i: n}, true
			}
			if _, err := strconv.ParseFloat(w, 64); err == nil {
				return cmapTok{kind: 'i'}, true
			}
			return cmapTok{kind: 'o', s: w}, true
		}
	}
	return cmapTok{}, false
}

// literal reads a (string) with its escapes and balanced parentheses.
func (lx *cmapLexer) literal() string {
	d := lx.data
	lx.pos++
	var b []byte
	for depth := 1; lx.pos < len(d); lx.pos++ {
		c := d[lx.pos]
		switch {
		case c == '\\' && lx.pos+1 < len(d):
			lx.pos++
			switch e := d[lx.pos]; e {
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case '\r', '\n':
			default:
				if e >= '0' && e <= '7' {
					v := 0
					for k := 0; k < 3 && lx.pos < len(d) && d[lx.pos] >= '0' && d[lx.pos] <= '7'; k++ {
						v = v*8 + int(d[lx.pos]-'0')
						lx.pos++
					}
					lx.pos--
					b = append(b, byte(v))
				} else {
					b = append(b, e)
				}
			}
		case c == '(':
			depth++
			b = append(b, c)
		case c == ')':
			depth--
			if depth == 0 {
				lx.pos++
				return string(b)
			}
			b = append(b, c)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0
}

func isPDFDelim(c byte) bool {
	return strings.IndexByte("()<>[]{}/%", c) >= 0
}

func unhexByte(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
