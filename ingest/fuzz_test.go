package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// fuzzLimits keep fuzz inputs cheap; a parse that runs into MaxTime is a
// hang and fails the target.
var fuzzLimits = Limits{
	MaxFileBytes: 1 << 20, MaxDecompressedBytes: 8 << 20, MaxPages: 50, MaxRows: 2000,
	MaxZipEntries: 200, MaxZipDepth: 2, MaxFieldBytes: 64 << 10, MaxBlocks: 20000,
	MaxPageContentBytes: 1 << 20, MaxTime: 10 * time.Second,
}

// checkParse parses data and checks what any input must give: documents
// that chunk within budget, or a refusal that is a *kefu.Error.
func checkParse(t *testing.T, name string, data []byte) {
	docs, err := Parse(context.Background(), name, data, fuzzLimits)
	if err != nil {
		var ke *kefu.Error
		if !errors.As(err, &ke) || ke.Code == kefu.EINTERNAL {
			t.Fatalf("error %v is not a refusal", err)
		}
		if strings.Contains(ke.Message, "--max-file-time") {
			t.Fatalf("parse hung: %v", err)
		}
		if !strings.Contains(ke.Message, name) {
			t.Fatalf("refusal %q does not name the file", ke.Message)
		}
		return
	}
	ch := &Chunker{Counter: ApproxCounter{}, MaxTokens: 64, Overlap: 8}
	for _, d := range docs {
		if d == nil || d.Source == "" || d.ID == "" {
			t.Fatalf("bad document %+v", d)
		}
		if d.Err != nil {
			continue
		}
		for _, c := range ch.Chunk(d) {
			if c.Kind == kefu.KindPassage && c.Tokens > 64 && len([]rune(c.Text)) > 1 {
				t.Fatalf("chunk over budget: %d tokens", c.Tokens)
			}
		}
	}
}

func FuzzParseMarkdown(f *testing.F) {
	f.Add([]byte("---\ntitle: T\n---\n# A\n\ntext *em* `code`\n\n- a\n  - b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n```go\nx\n```\n"))
	f.Add([]byte("import X from 'x';\n\n<Tabs values={[{a: 1}]}>\n<TabItem>\n\n:::tip\nhi\n:::\n</TabItem>\n</Tabs>\n{/* c */}\n"))
	f.Add([]byte("> > > > deep\n\n1. a\n   1. b\n      1. c\n\n<table><tr><td>a</td><td>b</td></tr></table>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "doc.md", data)
		checkParse(t, "doc.mdx", data)
	})
}

func FuzzParseHTML(f *testing.F) {
	f.Add([]byte("<html><head><title>T</title></head><body><nav><a>menu</a></nav><article><h1>H</h1><p>text</p><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table></article></body></html>"))
	f.Add([]byte("<div class=\"sidebar\"><ul><li>x<ul><li>y</li></ul></li></ul></div><pre><code class=\"language-go\">x</code></pre><p>a<br>b</p>"))
	f.Add([]byte(strings.Repeat("<div>", 600) + "deep" + strings.Repeat("</div>", 600)))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "page.html", data)
	})
}

func FuzzParsePDF(f *testing.F) {
	f.Add(pdfText([][]any{{"Hello world.", "Second line."}, {[]any{"A", -2000, "B"}}}))
	f.Add(pdfImageOnly())
	f.Add(pdfChinese())
	f.Add(pdfType0Words())
	f.Add(pdfType3Chinese())
	f.Add(pdfForm("BT /F1 12 Tf 0 700 Td (Shipping is free.) Tj ET"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "file.pdf", data)
	})
}

// FuzzReadPDFCMap parses fuzzed CMaps (ToUnicode maps, Type 0 encodings)
// and checks they stay within their bounds and give valid text.
func FuzzReadPDFCMap(f *testing.F) {
	f.Add([]byte("1 begincodespacerange <00> <FF> endcodespacerange 2 beginbfchar <01> <9000> <02> /f_i endbfchar"))
	f.Add([]byte("2 begincodespacerange <00> <80> <8140> <FEFE> endcodespacerange 1 beginbfrange <50> <52> [<0070> (q) <0072>] endbfrange"))
	f.Add([]byte("1 beginbfrange <0000> <FFFF> <D83DDE00> endbfrange 1 begincidrange <8150> <8160> 100 endcidrange /UniGB-UCS2-H usecmap"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := readPDFCMap(data)
		if len(m.uni)+len(m.cid) > pdfCMapMaxEntries || len(m.uniRng) > pdfCMapMaxRanges || len(m.cidRng) > pdfCMapMaxRanges {
			t.Fatalf("%d+%d entries, %d+%d ranges", len(m.uni), len(m.cid), len(m.uniRng), len(m.cidRng))
		}
		for _, code := range []uint32{0, 1, 0x41, 0x8140, 0xFFFF, 0xFFFFFFFF} {
			if s, _ := m.text(code); !utf8Valid(s) {
				t.Fatalf("text(%#x) = %q", code, s)
			}
		}
		for _, s := range []string{"\x00", "\x81\x40", "\xff\xff\xff\xff"} {
			if n := m.codeLen(s); n < 0 || n > len(s) {
				t.Fatalf("codeLen(%q) = %d", s, n)
			}
		}
	})
}

func FuzzParseDOCX(f *testing.F) {
	f.Add(docxOf(f, wp("Heading1", -1, "Title")+wp("", 0, "item")+"<w:tbl><w:tr><w:tc>"+wp("", -1, "cell")+"</w:tc></w:tr></w:tbl>",
		`<w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/></w:style>`, "T"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "file.docx", data)
	})
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("问题,相似问法,答案,分类,语言\n怎么退款,如何退款|退款,在订单页申请。,售后,zh\n"))
	f.Add([]byte("q\ta\nhi\thello\n"))
	f.Add([]byte("a,b\n\"x\"\"y\",z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "faq.csv", data)
	})
}

func FuzzParseXLSX(f *testing.F) {
	f.Add(xlsxOf(f, map[string][][]string{"FAQ": {{"问题", "答案"}, {"怎么退款", "在订单页申请。"}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "faq.xlsx", data)
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`[{"id":"1","title":"T","text":"Body.","url":"u","meta":{"a":"b"}}]`))
	f.Add([]byte("{\"_id\": 5, \"text\": \"a\"}\n{\"text\": \"b\"}\n"))
	f.Add([]byte(`{"label":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "data.json", data)
		checkParse(t, "data.jsonl", data)
	})
}

func FuzzParseZIP(f *testing.F) {
	inner := zipOf(f, "c.md", "# C\n\ntext")
	f.Add(zipOf(f, "a.md", "# A\n\nalpha", "dir/b.csv", "question,answer\nq,a\n", "in.zip", string(inner), "_category_.json", "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "kb.zip", data)
	})
}

func FuzzDecodeText(f *testing.F) {
	f.Add([]byte("\xef\xbb\xbfhello"))
	f.Add([]byte("\xff\xfeh\x00i\x00"))
	f.Add([]byte("\xcd\xcb\xbf\xee"))
	f.Add([]byte("caf\xe9"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, enc, ok := DecodeText(data)
		if !ok {
			return
		}
		if enc == "" || !utf8Valid(s) {
			t.Fatalf("DecodeText gave %q in %q", s, enc)
		}
		checkParse(t, "notes.txt", data)
	})
}

// FuzzChunk chunks fuzzed Markdown with fuzzed budgets and checks the
// chunker's promises (budget, order, sentences whole, heading paths).
func FuzzChunk(f *testing.F) {
	f.Add("# A\n\nOne. Two three.\n\n## B\n\n退款。到账。\n\n| h | i |\n|---|---|\n| 1 | 2 |\n", uint8(20), uint8(4))
	f.Add(strings.Repeat("word ", 300), uint8(9), uint8(0))
	f.Fuzz(func(t *testing.T, src string, maxTok, overlap uint8) {
		docs, err := Parse(context.Background(), "f.md", []byte(src), fuzzLimits)
		if err != nil {
			return
		}
		for _, counter := range []kefu.TokenCounter{wordCounter{}, superCounter{}} {
			checkChunks(t, &Chunker{Counter: counter, MaxTokens: int(maxTok), Overlap: int(overlap)}, docs[0])
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
