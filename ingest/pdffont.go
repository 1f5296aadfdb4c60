package ingest

import (
	"errors"
	"io"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// pdfFont is what text extraction needs of a font: how a shown string
// splits into codes, each code's text, and each code's advance width.
//
// Written here because github.com/ledongthuc/pdf's text layer gets all
// three wrong for the fonts common producers write: it takes widths from
// /Widths only (Type 0 fonts, as Chromium writes for TrueType, advance by
// nothing, so words run together or split), scales Type 3 widths by 1/1000
// instead of the font matrix, and decodes Type 3 text through /Encoding
// names instead of /ToUnicode (Chinese came out as "ø :"). The library
// still reads the file, its objects and streams, and its glyph-name list
// serves simple fonts without a ToUnicode map.
type pdfFont struct {
	composite bool
	toUni     *pdfCMap    // ToUnicode, or nil
	enc       *pdfCMap    // a Type 0 font's embedded encoding, or nil
	predef    pdfPredef   // a Type 0 font's predefined encoding, when enc is nil or extends one
	simple    [256]string // a simple font's text by its encoding, for codes ToUnicode lacks
	first     int         // simple: the code of widths[0]
	widths    []float64   // simple: glyph-space widths
	missing   float64     // simple: width of codes outside widths
	cidW      map[uint32]float64
	cidWRng   []pdfCIDWidth
	dw        float64 // composite: default width
	scale     float64 // glyph space to text space: 1/1000, or a Type 3 font matrix's
	vscale    float64 // em height in text space per unit of font size
}

type pdfCIDWidth struct {
	lo, hi uint32
	w      float64
}

// pdfPredef is a family of predefined CMaps (PDF 32000-1 9.7.5.2), which a
// Type 0 font names as its encoding: how codes split and, without a
// ToUnicode map, which character set they are in.
type pdfPredef int

const (
	predefIdentity pdfPredef = iota // Identity-H/V: two-byte codes that are CIDs
	predefUCS2                      // Uni*-UCS2-*: two-byte Unicode
	predefUTF16                     // Uni*-UTF16-*: UTF-16BE
	predefGBK                       // GB*-EUC-*, GBK*: GBK / GB 18030
	predefBig5                      // *B5*, CNS*: Big5
	predefSJIS                      // *RKSJ*: Shift JIS
	predefEUCKR                     // KSC*: EUC-KR / UHC
)

func predefOf(name string) pdfPredef {
	switch {
	case strings.HasPrefix(name, "Uni") && strings.Contains(name, "UCS2"):
		return predefUCS2
	case strings.HasPrefix(name, "Uni") && strings.Contains(name, "UTF16"):
		return predefUTF16
	case strings.HasPrefix(name, "GB"):
		return predefGBK
	case strings.Contains(name, "B5") || strings.HasPrefix(name, "CNS"):
		return predefBig5
	case strings.Contains(name, "RKSJ"):
		return predefSJIS
	case strings.HasPrefix(name, "KSC"):
		return predefEUCKR
	}
	return predefIdentity
}

// codeLen is the length of the code at the start of s.
func (p pdfPredef) codeLen(s string) int {
	b := s[0]
	switch p {
	case predefUTF16:
		if len(s) >= 4 && b >= 0xD8 && b <= 0xDB {
			return 4
		}
	case predefGBK:
		if b < 0x81 {
			return 1
		}
		if len(s) >= 4 && s[1] >= 0x30 && s[1] <= 0x39 {
			return 4
		}
	case predefBig5, predefEUCKR:
		if b < 0x81 {
			return 1
		}
	case predefSJIS:
		if b < 0x81 || b > 0x9F && b < 0xE0 {
			return 1
		}
	}
	return min(2, len(s))
}

var predefCharsets = map[pdfPredef]encoding.Encoding{
	predefGBK:   simplifiedchinese.GB18030,
	predefBig5:  traditionalchinese.Big5,
	predefSJIS:  japanese.ShiftJIS,
	predefEUCKR: korean.EUCKR,
}

// text is the text of a code by its character set; Identity codes have none.
func (p pdfPredef) text(raw string) string {
	switch p {
	case predefIdentity:
		return ""
	case predefUCS2, predefUTF16:
		return string(utf16.Decode(utf16Units(raw)))
	}
	s, err := predefCharsets[p].NewDecoder().String(raw)
	if err != nil || !utf8.ValidString(s) {
		return ""
	}
	return s
}

// next splits the code at the start of s (non-empty): the code, its bytes.
func (f *pdfFont) next(s string) (uint32, int) {
	n := 1
	if f.composite {
		n = 0
		if f.enc != nil {
			n = f.enc.codeLen(s)
		}
		if n == 0 {
			n = f.predef.codeLen(s)
		}
	}
	return pdfCode(s[:n]), n
}

// text is the text of a code: by ToUnicode, else by the font's encoding.
func (f *pdfFont) text(code uint32, raw string) string {
	if f.toUni != nil {
		if s, ok := f.toUni.text(code); ok {
			return s
		}
	}
	if f.composite {
		return f.predef.text(raw)
	}
	return f.simple[code&0xFF]
}

// width is the advance of a code in text space per unit of font size.
func (f *pdfFont) width(code uint32, n int) float64 {
	var w float64
	if f.composite {
		cid, ok := code, f.predef == predefIdentity
		if f.enc != nil {
			if c, found := f.enc.cidOf(code); found {
				cid, ok = c, true
			}
		}
		w = f.dw
		if ok {
			if cw, found := f.cidW[cid]; found {
				w = cw
			} else {
				for _, r := range f.cidWRng {
					if r.lo <= cid && cid <= r.hi {
						w = r.w
						break
					}
				}
			}
		} else if n == 1 { // a one-byte code of a CJK character set is half width
			w = f.dw / 2
		}
	} else {
		w = f.missing
		if i := int(code) - f.first; i >= 0 && i < len(f.widths) && f.widths[i] > 0 {
			w = f.widths[i]
		}
	}
	return w * f.scale
}

// pdfFonts loads fonts once per document: pages share them, and one
// CJK ToUnicode map can be larger than the page that uses it.
type pdfFonts struct {
	p     *parser
	name  string
	left  *budget
	fonts map[string]*pdfFont // by the font dictionary's text, which holds its references
	cmaps map[string]*pdfCMap // by stream, ToUnicode and encoding maps
}

const pdfMaxCMapBytes = 8 << 20 // one CMap stream; the largest CJK ones are a few MB

// load reads the font dictionary v.
func (fs *pdfFonts) load(v pdf.Value) (*pdfFont, error) {
	key := v.String()
	if f, ok := fs.fonts[key]; ok {
		return f, nil
	}
	f := &pdfFont{scale: 0.001, vscale: 1}
	var err error
	if f.toUni, err = fs.cmap(v.Key("ToUnicode")); err != nil {
		return nil, err
	}
	switch v.Key("Subtype").Name() {
	case "Type0":
		f.composite = true
		switch e := v.Key("Encoding"); e.Kind() {
		case pdf.Name:
			f.predef = predefOf(e.Name())
		case pdf.Stream:
			if f.enc, err = fs.cmap(e); err != nil {
				return nil, err
			}
			if f.enc != nil {
				f.predef = predefOf(f.enc.parent)
			}
		}
		d := v.Key("DescendantFonts").Index(0)
		f.dw = 1000
		if dw := d.Key("DW"); dw.Kind() == pdf.Integer || dw.Kind() == pdf.Real {
			f.dw = dw.Float64()
		}
		f.cidW, f.cidWRng = cidWidths(d.Key("W"))
	case "Type3":
		m := v.Key("FontMatrix")
		if a, d := m.Index(0).Float64(), m.Index(3).Float64(); m.Len() == 6 && a != 0 && finite(a) && finite(d) {
			f.scale = a
			if h := math.Abs(d) * 1000; h > 0.01 && h < 100 {
				f.vscale = h
			}
		}
		fallthrough
	default:
		fs.simpleFont(f, v)
	}
	if len(fs.fonts) < 4096 {
		fs.fonts[key] = f
	}
	return f, nil
}

// simpleFont reads a one-byte font's widths and encoding.
func (fs *pdfFonts) simpleFont(f *pdfFont, v pdf.Value) {
	f.first = int(v.Key("FirstChar").Int64())
	ws := v.Key("Widths")
	for i := 0; i < ws.Len() && i < 256; i++ {
		f.widths = append(f.widths, ws.Index(i).Float64())
	}
	f.missing = v.Key("FontDescriptor").Key("MissingWidth").Float64()
	if f.missing <= 0 && len(f.widths) == 0 {
		// A standard font without widths: an average glyph.
		f.missing = 500
		if strings.Contains(v.Key("BaseFont").Name(), "Courier") {
			f.missing = 600
		}
	}
	enc := v.Key("Encoding")
	base := charmap.Windows1252
	name := enc.Name()
	if enc.Kind() == pdf.Dict {
		name = enc.Key("BaseEncoding").Name()
	}
	if name == "MacRomanEncoding" {
		base = charmap.Macintosh
	}
	for c := range 256 {
		if r := base.DecodeByte(byte(c)); r != utf8.RuneError {
			f.simple[c] = string(r)
		}
	}
	diffs := enc.Key("Differences")
	if diffs.Kind() != pdf.Array {
		return
	}
	// The library knows the Adobe Glyph List's names; glyphNameText the
	// uniXXXX forms and ligatures it does not.
	lib := (&pdf.Font{V: v}).Encoder()
	code := -1
	for i := 0; i < diffs.Len() && i < 1024; i++ {
		switch d := diffs.Index(i); d.Kind() {
		case pdf.Integer:
			code = int(d.Int64())
		case pdf.Name:
			if code >= 0 && code < 256 {
				if t := glyphNameText(d.Name()); t != "" {
					f.simple[code] = t
				} else if s := lib.Decode(string([]byte{byte(code)})); s != string(rune(code)) && utf8.ValidString(s) {
					f.simple[code] = s
				}
			}
			code++
		}
	}
}

// cidWidths reads a CIDFont's W array: "c [w1 w2 …]" and "c_first c_last w".
func cidWidths(w pdf.Value) (map[uint32]float64, []pdfCIDWidth) {
	m := map[uint32]float64{}
	var rng []pdfCIDWidth
	for i := 0; i < w.Len() && len(m) < pdfCMapMaxEntries && len(rng) < pdfCMapMaxRanges; {
		c := w.Index(i)
		if c.Kind() != pdf.Integer || c.Int64() < 0 {
			break
		}
		first := uint32(c.Int64())
		switch next := w.Index(i + 1); next.Kind() {
		case pdf.Array:
			for j := 0; j < next.Len() && len(m) < pdfCMapMaxEntries; j++ {
				m[first+uint32(j)] = next.Index(j).Float64()
			}
			i += 2
		case pdf.Integer:
			last := next.Int64()
			if last < int64(first) {
				return m, rng
			}
			width := w.Index(i + 2).Float64()
			if last-int64(first) < pdfCMapSpan {
				for c := first; int64(c) <= last && len(m) < pdfCMapMaxEntries; c++ {
					m[c] = width
				}
			} else {
				rng = append(rng, pdfCIDWidth{first, uint32(last), width})
			}
			i += 3
		default:
			return m, rng
		}
	}
	return m, rng
}

// cmap reads and parses a CMap stream once per document, its unpacked
// bytes counted against the upload's budget. A stream that cannot be read
// gives no map: the font's text is then read as if it had none.
func (fs *pdfFonts) cmap(v pdf.Value) (*pdfCMap, error) {
	if v.Kind() != pdf.Stream {
		return nil, nil
	}
	key := v.String()
	if m, ok := fs.cmaps[key]; ok {
		return m, nil
	}
	data, err := readPDFStream(v, pdfMaxCMapBytes)
	if errors.Is(err, errStreamTooLarge) {
		return nil, tooLarge(fs.name, "max_decompressed_bytes", "a font's character map unpacks to more than %d bytes", pdfMaxCMapBytes)
	}
	if !fs.left.take(int64(len(data))) {
		return nil, tooLarge(fs.name, "max_decompressed_bytes", "unpacks to more than %d bytes", fs.p.lim.MaxDecompressedBytes)
	}
	var m *pdfCMap
	if err == nil {
		m = readPDFCMap(data)
	}
	fs.cmaps[key] = m
	return m, nil
}

var errStreamTooLarge = errors.New("stream too large")

// readPDFStream unpacks a stream up to max bytes. The library panics on
// filters it does not know; that is an error of this stream alone. The
// panic of an aborted parse goes on.
func readPDFStream(v pdf.Value, max int64) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, errAborted) {
				panic(r)
			}
			data, err = nil, errors.New("unreadable stream")
		}
	}()
	rc := v.Reader()
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, max+1))
	if int64(len(data)) > max {
		return nil, errStreamTooLarge
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return data, err
}
