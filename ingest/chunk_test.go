package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/internal/text"
)

func texts(chunks []kefu.Chunk) []string {
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = c.HeadingPath() + " :: " + c.Text
	}
	return out
}

// Budgets worked out by hand with wordCounter (a word or a mark is one
// token): the context "Guide > Refunds" is 3 tokens, so 9 of the 12 are
// left for text; the sentences are 5, 5 and 4 tokens.
func TestChunkHandComputed(t *testing.T) {
	doc := &Doc{ID: "g.md", Source: "g.md", Title: "Guide", Blocks: []Block{
		{Kind: BlockHeading, Level: 1, Text: "Refunds"},
		{Kind: BlockParagraph, Text: "Refunds take three days. Cards take five days. PayPal is instant."},
		{Kind: BlockHeading, Level: 2, Text: "Timing"},
		{Kind: BlockListItem, Level: 1, Text: "- Step one here"},
		{Kind: BlockHeading, Level: 1, Text: "退货"},
		{Kind: BlockParagraph, Text: "无理由。自付。"},
	}}
	chunks := (&Chunker{Counter: wordCounter{}, MaxTokens: 12}).Chunk(doc)
	want := []string{
		"Refunds :: Refunds take three days.",
		"Refunds :: Cards take five days. PayPal is instant.",
		"Refunds > Timing :: - Step one here",
		"退货 :: 无理由。自付。",
	}
	if got := texts(chunks); !reflect.DeepEqual(got, want) {
		t.Fatalf("chunks\n%q\nwant\n%q", got, want)
	}
	wantTokens := []int{8, 12, 9, 11}
	for i, c := range chunks {
		if c.Tokens != wantTokens[i] {
			t.Errorf("chunk %d: %d tokens, want %d", i, c.Tokens, wantTokens[i])
		}
		if c.Seq != i || c.ID != fmt.Sprintf("g.md#%d", i) || c.DocID != "g.md" || c.Title != "Guide" || c.Source != "g.md" || c.Kind != kefu.KindPassage || c.Hash != c.ContentHash() {
			t.Errorf("chunk %d: %+v", i, c)
		}
	}
	if chunks[0].Lang != "en" || chunks[3].Lang != "zh" {
		t.Errorf("langs %q %q", chunks[0].Lang, chunks[3].Lang)
	}
}

// With an overlap of 5 tokens, the next chunk of a section repeats the
// last sentence (5 tokens) of the one before.
func TestChunkOverlap(t *testing.T) {
	doc := &Doc{ID: "o", Title: "Guide", Blocks: []Block{
		{Kind: BlockHeading, Level: 1, Text: "Refunds"},
		{Kind: BlockParagraph, Text: "Aa bb cc dd. Ee ff gg hh. Ii jj kk ll. Mm nn oo pp. Qq rr ss tt."},
	}}
	chunks := (&Chunker{Counter: wordCounter{}, MaxTokens: 20, Overlap: 5}).Chunk(doc)
	want := []string{
		"Refunds :: Aa bb cc dd. Ee ff gg hh. Ii jj kk ll.",
		"Refunds :: Ii jj kk ll. Mm nn oo pp. Qq rr ss tt.",
	}
	if got := texts(chunks); !reflect.DeepEqual(got, want) {
		t.Errorf("chunks\n%q\nwant\n%q", got, want)
	}
	chunks = (&Chunker{Counter: wordCounter{}, MaxTokens: 20}).Chunk(doc)
	want = []string{"Refunds :: Aa bb cc dd. Ee ff gg hh. Ii jj kk ll.", "Refunds :: Mm nn oo pp. Qq rr ss tt."}
	if got := texts(chunks); !reflect.DeepEqual(got, want) {
		t.Errorf("without overlap\n%q\nwant\n%q", got, want)
	}
}

// A paragraph that does not fit in a chunk at least half full starts a new
// chunk rather than being cut between sentences.
func TestChunkKeepsParagraphsWhole(t *testing.T) {
	doc := &Doc{ID: "p", Blocks: []Block{
		{Kind: BlockParagraph, Text: "One two three four five six seven eight nine ten."}, // 11
		{Kind: BlockParagraph, Text: "Alpha beta gamma. Delta epsilon zeta."},             // 8
	}}
	chunks := (&Chunker{Counter: wordCounter{}, MaxTokens: 16}).Chunk(doc)
	want := []string{" :: One two three four five six seven eight nine ten.", " :: Alpha beta gamma. Delta epsilon zeta."}
	if got := texts(chunks); !reflect.DeepEqual(got, want) {
		t.Errorf("chunks\n%q\nwant\n%q", got, want)
	}
}

func TestChunkTableSplitRepeatsHeader(t *testing.T) {
	rows := [][]string{{"Method", "Days"}}
	for i := 0; i < 40; i++ {
		rows = append(rows, []string{fmt.Sprintf("pay%d", i), fmt.Sprint(i)})
	}
	doc := &Doc{ID: "t", Blocks: []Block{
		{Kind: BlockParagraph, Text: "Before the table."},
		{Kind: BlockTable, Rows: rows},
		{Kind: BlockCode, Text: "line one\nline two"},
	}}
	const header = "| Method | Days |\n| --- | --- |"
	chunks := (&Chunker{Counter: wordCounter{}, MaxTokens: 40}).Chunk(doc)
	seen := map[string]int{}
	for _, c := range chunks {
		if c.Tokens > 40 {
			t.Errorf("chunk %d: %d tokens", c.Seq, c.Tokens)
		}
		if strings.Contains(c.Text, "| pay") && !strings.Contains(c.Text, header+"\n| pay") {
			t.Errorf("chunk %d has rows without the header:\n%s", c.Seq, c.Text)
		}
		for _, line := range strings.Split(c.Text, "\n") {
			if strings.HasPrefix(line, "| pay") {
				seen[line]++
			}
		}
	}
	for i := 0; i < 40; i++ {
		if line := fmt.Sprintf("| pay%d | %d |", i, i); seen[line] != 1 {
			t.Errorf("row %q in %d chunks", line, seen[line])
		}
	}
	if len(chunks) < 3 {
		t.Errorf("%d chunks: the table was not split", len(chunks))
	}
	if last := chunks[len(chunks)-1].Text; !strings.HasSuffix(last, "line one\nline two") {
		t.Errorf("code block not kept whole: %q", last)
	}
	// A table that fits stays whole, under no repeated header.
	small := &Doc{ID: "s", Blocks: []Block{{Kind: BlockTable, Rows: rows[:3]}}}
	got := (&Chunker{Counter: wordCounter{}, MaxTokens: 256}).Chunk(small)
	if len(got) != 1 || got[0].Text != header+"\n| pay0 | 0 |\n| pay1 | 1 |" {
		t.Errorf("small table: %q", texts(got))
	}
}

// Text longer than a chunk with no sentence end is cut at spaces, or
// between characters in Chinese, every piece within the budget.
func TestChunkOversizedSentences(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("word ", 500))
	han := strings.Repeat("退款审核通过后原路退回", 60)
	doc := &Doc{ID: "l", Blocks: []Block{{Kind: BlockParagraph, Text: long}, {Kind: BlockParagraph, Text: han}}}
	for _, counter := range []kefu.TokenCounter{wordCounter{}, byteCounter{}, superCounter{}, ApproxCounter{}} {
		chunks := (&Chunker{Counter: counter, MaxTokens: 64}).Chunk(doc)
		var en, zh strings.Builder
		for _, c := range chunks {
			if c.Tokens > 64 || c.Tokens != counter.CountTokens(c.ContextText()) {
				t.Errorf("%T: chunk %d has %d tokens (count %d)", counter, c.Seq, c.Tokens, counter.CountTokens(c.ContextText()))
			}
			for _, w := range strings.Fields(c.Text) {
				if text.HasHan(w) {
					zh.WriteString(w)
				} else if w != "word" {
					t.Errorf("%T: word cut: %q", counter, w)
				} else {
					en.WriteString(w + " ")
				}
			}
		}
		if strings.TrimSpace(en.String()) != long || zh.String() != han {
			t.Errorf("%T: text lost or reordered", counter)
		}
	}
}

func TestChunkFAQ(t *testing.T) {
	doc := &Doc{ID: "faq.csv", Source: "faq.csv", Title: "faq", FAQs: []FAQ{
		{Questions: []string{"怎么退款", "如何退款"}, Answer: "在订单页申请。", Category: "售后", Lang: "zh", URL: "https://x/1", Row: 2},
		{Questions: []string{"No answer?"}, Answer: " "},
		{Questions: []string{"Shipping?"}, Answer: "Two days.", Row: 4},
	}}
	chunks := (&Chunker{Counter: wordCounter{}}).Chunk(doc)
	if len(chunks) != 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	c := chunks[0]
	want := kefu.Chunk{ID: "faq.csv#0", DocID: "faq.csv", Seq: 0, Kind: kefu.KindFAQ, Title: "faq", Text: "在订单页申请。",
		Questions: []string{"怎么退款", "如何退款"}, Category: "售后", Source: "faq.csv", URL: "https://x/1", Lang: "zh", Tokens: 4,
		Meta: map[string]string{"row": "2"}}
	want.Hash = want.ContentHash()
	if !reflect.DeepEqual(c, want) {
		t.Errorf("chunk\n%+v\nwant\n%+v", c, want)
	}
	if chunks[1].Lang != "en" || chunks[1].ID != "faq.csv#1" {
		t.Errorf("second %+v", chunks[1])
	}
}

// A heading path longer than half the budget loses its outer headings, so
// every chunk still fits.
func TestChunkLongHeadings(t *testing.T) {
	long := strings.Repeat("very long heading ", 30)
	doc := &Doc{ID: "h", Title: strings.Repeat("title ", 40), Blocks: []Block{
		{Kind: BlockHeading, Level: 1, Text: long},
		{Kind: BlockHeading, Level: 2, Text: "Short"},
		{Kind: BlockParagraph, Text: "Body text here."},
	}}
	chunks := (&Chunker{Counter: wordCounter{}, MaxTokens: 32}).Chunk(doc)
	if len(chunks) != 1 || chunks[0].Tokens > 32 || chunks[0].Text != "Body text here." {
		t.Fatalf("chunks %+v", chunks)
	}
	if h := chunks[0].Headings; len(h) == 0 || h[len(h)-1] != "Short" {
		t.Errorf("headings %q", h)
	}
}

// Properties over the demo help center with several counters: every chunk
// within its budget by the counter's own count; chunks never cross
// headings; every sentence that fits a chunk is whole in one; no text lost.
func TestChunkPropertiesDemo(t *testing.T) {
	root := testenv.Shared(t, "data/demo/help")
	ups, _ := Walk(root)
	var docs []*Doc
	for _, up := range ups {
		data, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(up.Name)))
		docs = append(docs, parseOne(t, up.Name, data, Limits{}))
	}
	for _, ch := range []*Chunker{
		{Counter: wordCounter{}, MaxTokens: 48},
		{Counter: wordCounter{}, MaxTokens: 256, Overlap: 32},
		{Counter: superCounter{}, MaxTokens: 128},
		{Counter: ApproxCounter{}, MaxTokens: 200},
	} {
		for _, doc := range docs {
			checkChunks(t, ch, doc)
		}
	}
}

// checkChunks asserts the chunker's promises on one document.
func checkChunks(t *testing.T, ch *Chunker, doc *Doc) {
	t.Helper()
	maxTok, _ := ch.limits()
	chunks := ch.Chunk(doc)
	squeezed := make([]string, len(chunks))
	offsets := make([]int, len(chunks)+1) // where each passage starts in got
	var all strings.Builder
	for i, c := range chunks {
		offsets[i] = all.Len()
		offsets[i+1] = all.Len()
		if c.Seq != i || c.Hash != c.ContentHash() {
			t.Fatalf("%s: chunk %d seq %d hash %q", doc.Source, i, c.Seq, c.Hash)
		}
		squeezed[i] = squeeze(c.Text)
		if c.Kind == kefu.KindFAQ {
			continue
		}
		n := ch.count(c.ContextText())
		if c.Tokens != n || n > maxTok && utf8Len(c.Text) > 1 {
			t.Errorf("%s: chunk %d: %d tokens (counted %d), budget %d", doc.Source, i, c.Tokens, n, maxTok)
		}
		all.WriteString(squeezed[i])
		offsets[i+1] = all.Len()
	}
	got := all.String()
	// Each section's sentences, in order, whole when they fit, under
	// their heading path.
	var path []string
	var levels []int
	pos := 0
	for _, b := range doc.Blocks {
		switch b.Kind {
		case BlockHeading:
			for len(levels) > 0 && levels[len(levels)-1] >= max(b.Level, 1) {
				levels, path = levels[:len(levels)-1], path[:len(path)-1]
			}
			levels, path = append(levels, max(b.Level, 1)), append(path, b.Text)
		case BlockCode:
			// Code is kept whole when it fits: skip past it.
			if k := strings.Index(got[pos:], squeeze(b.Text)); k >= 0 {
				pos += k + len(squeeze(b.Text))
			}
		case BlockTable:
			for _, r := range b.Rows {
				if k := strings.Index(got[pos:], squeeze(tableRow(r, maxCols(b.Rows)))); k >= 0 {
					pos += k + len(squeeze(tableRow(r, maxCols(b.Rows))))
				}
			}
		case BlockParagraph, BlockListItem:
			for _, s := range text.Sentences(b.Text) {
				sq := squeeze(s)
				k := strings.Index(got[pos:], sq)
				if k < 0 {
					t.Errorf("%s: sentence lost or out of order: %q", doc.Source, s)
					continue
				}
				start, end := pos+k, pos+k+len(sq)
				pos = end
				holder := 0
				for holder+1 < len(chunks) && offsets[holder+1] <= start {
					holder++
				}
				fits := ch.count(s)+ch.count(strings.Join(path, " > "))+ch.count(doc.Title) < maxTok/2
				if fits && end > offsets[holder+1] {
					t.Errorf("%s: sentence %q cut although it fits", doc.Source, s)
				}
				if holder >= 0 && !pathSuffix(chunks[holder].Headings, path) {
					t.Errorf("%s: sentence %q under %q, not %q", doc.Source, s, chunks[holder].Headings, path)
				}
			}
		}
	}
}

// pathSuffix reports whether a chunk's headings are the end of path, the
// last one possibly cut short (a path too long for the budget loses its
// outer headings, then is shortened).
func pathSuffix(h, path []string) bool {
	if len(h) > len(path) || len(h) == 0 && len(path) > 0 {
		return false
	}
	tail := path[len(path)-len(h):]
	for i := range h {
		if h[i] != tail[i] && !(i == len(h)-1 && strings.HasPrefix(tail[i], h[i])) {
			return false
		}
	}
	return true
}

func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func utf8Len(s string) int { return len([]rune(s)) }

func inOneChunk(chunks []kefu.Chunk, s string) bool {
	for _, c := range chunks {
		if strings.Contains(squeeze(c.Text), squeeze(s)) {
			return true
		}
	}
	return false
}

// meter counts the bytes a counter is asked to count.
type meter struct {
	kefu.TokenCounter
	bytes int
}

func (m *meter) CountTokens(s string) int {
	m.bytes += len(s)
	return m.TokenCounter.CountTokens(s)
}

// TestChunkLongRunLinear: a paragraph without spaces or sentence ends (a
// base64 blob, a Chinese run) is cut in work linear in its length — the
// bytes counted for 1 MiB are ten times those for 100 KiB, within a fixed
// multiple of the text — and every byte lands in a chunk within budget.
func TestChunkLongRunLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	raw := make([]byte, 800<<10)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	runs := map[string]string{
		"base64": base64.StdEncoding.EncodeToString(raw)[:1<<20],
		"han":    strings.Repeat("退款审核通过后原路退回请耐心等待", 1<<20/48+1)[:1<<20/48*48],
	}
	for name, run := range runs {
		for _, counter := range []kefu.TokenCounter{ApproxCounter{}, byteCounter{}} {
			var per [2]float64
			for i, n := range []int{100 << 10, 1 << 20} {
				text := run[:n/48*48]
				m := &meter{TokenCounter: counter}
				chunks := (&Chunker{Counter: m, MaxTokens: 256}).Chunk(&Doc{ID: "d", Blocks: []Block{{Kind: BlockParagraph, Text: text}}})
				var joined strings.Builder
				for _, c := range chunks {
					if c.Tokens > 256 {
						t.Errorf("%s %T: chunk of %d tokens", name, counter, c.Tokens)
					}
					joined.WriteString(c.Text)
				}
				if joined.String() != text {
					t.Errorf("%s %T %d: text lost or reordered", name, counter, n)
				}
				per[i] = float64(m.bytes) / float64(len(text))
			}
			if per[1] > 32 || per[1] > 1.25*per[0] {
				t.Errorf("%s %T: counted %.1f× the text at 100 KiB, %.1f× at 1 MiB: not linear", name, counter, per[0], per[1])
			}
		}
	}
}

// TestChunkStopsAtDeadline: a chunker whose context is done returns its
// error instead of chunking the rest of the document.
func TestChunkStopsAtDeadline(t *testing.T) {
	var blocks []Block
	for i := range 10000 {
		blocks = append(blocks, Block{Kind: BlockParagraph, Text: fmt.Sprintf("Paragraph %d. %s", i, strings.Repeat("word ", 300))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &meter{TokenCounter: cancelAfter{wordCounter{}, 50, cancel, new(int)}}
	chunks, err := (&Chunker{Counter: m, MaxTokens: 64}).ChunkContext(ctx, &Doc{ID: "d", Blocks: blocks})
	if !errors.Is(err, context.Canceled) || chunks != nil {
		t.Fatalf("%d chunks, %v; want the context's error", len(chunks), err)
	}
	if total := 10000 * 1500; m.bytes > total/50 {
		t.Errorf("counted %d bytes of %d after the deadline", m.bytes, total)
	}
}

// cancelAfter cancels its context after n counts.
type cancelAfter struct {
	kefu.TokenCounter
	n      int
	cancel func()
	calls  *int
}

func (c cancelAfter) CountTokens(s string) int {
	if *c.calls++; *c.calls == c.n {
		c.cancel()
	}
	return c.TokenCounter.CountTokens(s)
}
