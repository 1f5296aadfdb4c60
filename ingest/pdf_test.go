package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

func parseOne(t *testing.T, name string, data []byte, lim Limits) *Doc {
	t.Helper()
	docs, err := Parse(context.Background(), name, data, lim)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	if len(docs) != 1 {
		t.Fatalf("Parse(%s): %d documents, want 1", name, len(docs))
	}
	return docs[0]
}

// wantRefusal checks err is a *kefu.Error with code whose message contains
// every one of parts.
func wantRefusal(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := kefu.ErrorCode(err); got != code {
		t.Fatalf("code %q (%v), want %q", got, err, code)
	}
	for _, p := range parts {
		if !strings.Contains(kefu.ErrorMessage(err), p) {
			t.Errorf("message %q lacks %q", kefu.ErrorMessage(err), p)
		}
	}
}

func TestPDFTwoPages(t *testing.T) {
	data := pdfText([][]any{
		{"Refund policy", "Refunds are paid within five days.", "Contact support for help."},
		{[]any{"Shipping", -3000, "takes", -3000, "two", -3000, "days."}},
	})
	doc := parseOne(t, "policy.pdf", data, Limits{})
	if doc.Format != FormatPDF || doc.Source != "policy.pdf" || doc.ID != "policy.pdf" {
		t.Errorf("format %q source %q id %q", doc.Format, doc.Source, doc.ID)
	}
	var pages []int
	page := 0
	text := map[int][]string{}
	for _, b := range doc.Blocks {
		if b.Kind == BlockPage {
			page = b.Page
			pages = append(pages, b.Page)
			continue
		}
		text[page] = append(text[page], b.Text)
	}
	if fmt.Sprint(pages) != "[1 2]" {
		t.Fatalf("page markers %v, want [1 2]", pages)
	}
	// Lines 16 pt apart in 12 pt type are one paragraph, unless a line
	// stops short with room for the next one's first word: the writer
	// broke it there (a title line, a list item whose bullet is drawn).
	if got, want := strings.Join(text[1], "|"), "Refund policy|Refunds are paid within five days. Contact support for help."; got != want {
		t.Errorf("page 1 = %q, want %q", got, want)
	}
	// Word spaces made by TJ kerning (as pdfTeX writes) are recovered.
	if got, want := strings.Join(text[2], "|"), "Shipping takes two days."; got != want {
		t.Errorf("page 2 = %q, want %q", got, want)
	}
	// A chunk never spans two pages, even when both would fit: its page
	// number cites exactly where its text is.
	chunks := (&Chunker{Counter: wordCounter{}, MaxTokens: 64}).Chunk(doc)
	if len(chunks) != 2 || chunks[0].Page != 1 || chunks[1].Page != 2 || !strings.Contains(chunks[1].Text, "Shipping") {
		t.Fatalf("chunks %+v", chunks)
	}
	// With a budget too small for both pages, the second page's chunk says page 2.
	chunks = (&Chunker{Counter: wordCounter{}, MaxTokens: 16}).Chunk(doc)
	last := chunks[len(chunks)-1]
	if last.Page != 2 || !strings.Contains(last.Text, "Shipping") {
		t.Errorf("last chunk page %d text %q", last.Page, last.Text)
	}
}

func TestPDFChineseToUnicode(t *testing.T) {
	doc := parseOne(t, "zh.pdf", pdfChinese(), Limits{})
	var got []string
	for _, b := range doc.Blocks {
		if b.Kind != BlockPage {
			got = append(got, b.Text)
		}
	}
	if strings.Join(got, "|") != "退款政策" {
		t.Errorf("text %q, want 退款政策", got)
	}
}

func TestPDFScannedRefused(t *testing.T) {
	_, err := Parse(context.Background(), "scan.pdf", pdfImageOnly(), Limits{})
	wantRefusal(t, err, kefu.EUNSUPPORTED, "scan.pdf", "scanned", "no text")
}

func TestPDFPageLimit(t *testing.T) {
	// A page tree that claims a million pages is refused before any is read.
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1000000 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
		pdfStream("", "BT /F1 12 Tf (x) Tj ET"),
	})
	_, err := Parse(context.Background(), "big.pdf", data, Limits{})
	wantRefusal(t, err, kefu.ETOOLARGE, "big.pdf", "more than 2000 pages", "max_pages")

	// A tree that lies about its count is counted as it is walked.
	pages := make([][]any, 5)
	for i := range pages {
		pages[i] = []any{fmt.Sprintf("Page %d text.", i+1)}
	}
	_, err = Parse(context.Background(), "five.pdf", pdfText(pages), Limits{MaxPages: 4})
	wantRefusal(t, err, kefu.ETOOLARGE, "five.pdf", "more than 4 pages", "max_pages")
}

func TestPDFCyclicPageTree(t *testing.T) {
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>", // lists itself
		"<< /Type /Pages /Kids [2 0 R] /Count 1 >>",
	})
	start := time.Now()
	_, err := Parse(context.Background(), "cycle.pdf", data, Limits{MaxTime: 20 * time.Second})
	wantRefusal(t, err, kefu.EINVALID, "cycle.pdf")
	if time.Since(start) > 15*time.Second {
		t.Error("a cyclic page tree ran into the time limit instead of being refused")
	}
}

func TestPDFPageContentLimit(t *testing.T) {
	big := strings.Repeat("0 0 m 1 1 l S\n", 20000) // 280 KB of drawing
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
		pdfStream("", big),
	})
	_, err := Parse(context.Background(), "drawing.pdf", data, Limits{MaxPageContentBytes: 100 << 10})
	wantRefusal(t, err, kefu.ETOOLARGE, "drawing.pdf", "page 1", "max_page_content_bytes")
}

// The same drawing behind 1,100 empty content streams: every stream of the
// page counts, not only the first ones.
func TestPDFPageContentLimitCountsEveryStream(t *testing.T) {
	big := strings.Repeat("0 0 m 1 1 l S\n", 20000)
	const empty = 1100
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"", // the page, below
		pdfStream("", " "),
		pdfStream("", big),
	}
	var refs strings.Builder
	for range empty {
		refs.WriteString("4 0 R ")
	}
	objs[2] = "<< /Type /Page /Parent 2 0 R /Contents [" + refs.String() + "5 0 R] >>"
	_, err := Parse(context.Background(), "padded.pdf", pdfObjects(objs), Limits{MaxPageContentBytes: 100 << 10})
	wantRefusal(t, err, kefu.ETOOLARGE, "padded.pdf", "page 1", "max_page_content_bytes")
}

func TestPDFMalformed(t *testing.T) {
	for name, data := range map[string][]byte{
		"truncated.pdf": pdfText([][]any{{"Hello."}})[:200],
		"garbage.pdf":   []byte("%PDF-1.4\nnot really a pdf\n%%EOF\n"),
	} {
		_, err := Parse(context.Background(), name, data, Limits{})
		wantRefusal(t, err, kefu.EINVALID, name)
	}
}

func TestPDFTimeLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Parse(ctx, "late.pdf", pdfText([][]any{{"Hello."}}), Limits{})
	if kefu.ErrorCode(err) != kefu.ETIMEOUT {
		t.Errorf("cancelled parse: %v, want a timeout", err)
	}
}

// An object stream claiming a billion objects would make the library count
// to a billion at the end of its data; it is refused up front.
func TestPDFHugeObjectStream(t *testing.T) {
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
		pdfStream("", "BT /F1 12 Tf (x) Tj ET"),
		pdfStream("/Type /ObjStm /N 999999999 /First 10", "1 0"),
	})
	_, err := Parse(context.Background(), "objstm.pdf", data, Limits{})
	wantRefusal(t, err, kefu.EINVALID, "objstm.pdf", "999999999")
}

// PDF 2.0 files and files with junk around the PDF are read.
func TestPDFHeaderVariants(t *testing.T) {
	base := pdfText([][]any{{"Version two."}})
	v2 := append([]byte("%PDF-2.0"), base[8:]...)
	doc := parseOne(t, "v2.pdf", v2, Limits{})
	if blockTexts(doc.Blocks) != "<page>\nVersion two." {
		t.Errorf("PDF 2.0: %q", blockTexts(doc.Blocks))
	}
	trailing := append(append([]byte{}, base...), []byte(strings.Repeat("\x00junk", 40))...)
	doc = parseOne(t, "trailing.pdf", trailing, Limits{})
	if blockTexts(doc.Blocks) != "<page>\nVersion two." {
		t.Errorf("trailing junk: %q", blockTexts(doc.Blocks))
	}
}
