package ingest

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// Text encodings DecodeText recognises.
const (
	EncUTF8    = "utf-8"
	EncUTF16LE = "utf-16le"
	EncUTF16BE = "utf-16be"
	EncUTF32LE = "utf-32le"
	EncUTF32BE = "utf-32be"
	EncGB18030 = "gb18030"
	EncCP1252  = "windows-1252"
)

// DecodeText returns data as UTF-8 text and the encoding it was detected
// in, by content only: a byte-order mark; UTF-16 by its pattern of NUL
// bytes; valid UTF-8; GB18030 (a superset of GBK, what Windows in Chinese
// exports CSV and TXT in) when data is not UTF-8 but decodes cleanly as
// GB18030 into mostly Chinese; Windows-1252 for the rest that is mostly
// ASCII. It fails on binary data.
//
// Detection is written here because golang.org/x/text only decodes, and
// the general detectors (gogs/chardet) guess among dozens of encodings from
// statistics and confuse short GBK text with Big5 or EUC-KR, while a
// support team only ever has these.
func DecodeText(data []byte) (string, string, bool) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return validUTF8(data[3:]), EncUTF8, true
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0, 0}):
		return decodeWith(utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), data[4:]), EncUTF32LE, true
	case bytes.HasPrefix(data, []byte{0, 0, 0xFE, 0xFF}):
		return decodeWith(utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), data[4:]), EncUTF32BE, true
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return decodeWith(xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM), data[2:]), EncUTF16LE, true
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return decodeWith(xunicode.UTF16(xunicode.BigEndian, xunicode.IgnoreBOM), data[2:]), EncUTF16BE, true
	}
	if enc := utf16ByNULs(data); enc != "" {
		e := xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM)
		if enc == EncUTF16BE {
			e = xunicode.UTF16(xunicode.BigEndian, xunicode.IgnoreBOM)
		}
		return decodeWith(e, data), enc, true
	}
	if bytes.IndexByte(data, 0) >= 0 && nulShare(data) > 0.01 {
		return "", "", false // binary
	}
	valid, invalid := utf8Counts(data)
	if invalid == 0 {
		return string(data), EncUTF8, true
	}
	// A few broken bytes in otherwise UTF-8 text: keep the text. GBK read
	// as UTF-8 has far more broken bytes than valid sequences.
	if valid >= 10*invalid {
		return validUTF8(data), EncUTF8, true
	}
	if s, ok := gb18030Text(data); ok {
		return s, EncGB18030, true
	}
	if highShare(data) < 0.3 && !hasControl(data) {
		return decodeWith(charmap.Windows1252, data), EncCP1252, true
	}
	return "", "", false
}

func decodeWith(e encoding.Encoding, data []byte) string {
	out, err := e.NewDecoder().Bytes(data)
	if err != nil {
		return validUTF8(data)
	}
	return validUTF8(out)
}

// validUTF8 returns data as a string with invalid bytes replaced by U+FFFD.
func validUTF8(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	return string(bytes.ToValidUTF8(data, []byte("\uFFFD")))
}

// utf16ByNULs recognises UTF-16 without a byte-order mark: text that is
// mostly ASCII has a NUL in every other byte, on the odd side for little
// endian. It looks at the first 4 KiB.
func utf16ByNULs(data []byte) string {
	n := min(len(data), 4096) &^ 1
	if n < 4 {
		return ""
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if data[i] == 0 {
			even++
		}
		if data[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*3 && even*20 < pairs:
		return EncUTF16LE
	case even*10 >= pairs*3 && odd*20 < pairs:
		return EncUTF16BE
	}
	return ""
}

func nulShare(data []byte) float64 {
	n := min(len(data), 4096)
	return float64(bytes.Count(data[:n], []byte{0})) / float64(max(n, 1))
}

// utf8Counts counts the valid multi-byte sequences and the invalid bytes.
func utf8Counts(data []byte) (valid, invalid int) {
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			invalid++
			i++
			continue
		}
		valid++
		i += size
	}
	return valid, invalid
}

// gb18030Text decodes data as GB18030 and accepts it when nothing is
// broken (but a last character cut short), the result is mostly Chinese,
// and most double-byte characters are in the common GB2312 range (both
// bytes from 0xA1): Latin-1 text also decodes "cleanly", into rare
// characters whose second byte is an ASCII letter.
func gb18030Text(data []byte) (string, bool) {
	var pairs, rare int
	for i := 0; i < len(data); i++ {
		if data[i] < 0x80 {
			continue
		}
		pairs++
		if i+1 < len(data) && data[i+1] < 0xA1 {
			rare++
		}
		i++
	}
	if pairs == 0 || rare*5 > pairs {
		return "", false
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	if err != nil {
		return "", false
	}
	s := strings.TrimSuffix(string(out), "\uFFFD")
	var han, other int
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "", false
		case r < utf8.RuneSelf:
		case unicode.Is(unicode.Han, r) || isCJKSymbol(r):
			han++
		default:
			other++
		}
	}
	return s, han > 0 && han >= 4*other
}

// isCJKSymbol reports full-width and CJK punctuation, which GBK text is
// full of.
func isCJKSymbol(r rune) bool {
	return (r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF) || (r >= 0x2010 && r <= 0x2027)
}

func highShare(data []byte) float64 {
	high := 0
	for _, c := range data {
		if c >= 0x80 {
			high++
		}
	}
	return float64(high) / float64(max(len(data), 1))
}

// hasControl reports control bytes that never occur in text.
func hasControl(data []byte) bool {
	for _, c := range data {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1A {
			return true
		}
	}
	return false
}
