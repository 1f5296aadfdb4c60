package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// pdfPlainText is the text of a document's blocks, one a line, pages left out.
func pdfPlainText(doc *Doc) string {
	var lines []string
	for _, b := range doc.Blocks {
		if b.Kind != BlockPage {
			lines = append(lines, b.Text)
		}
	}
	return strings.Join(lines, "\n")
}

// toUnicode is a ToUnicode CMap stream mapping one-byte or two-byte codes
// (by the width of the first key) to the runes of text, from 1 up.
func toUnicode(text string, twoByte bool) string {
	var b strings.Builder
	rs := []rune(text)
	if twoByte {
		b.WriteString("1 begincodespacerange <0000> <FFFF> endcodespacerange\n")
	} else {
		b.WriteString("1 begincodespacerange <00> <FF> endcodespacerange\n")
	}
	fmt.Fprintf(&b, "%d beginbfchar\n", len(rs))
	for i, r := range rs {
		if twoByte {
			fmt.Fprintf(&b, "<%04X> <%04X>\n", i+1, r)
		} else {
			fmt.Fprintf(&b, "<%02X> <%04X>\n", i+1, r)
		}
	}
	b.WriteString("endbfchar\n")
	return pdfStream("", "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"+b.String()+"endcmap CMapName currentdict /CMap defineresource pop end end")
}

// A Type 0 font as Chromium writes TrueType ones: two-byte glyph ids,
// widths in the descendant font's W array, no space glyphs (a word gap is
// a TJ adjustment) and small per-glyph kerning. Words must neither split
// ("r etur n") nor run together.
func pdfType0Words() []byte {
	// Glyph ids 1… are the letters of "Gift cards return" without repeats.
	letters := "Giftcardsuen"
	width := map[rune]int{'G': 775, 'i': 278, 'f': 352, 't': 392, 'c': 550, 'a': 613, 'r': 411, 'd': 635, 's': 521, 'u': 634, 'e': 615, 'n': 634}
	id := func(word string) string {
		var b strings.Builder
		for _, r := range word {
			fmt.Fprintf(&b, "%04X", strings.IndexRune(letters, r)+1)
		}
		return "<" + b.String() + ">"
	}
	var w strings.Builder
	for i, r := range letters {
		fmt.Fprintf(&w, "%d [%d] ", i+1, width[r])
	}
	// "return" glyph by glyph with kerning, as shaping writes it.
	var ret strings.Builder
	for i, r := range "return" {
		fmt.Fprintf(&ret, "%s %d ", id(string(r)), []int{12, -8, 15, 0, 9, 0}[i])
	}
	content := "BT /F1 11 Tf 1 0 0 1 72 700 Tm [" + id("Gift") + " -318 " + id("cards") + "] TJ\n" +
		"1 0 0 1 72 684 Tm [" + ret.String() + "] TJ ET"
	return pdfWithFonts(content, []string{
		"<< /Type /Font /Subtype /Type0 /BaseFont /AAAAAA+DejaVuSans /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
	},
		"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /AAAAAA+DejaVuSans /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 0 /W ["+w.String()+"] >>",
		toUnicode(letters, true),
	)
}

func TestPDFType0WordSpacing(t *testing.T) {
	data := pdfType0Words()
	if got := pdfPlainText(parseOne(t, "words.pdf", data, Limits{})); got != "Gift cards return" {
		t.Errorf("text %q, want %q", got, "Gift cards return")
	}
}

// A Type 3 font as Chromium writes CFF-flavoured CJK fonts: an encoding of
// made-up glyph names, the text only in ToUnicode, widths scaled by a font
// matrix that flips y, in a flipped coordinate system.
func pdfType3Chinese() []byte {
	content := ".75 0 0 -.75 0 792 cm BT /F1 26 Tf 1 0 0 -1 96 64 Tm <01> Tj 26 0 Td <02> Tj 26 0 Td <0304> Tj ET\n" +
		"BT /F1 14 Tf 1 0 0 -1 96 110 Tm <05060708090A0B0C0D> Tj ET"
	return pdfWithFonts(content, []string{
		"<< /Type /Font /Subtype /Type3 /FontMatrix [.001 0 0 -.001 0 0] /FontBBox [0 120 1000 -880] /FirstChar 1 /LastChar 13" +
			" /Widths [" + strings.Repeat("1000 ", 13) + "] /Encoding << /Type /Encoding /Differences [1 /g1 /g2 /g3 /g4 /g5 /g6 /g7 /g8 /g9 /g10 /g11 /g12 /g13] >>" +
			" /CharProcs << >> /Resources << >> /ToUnicode 6 0 R >>",
	}, toUnicode("退货政策礼品卡不能兑换现金", false))
}

func TestPDFType3ToUnicode(t *testing.T) {
	data := pdfType3Chinese()
	doc := parseOne(t, "type3.pdf", data, Limits{})
	if got := blockTexts(doc.Blocks); got != "<page>\n# 退货政策\n礼品卡不能兑换现金" {
		t.Errorf("blocks %q, want the heading 退货政策 over 礼品卡不能兑换现金", got)
	}
}

// Type 0 fonts without ToUnicode on predefined CMaps, as older Chinese
// producers write non-embedded fonts: the codes are the text's own
// encoding (UCS-2, GBK).
func TestPDFPredefinedCMaps(t *testing.T) {
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("礼品卡 A1")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ encoding, codes string }{
		"ucs2.pdf": {"UniGB-UCS2-H", "<793C54C153610020004100310020>"},
		"gbk.pdf":  {"GBK-EUC-H", "<" + fmt.Sprintf("%X", gbk) + ">"},
	} {
		data := pdfWithFonts("BT /F1 12 Tf 72 700 Td "+c.codes+" Tj ET", []string{
			"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /" + c.encoding + " /DescendantFonts [6 0 R] >>",
		}, "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /SimSun /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /DW 1000 >>")
		if got := pdfPlainText(parseOne(t, name, data, Limits{})); got != "礼品卡 A1" {
			t.Errorf("%s: text %q, want 礼品卡 A1", name, got)
		}
	}
}

// Text drawn by a form XObject is read, and the form's bytes count against
// the page's limit.
func pdfForm(body string) []byte {
	return pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /X1 5 0 R >> >> /Contents 4 0 R >>",
		pdfStream("", "q 1 0 0 1 0 0 cm /X1 Do Q"),
		pdfStream("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Matrix [1 0 0 1 72 0] /Resources << /Font << /F1 6 0 R >> >>", body),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	})
}

func TestPDFFormXObject(t *testing.T) {
	form := pdfForm
	doc := parseOne(t, "form.pdf", form("BT /F1 12 Tf 0 700 Td (Shipping is free.) Tj ET"), Limits{})
	if got := pdfPlainText(doc); got != "Shipping is free." {
		t.Errorf("text %q", got)
	}
	big := "BT /F1 12 Tf 0 700 Td (x) Tj ET\n" + strings.Repeat("0 0 m 1 1 l S\n", 20000)
	_, err := Parse(t.Context(), "bigform.pdf", form(big), Limits{MaxPageContentBytes: 100 << 10})
	wantRefusal(t, err, kefu.ETOOLARGE, "bigform.pdf", "page 1", "max_page_content_bytes")
}

func TestReadPDFCMap(t *testing.T) {
	m := readPDFCMap([]byte(`%!PS-Adobe-3.0 Resource-CMap
/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
2 begincodespacerange <00> <80> <8140> <FEFE> endcodespacerange
5 beginbfchar
<41> <0041>
<42> <00660069>
<8141> /uni9000
endbfchar
2 beginbfrange
<50> <52> [<0070> (\000q) <0072>]
<9000> <90FF> <4E00>
<A000> <AFFF> <D83DDE00>
endbfrange
1 begincidrange <8150> <8160> 100 endcidrange
endcmap CMapName currentdict /CMap defineresource pop end end`))
	for code, want := range map[uint32]string{
		0x41: "A", 0x42: "fi", 0x8141: "退", 0x50: "p", 0x51: "q", 0x52: "r",
		0x9000: "一", 0x90FF: "\u4eff", 0xA001: "\U0001F601",
	} {
		if got, ok := m.text(code); !ok || got != want {
			t.Errorf("text(%#x) = %q %v, want %q", code, got, ok, want)
		}
	}
	if _, ok := m.text(0x43); ok {
		t.Error("text(0x43) found, want none")
	}
	for s, n := range map[string]int{"A\x81\x41": 1, "\x81\x41": 2, "\xff": 0} {
		if got := m.codeLen(s); got != n {
			t.Errorf("codeLen(%q) = %d, want %d", s, got, n)
		}
	}
	if cid, ok := m.cidOf(0x8155); !ok || cid != 105 {
		t.Errorf("cidOf(0x8155) = %d %v, want 105", cid, ok)
	}
}

func TestGlyphNameText(t *testing.T) {
	for name, want := range map[string]string{
		"uni9000": "退", "uni00660069": "fi", "u1F600": "😀", "f_i": "fi", "a.sc": "a", "A": "A",
		"g12": "", "uni12": "", "uniD800": "", "uni00e9": "",
	} {
		if got := glyphNameText(name); got != want {
			t.Errorf("glyphNameText(%q) = %q, want %q", name, got, want)
		}
	}
}

// Metadata titles that name nothing give way to the first heading, then
// to the first paragraph; real titles stay.
func TestPDFTitle(t *testing.T) {
	widths := strings.TrimSpace(strings.Repeat("556 ", 126-32+1))
	helvetica := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 32 /LastChar 126 /Widths [" + widths + "] >>"
	withHeading := "BT /F1 20 Tf 72 720 Td (Returns policy) Tj /F1 12 Tf 0 -40 Td (Items can be returned within 30 days of delivery for a full refund.) Tj ET"
	bodyOnly := "BT /F1 12 Tf 72 720 Td (Items can be returned within 30 days of delivery for a full refund or an exchange.) Tj ET"
	for _, c := range []struct{ title, content, want string }{
		{"(about:blank)", withHeading, "Returns policy"},
		{"(Untitled)", withHeading, "Returns policy"},
		{"(returns-en.html)", withHeading, "Returns policy"},
		{"(https://shop.example/returns)", withHeading, "Returns policy"},
		{"(Microsoft Word - returns.docx)", withHeading, "Returns policy"},
		{"(Document1)", withHeading, "Returns policy"},
		{"<FEFF65E06807989865876863>", withHeading, "Returns policy"}, // 无标题文档
		{"", withHeading, "Returns policy"},
		{"(about:blank)", bodyOnly, "Items can be returned within 30 days of delivery for a full refund or an…"},
		{"(Lantern Goods returns policy 2026)", withHeading, "Lantern Goods returns policy 2026"},
		{"<FEFF90008D27653F7B56>", withHeading, "退货政策"},
	} {
		objs := []string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
			pdfStream("", c.content),
			helvetica,
		}
		trailer := ""
		if c.title != "" {
			objs = append(objs, "<< /Title "+c.title+" /Producer (Skia/PDF m156) >>")
			trailer = "/Info 6 0 R "
		}
		doc := parseOne(t, "doc.pdf", pdfObjectsTrailer(objs, trailer), Limits{})
		if doc.Title != c.want {
			t.Errorf("title %s: %q, want %q", c.title, doc.Title, c.want)
		}
	}
}
