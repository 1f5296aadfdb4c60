package ingest

import (
	"context"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
)

func TestDOCXStructure(t *testing.T) {
	// Style ids as a Chinese Word writes them ("1", "2"), named in English
	// in styles.xml; a custom style based on a heading; a title.
	styles := `<w:style w:type="paragraph" w:styleId="a"><w:name w:val="Normal"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/><w:basedOn w:val="a"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="2"><w:name w:val="heading 2"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="MyHead"><w:name w:val="Fancy Head"/><w:basedOn w:val="2"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Outline3"><w:name w:val="Custom"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>` +
		`<w:style w:type="paragraph" w:styleId="a5"><w:name w:val="Title"/></w:style>`
	table := `<w:tbl><w:tr><w:trPr><w:tblHeader/></w:trPr><w:tc><w:p><w:r><w:t>方式</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>时间</w:t></w:r></w:p></w:tc></w:tr>` +
		`<w:tr><w:tc><w:p><w:r><w:t>支付宝</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>1天</w:t></w:r></w:p><w:p><w:r><w:t>（工作日）</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`
	body := wp("a5", -1, "售后手册") +
		wp("1", -1, "退款") +
		wp("", -1, "审核通过后退款。") +
		wp("", 0, "打开订单") +
		wp("", 1, "点击申请") +
		table +
		wp("MyHead", -1, "Refund timing") +
		wp("Heading3", -1, "Built-in id") +
		wp("Outline3", -1, "By outline level") +
		`<w:p><w:r><w:t>Tab</w:t></w:r><w:r><w:tab/><w:t>separated</w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del><w:r><w:instrText>HYPERLINK "x"</w:instrText></w:r></w:p>`
	doc := parseOne(t, "manual.docx", docxOf(t, body, styles, "After-sales manual"), Limits{})
	want := "# 售后手册\n# 退款\n审核通过后退款。\n- 打开订单\n- 点击申请\n| 方式 | 时间 |\n| 支付宝 | 1天 （工作日） |\n## Refund timing\n### Built-in id\n### By outline level\nTab separated"
	if got := blockTexts(doc.Blocks); got != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", got, want)
	}
	if doc.Title != "After-sales manual" || doc.Format != FormatDOCX {
		t.Errorf("title %q format %q", doc.Title, doc.Format)
	}
	for _, b := range doc.Blocks {
		if b.Text == "- 点击申请" && b.Level != 2 {
			t.Errorf("list level %d, want 2", b.Level)
		}
	}
}

func TestDOCXTitleFromStyleAndNestedTable(t *testing.T) {
	inner := `<w:tbl><w:tr><w:tc><w:p><w:r><w:t>x</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>y</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`
	body := wp("Title", -1, "Guide") +
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>A</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>B</w:t></w:r></w:p></w:tc></w:tr>` +
		`<w:tr><w:tc>` + inner + `</w:tc><w:tc><w:p><w:r><w:t>C</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`
	doc := parseOne(t, "g.docx", docxOf(t, body, "", ""), Limits{})
	if want := "# Guide\n| A | B |\n| x | y | C |"; blockTexts(doc.Blocks) != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", blockTexts(doc.Blocks), want)
	}
	if doc.Title != "Guide" {
		t.Errorf("title %q", doc.Title)
	}
}

func TestDOCXBombRefused(t *testing.T) {
	// document.xml of 2 MB of repeated text compresses to a few KB.
	body := strings.Repeat(wp("", -1, "padding text"), 30000)
	data := docxOf(t, body, "", "")
	if len(data) > 100<<10 {
		t.Fatalf("fixture is %d bytes", len(data))
	}
	_, err := Parse(context.Background(), "bomb.docx", data, Limits{MaxDecompressedBytes: 1 << 20})
	wantRefusal(t, err, kefu.ETOOLARGE, "bomb.docx", "--max-unpacked-bytes")
}

func TestDOCXMalformed(t *testing.T) {
	data := zipOf(t, "word/document.xml", "<w:document><w:body><w:p>")
	_, err := Parse(context.Background(), "bad.docx", data, Limits{})
	wantRefusal(t, err, kefu.EINVALID, "bad.docx")
}
