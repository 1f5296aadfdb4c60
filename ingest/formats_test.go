package ingest

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func TestJSONRecords(t *testing.T) {
	arr := `[{"id": "r1", "title": "Refunds", "text": "Refunds take 3 days.\n\nCards take longer.", "url": "https://x/r", "meta": {"team": "support", "n": 2}},
	          {"title": "No text here"},
	          {"id": 7, "text": "Numbered id."}]`
	docs, err := Parse(context.Background(), "kb.json", []byte(arr), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d docs", len(docs))
	}
	d := docs[0]
	if d.ID != "r1" || d.Title != "Refunds" || d.URL != "https://x/r" || d.Meta["team"] != "support" || d.Meta["n"] != "2" || blockTexts(d.Blocks) != "Refunds take 3 days.\nCards take longer." {
		t.Errorf("first %+v", d)
	}
	if docs[1].ID != "7" || docs[1].Title != "kb" {
		t.Errorf("second id %q title %q", docs[1].ID, docs[1].Title)
	}
	if docs[0].Hash == docs[1].Hash {
		t.Error("records share a hash")
	}

	one := parseOne(t, "note.json", []byte(`{"title":"Note","text":"Just one."}`), Limits{})
	if one.ID != "note.json" || one.Title != "Note" {
		t.Errorf("single object: id %q title %q", one.ID, one.Title)
	}

	jl := "{\"text\":\"line one\"}\n\n{\"text\":\"line two\",\"title\":\"T\"}\n"
	docs, err = Parse(context.Background(), "data.jsonl", []byte(jl), Limits{})
	if err != nil || len(docs) != 2 || docs[0].ID != "data.jsonl#1" || docs[1].ID != "data.jsonl#2" || docs[1].Format != FormatJSONL {
		t.Fatalf("jsonl: %v %+v", err, docs)
	}
}

func TestJSONNotRecords(t *testing.T) {
	for name, src := range map[string]string{
		"_category_.json": `{"label": "Get Started", "position": 1, "link": {"type": "generated-index"}}`,
		"list.json":       `[1, 2, 3]`,
		"str.json":        `"hello"`,
	} {
		_, err := Parse(context.Background(), name, []byte(src), Limits{})
		wantRefusal(t, err, kefu.EUNSUPPORTED, name, "no records with a text field")
	}
	_, err := Parse(context.Background(), "broken.json", []byte(`[{"text": "a"`), Limits{})
	wantRefusal(t, err, kefu.EINVALID, "broken.json")
	_, err = Parse(context.Background(), "rows.jsonl", []byte("{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":\"c\"}\n"), Limits{MaxRows: 2})
	wantRefusal(t, err, kefu.ETOOLARGE, "rows.jsonl: more than 2 records (limit --max-rows)")
}

func TestSciFactRecords(t *testing.T) {
	path := testenv.Shared(t, "data/eval/scifact/corpus.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The first three records, checked against the file itself.
	var head bytes.Buffer
	var want []struct {
		ID    string `json:"_id"`
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; i < 3 && sc.Scan(); i++ {
		head.Write(sc.Bytes())
		head.WriteByte('\n')
		var r struct {
			ID    string `json:"_id"`
			Title string `json:"title"`
			Text  string `json:"text"`
		}
		json.Unmarshal(sc.Bytes(), &r)
		want = append(want, r)
	}
	docs, err := Parse(context.Background(), "corpus.jsonl", head.Bytes(), Limits{})
	if err != nil || len(docs) != 3 {
		t.Fatalf("%v, %d docs", err, len(docs))
	}
	for i, d := range docs {
		if d.ID != want[i].ID || d.Title != want[i].Title || blockTexts(d.Blocks) != strings.TrimSpace(want[i].Text) {
			t.Errorf("record %d: id %q title %q", i, d.ID, d.Title)
		}
	}
}

func TestZIPArchive(t *testing.T) {
	inner := zipOf(t, "deep.md", "# Deep\n\nInside the inner archive.")
	data := zipOf(t,
		"docs/a.md", "# A\n\nAlpha text.",
		"docs/_category_.json", `{"label":"x"}`,
		"docs/image.png", "\x89PNG....",
		"__MACOSX/docs/._a.md", "junk",
		".hidden.md", "# hidden",
		"../evil/b.txt", "Beta text.",
		"nested/inner.zip", string(inner),
		"faq.csv", "question,answer\nHi?,Hello.\n",
	)
	docs, err := Parse(context.Background(), "kb.zip", data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range docs {
		if d.Err != nil {
			got[d.Source] = "ERR " + kefu.ErrorCode(d.Err)
			continue
		}
		got[d.Source] = d.ID + " " + d.Format
	}
	want := map[string]string{
		"kb.zip/docs/a.md":                "kb.zip/docs/a.md md",
		"kb.zip/docs/_category_.json":     "ERR unsupported",
		"kb.zip/docs/image.png":           "ERR unsupported",
		"kb.zip/evil/b.txt":               "kb.zip/evil/b.txt txt",
		"kb.zip/nested/inner.zip/deep.md": "kb.zip/nested/inner.zip/deep.md md",
		"kb.zip/faq.csv":                  "kb.zip/faq.csv csv",
	}
	if len(got) != len(want) {
		t.Errorf("docs %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func TestZIPLimits(t *testing.T) {
	// Nesting beyond MaxZipDepth: the innermost archive is refused, the rest kept.
	l3 := zipOf(t, "c.md", "# C\n\ntext")
	l2 := zipOf(t, "l3.zip", string(l3))
	l1 := zipOf(t, "l2.zip", string(l2), "top.md", "# Top\n\ntext")
	docs, err := Parse(context.Background(), "l1.zip", l1, Limits{MaxZipDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	var refused, ok []string
	for _, d := range docs {
		if d.Err != nil {
			refused = append(refused, kefu.ErrorMessage(d.Err))
		} else {
			ok = append(ok, d.Source)
		}
	}
	if len(ok) != 1 || ok[0] != "l1.zip/top.md" || len(refused) != 1 || !strings.Contains(refused[0], "l1.zip/l2.zip/l3.zip: archives nested deeper than 2 (limit max_zip_depth)") {
		t.Errorf("ok %v refused %v", ok, refused)
	}

	// A bomb: 8 MB of zeros in 8 KB.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("zeros.txt")
	w.Write(make([]byte, 8<<20))
	zw.Close()
	start := time.Now()
	_, err = Parse(context.Background(), "bomb.zip", buf.Bytes(), Limits{MaxDecompressedBytes: 1 << 20})
	wantRefusal(t, err, kefu.ETOOLARGE, "bomb.zip: unpacks to more than 1048576 bytes (limit --max-unpacked-bytes)")
	if time.Since(start) > 5*time.Second {
		t.Error("the bomb was unpacked before being refused")
	}

	// A member whose header lies about its size is refused, not unpacked.
	buf.Reset()
	zw = zip.NewWriter(&buf)
	fw, _ := zw.CreateRaw(&zip.FileHeader{Name: "liar.txt", Method: zip.Store, CRC32: 0, CompressedSize64: 1000, UncompressedSize64: 10})
	fw.Write(bytes.Repeat([]byte("a"), 1000))
	zw.Close()
	docs, err = Parse(context.Background(), "liar.zip", buf.Bytes(), Limits{})
	if err == nil && (len(docs) != 1 || docs[0].Err == nil) {
		t.Errorf("lying member accepted: %+v", docs)
	}

	// Too many entries.
	files := []string{}
	for i := 0; i < 30; i++ {
		files = append(files, strings.Repeat("x", i+1)+".txt", "hi")
	}
	_, err = Parse(context.Background(), "many.zip", zipOf(t, files...), Limits{MaxZipEntries: 20})
	wantRefusal(t, err, kefu.ETOOLARGE, "many.zip: more than 20 archive entries (limit --max-zip-entries)")
}

func TestDecodeText(t *testing.T) {
	const zh = "退款多久到账？审核通过后1-3个工作日。"
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(zh)
	gb18030, _ := simplifiedchinese.GB18030.NewEncoder().String("𠀀字与€符号，测试文本。")
	u16le, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("Hello, 世界\n")
	u16beNoBOM, _ := unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewEncoder().String("Plain ASCII text in UTF-16BE\n")
	u16leNoBOM, _ := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().String("Plain ASCII text in UTF-16LE\n")
	tests := []struct {
		name, in, want, enc string
	}{
		{"utf8", zh, zh, EncUTF8},
		{"utf8 bom", "\xef\xbb\xbf" + zh, zh, EncUTF8},
		{"gbk", gbk, zh, EncGB18030},
		{"gb18030 four-byte", gb18030, "𠀀字与€符号，测试文本。", EncGB18030},
		{"utf16le bom", u16le, "Hello, 世界\n", EncUTF16LE},
		{"utf16be no bom", u16beNoBOM, "Plain ASCII text in UTF-16BE\n", EncUTF16BE},
		{"utf16le no bom", u16leNoBOM, "Plain ASCII text in UTF-16LE\n", EncUTF16LE},
		{"cp1252", "caf\xe9 cr\xe8me br\xfbl\xe9e", "café crème brûlée", EncCP1252},
		{"utf8 one broken byte", zh + "\xff" + zh, zh + "\uFFFD" + zh, EncUTF8},
	}
	for _, tt := range tests {
		got, enc, ok := DecodeText([]byte(tt.in))
		if !ok || got != tt.want || enc != tt.enc {
			t.Errorf("%s: %q %q %v, want %q %q", tt.name, got, enc, ok, tt.want, tt.enc)
		}
	}
	if _, _, ok := DecodeText([]byte("\x00\x01\x02\x03\x89PNG\x00\x00\x00\x1a\x00")); ok {
		t.Error("binary accepted as text")
	}
	// Detection never looks at the name: a GBK file named .md is Markdown in GBK.
	doc := parseOne(t, "说明.md", []byte(gbk), Limits{})
	if blockTexts(doc.Blocks) != zh {
		t.Errorf("GBK markdown: %q", blockTexts(doc.Blocks))
	}
}

func TestTXT(t *testing.T) {
	src := "Returns Guide\n=============\n\nYou can return items\nwithin 30 days.\n\n# Steps\n- open the order\n  and click return\n- print the label\n\n1. First\n2. Second\n\nUnderlined\n----------\nLast paragraph."
	doc := parseOne(t, "guide.txt", []byte(src), Limits{})
	want := "# Returns Guide\nYou can return items\nwithin 30 days.\n# Steps\n- open the order and click return\n- print the label\n1. First\n2. Second\n## Underlined\nLast paragraph."
	if got := blockTexts(doc.Blocks); got != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", got, want)
	}
	if doc.Title != "Returns Guide" {
		t.Errorf("title %q", doc.Title)
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name, data, format, code string
	}{
		{"a.pdf", "%PDF-1.4\n", FormatPDF, ""},
		{"a.txt", "%PDF-1.7\n...", FormatPDF, ""}, // the content says PDF
		{"a.pdf", "just text", "", kefu.EINVALID},
		{"notes", "plain words", FormatText, ""},
		{"data", `[{"text":"x"}]`, FormatJSON, ""},
		{"a.doc", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "", kefu.EUNSUPPORTED},
		{"photo.md", "\x89PNG\r\n\x1a\n", "", kefu.EUNSUPPORTED},
		{"a.pptx", "anything", "", kefu.EUNSUPPORTED},
	}
	for _, tt := range tests {
		f, err := DetectFormat(tt.name, []byte(tt.data))
		if f != tt.format || kefu.ErrorCode(err) != tt.code {
			t.Errorf("DetectFormat(%q, %q) = %q, %v; want %q, %q", tt.name, tt.data, f, err, tt.format, tt.code)
		}
	}
	// A DOCX named .zip is a DOCX.
	if f, _ := DetectFormat("x.zip", docxOf(t, wp("", -1, "hi"), "", "")); f != FormatDOCX {
		t.Errorf("docx by content: %q", f)
	}
}

func TestFileLimits(t *testing.T) {
	_, err := Parse(context.Background(), "big.md", make([]byte, 2000), Limits{MaxFileBytes: 1000})
	wantRefusal(t, err, kefu.ETOOLARGE, "big.md: more than 1000 bytes (limit --max-file-bytes)")
	_, err = Parse(context.Background(), "many.md", []byte(strings.Repeat("para\n\n", 50)), Limits{MaxBlocks: 10})
	wantRefusal(t, err, kefu.ETOOLARGE, "many.md", "max_blocks")
}
