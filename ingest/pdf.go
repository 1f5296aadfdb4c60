package ingest

import (
	"bytes"
	"errors"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// pdf extracts the text of a PDF page by page: github.com/ledongthuc/pdf
// reads the file and its objects, pdfPageText runs each page's content
// with the fonts' own widths and ToUnicode maps (pdffont.go), and the
// layout here takes glyphs in content-stream order (the reading order the
// producer wrote, which keeps columns apart), rebuilds lines and word
// spaces from glyph positions, paragraphs from vertical gaps and headings
// from font sizes well above the body's. A PDF without any text (scanned)
// is refused. The title is the document's own unless it is a placeholder
// (pdfTitle).
//
// The library panics on malformed files, cannot be cancelled and loops on
// some crafted ones, so it runs under safely, in a goroutine the parse
// abandons when its time is up, over a reader that fails every read after
// that, which ends the library's loops that read.
func (p *parser) pdf(name string, data []byte) (*Doc, error) {
	data, err := pdfPrepare(name, data, p.lim)
	if err != nil {
		return nil, err
	}
	ra := &abortReaderAt{r: bytes.NewReader(data)}
	type result struct {
		doc *Doc
		err error
	}
	done := make(chan result, 1)
	left := p.left // the goroutine's own, so an abandoned one races nobody
	go func() {
		var doc *Doc
		err := safely(name, func() error {
			var err error
			doc, err = p.pdfExtract(name, ra, int64(len(data)), &left)
			return err
		})
		done <- result{doc, err}
	}()
	select {
	case r := <-done:
		p.left = left
		return r.doc, r.err
	case <-p.ctx.Done():
		ra.abort.Store(true)
		return nil, p.err(name)
	}
}

// abortReaderAt fails every read once aborted.
type abortReaderAt struct {
	r     io.ReaderAt
	abort atomic.Bool
}

var errAborted = errors.New("aborted")

func (a *abortReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if a.abort.Load() {
		panic(errAborted)
	}
	return a.r.ReadAt(b, off)
}

var objStmN = regexp.MustCompile(`/N\s+(\d{7,})`)

// pdfPrepare fixes what the library is pickier about than PDF readers
// (junk before the header, a 2.0 header, junk after %%EOF) and refuses
// what would make it loop: an object stream claiming more objects than
// could fit in the upload.
func pdfPrepare(name string, data []byte, lim Limits) ([]byte, error) {
	if i := bytes.Index(data[:min(len(data), 1024)], []byte("%PDF-")); i > 0 {
		data = data[i:]
	}
	if bytes.HasPrefix(data, []byte("%PDF-2.")) {
		data = append([]byte("%PDF-1.7"), data[8:]...)
	}
	if i := bytes.LastIndex(data, []byte("%%EOF")); i > 0 && len(data)-i > 64 {
		data = data[:i+5]
	}
	for _, m := range objStmN.FindAllSubmatch(data, 64) {
		if n, err := strconv.ParseInt(string(m[1]), 10, 64); err != nil || n > lim.MaxDecompressedBytes/4 {
			return nil, invalid(name, "malformed PDF: an object stream claims %s objects", m[1])
		}
	}
	return data, nil
}

func (p *parser) pdfExtract(name string, ra io.ReaderAt, size int64, left *budget) (*Doc, error) {
	r, err := pdf.NewReader(ra, size)
	if err != nil {
		if errors.Is(err, pdf.ErrInvalidPassword) || strings.Contains(err.Error(), "encrypt") {
			return nil, unsupported(name, "encrypted PDF; remove the password and upload it again")
		}
		return nil, invalid(name, "malformed PDF: %v", err)
	}
	root := r.Trailer().Key("Root").Key("Pages")
	if n := root.Key("Count").Int64(); n > int64(p.lim.MaxPages) {
		return nil, tooLarge(name, "max_pages", "more than %d pages", p.lim.MaxPages)
	}
	pages, err := p.pdfPages(name, root)
	if err != nil {
		return nil, err
	}
	doc := &Doc{}
	var out []Block
	letters := 0
	fonts := &pdfFonts{p: p, name: name, left: left, fonts: map[string]*pdfFont{}, cmaps: map[string]*pdfCMap{}}
	for i, pv := range pages {
		if err := p.err(name); err != nil {
			return nil, err
		}
		contents := pv.Key("Contents")
		size, err := p.pdfContentSize(name, i+1, contents, left)
		if err != nil {
			return nil, err
		}
		text := &pdfPageText{fonts: fonts, page: i + 1, content: size, maxGlyphs: int(p.lim.MaxPageContentBytes / 16)}
		if k := contents.Kind(); k == pdf.Stream || k == pdf.Array {
			text.run(contents, pdfInherited(pv, "Resources"), pdfGState{ctm: pdfIdentity, tm: pdfIdentity, tlm: pdfIdentity, th: 1}, 0)
		}
		if text.err != nil {
			return nil, text.err
		}
		out = append(out, Block{Kind: BlockPage, Page: i + 1})
		for _, b := range pdfPageBlocks(text.glyphs) {
			letters += countLetters(b.Text)
			out = append(out, b)
			if len(out) > p.lim.MaxBlocks {
				return nil, tooLarge(name, "max_blocks", "more than %d blocks", p.lim.MaxBlocks)
			}
		}
	}
	if len(pages) == 0 {
		return nil, invalid(name, "malformed PDF: no pages")
	}
	if letters == 0 {
		return nil, unsupported(name, "no text layer: the PDF is scanned or holds only images; run it through OCR first")
	}
	doc.Blocks = markPDFHeadings(out)
	doc.Title = pdfTitle(r.Trailer().Key("Info").Key("Title").Text(), doc.Blocks)
	return doc, nil
}

// pdfInherited is a page's attribute, from the page or the nearest of its
// ancestors in the page tree that has it (a bounded walk: Parent links
// can loop).
func pdfInherited(page pdf.Value, key string) pdf.Value {
	v := page
	for range 32 {
		if v.Kind() != pdf.Dict {
			break
		}
		if r := v.Key(key); !r.IsNull() {
			return r
		}
		v = v.Key("Parent")
	}
	return pdf.Value{}
}

// pdfPages lists the page dictionaries in order, walking the page tree
// with bounded depth and size (the library's own Page(i) walks it again
// for every page and follows cycles forever).
func (p *parser) pdfPages(name string, root pdf.Value) ([]pdf.Value, error) {
	var pages []pdf.Value
	nodes := 0
	var walk func(v pdf.Value, depth int) error
	walk = func(v pdf.Value, depth int) error {
		nodes++
		if depth > 32 || nodes > 4*p.lim.MaxPages+64 {
			return invalid(name, "malformed PDF: page tree too deep or cyclic")
		}
		switch v.Key("Type").Name() {
		case "Page":
			pages = append(pages, v)
			if len(pages) > p.lim.MaxPages {
				return tooLarge(name, "max_pages", "more than %d pages", p.lim.MaxPages)
			}
		default: // "Pages", or a node missing its type
			kids := v.Key("Kids")
			if kids.Kind() != pdf.Array {
				if v.Key("Contents").Kind() != pdf.Null {
					pages = append(pages, v)
				}
				return nil
			}
			for i := 0; i < kids.Len(); i++ {
				if err := walk(kids.Index(i), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return pages, walk(root, 0)
}

// pdfContentSize unpacks a page's content streams once, within the
// per-page and per-upload limits, before they are read for text (the
// library's reader keeps every operand of a stream in memory), and returns
// their unpacked size.
func (p *parser) pdfContentSize(name string, page int, contents pdf.Value, left *budget) (int64, error) {
	// Every stream counts: the library reads them all, however many.
	n, at := 0, func(int) pdf.Value { return contents }
	switch contents.Kind() {
	case pdf.Stream:
		n = 1
	case pdf.Array:
		n, at = contents.Len(), contents.Index
	}
	var total int64
	for i := range n {
		s := at(i)
		if s.Kind() != pdf.Stream {
			continue
		}
		rc := s.Reader()
		n, err := io.Copy(io.Discard, io.LimitReader(rc, p.lim.MaxPageContentBytes-total+1))
		rc.Close()
		total += n
		if total > p.lim.MaxPageContentBytes {
			return 0, tooLarge(name, "max_page_content_bytes", "page %d unpacks to more than %d bytes", page, p.lim.MaxPageContentBytes)
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, invalid(name, "malformed PDF: page %d: %v", page, err)
		}
	}
	if !left.take(total) {
		return 0, tooLarge(name, "max_decompressed_bytes", "unpacks to more than %d bytes", p.lim.MaxDecompressedBytes)
	}
	return total, nil
}

// pdfLine is a line of text rebuilt from glyphs.
type pdfLine struct {
	text     strings.Builder
	y, size  float64
	x0, xEnd float64
	wordEnd  float64 // where the line's first word ends; 0 while it goes on
}

// pdfLigatures spells out the Latin ligatures fonts map some glyphs to.
var pdfLigatures = strings.NewReplacer("\uFB00", "ff", "\uFB01", "fi", "\uFB02", "fl", "\uFB03", "ffi", "\uFB04", "ffl", "\uFB05", "st", "\uFB06", "st")

// pdfPageBlocks rebuilds the paragraphs of a page from its glyphs. A word
// space is a gap between glyphs wider than a fifth of the em (four fifths
// between two CJK characters, which touch when set solid), unless the
// producer drew a space glyph.
func pdfPageBlocks(glyphs []pdfGlyph) []Block {
	var lines []*pdfLine
	var cur *pdfLine
	for _, g := range glyphs {
		s := strings.Map(func(r rune) rune {
			if r == utf8.RuneError || unicode.IsControl(r) && r != '\t' {
				return -1
			}
			// CJK fonts draw 用 and the radical ⽤ with one glyph; their
			// ToUnicode maps often name the radical.
			if u, ok := cjkRadicals[r]; ok {
				return u
			}
			return r
		}, pdfLigatures.Replace(g.s))
		if s == "" || !finite(g.x) || !finite(g.y) {
			continue
		}
		size := g.size
		if !finite(size) || size < 1 {
			size = 1
		}
		w := g.w
		if r, _ := utf8.DecodeRuneInString(s); !finite(w) || w <= 0 || w > 3*size*float64(utf8.RuneCountInString(s)) {
			w = size / 2
			if isWide(r) {
				w = size
			}
		}
		if cur == nil || math.Abs(g.y-cur.y) > 0.5*math.Max(size, cur.size) || g.x < cur.xEnd-2*size {
			cur = &pdfLine{y: g.y, size: size, x0: g.x, xEnd: g.x}
			lines = append(lines, cur)
		} else if gap := g.x - cur.xEnd; cur.text.Len() > 0 {
			prev, _ := utf8.DecodeLastRuneInString(cur.text.String())
			next, _ := utf8.DecodeRuneInString(s)
			threshold := 0.2 * size
			if isWide(prev) && isWide(next) {
				threshold = 0.8 * size
			}
			if gap > threshold && prev != ' ' && next != ' ' {
				cur.text.WriteByte(' ')
			}
			if cur.wordEnd == 0 && (gap > threshold || next == ' ' || isWide(prev)) {
				cur.wordEnd = cur.xEnd
			}
		}
		cur.text.WriteString(s)
		cur.size = math.Max(cur.size, size)
		cur.xEnd = g.x + w
	}
	for _, l := range lines {
		if l.wordEnd == 0 {
			l.wordEnd = l.xEnd
		}
	}
	var blocks []Block
	var para []string
	var paraSize float64
	flush := func() {
		if len(para) > 0 {
			t := joinPDFLines(para)
			if t != "" {
				// Level carries the font size until markPDFHeadings.
				blocks = append(blocks, Block{Kind: BlockParagraph, Text: t, Level: int(math.Round(paraSize * 10))})
			}
		}
		para, paraSize = nil, 0
	}
	// The pitch of wrapped lines, by font size: the least gap after a line
	// that ran to the right edge, to a line of that size starting where it
	// did. Fonts with tall line spacing (CJK ones) set lines further apart
	// than 1.6 em, yet a paragraph's gap is wider still.
	pitch := map[int]float64{}
	edges := newPDFEdges(lines)
	for i := 1; i < len(lines); i++ {
		prev, l := lines[i-1], lines[i]
		gap := math.Abs(prev.y - l.y)
		if math.Abs(l.size-prev.size) <= 0.15*prev.size && math.Abs(l.x0-prev.x0) < prev.size && gap >= 0.8*prev.size && !pdfLineBreakByChoice(edges, prev, l) {
			k := int(math.Round(prev.size))
			if p, ok := pitch[k]; !ok || gap < p {
				pitch[k] = gap
			}
		}
	}
	for i, l := range lines {
		t := collapse(l.text.String())
		if t == "" {
			continue
		}
		// A bullet set close to its item's text is still a list marker.
		if r, n := utf8.DecodeRuneInString(t); strings.ContainsRune("•◦▪●·", r) && n < len(t) && t[n] != ' ' {
			t = t[:n] + " " + t[n:]
		}
		if i > 0 {
			prev := lines[i-1]
			gap := math.Abs(prev.y - l.y)
			size := math.Max(l.size, prev.size)
			paraGap := 1.6 * size
			if p := pitch[int(math.Round(prev.size))]; p > 0 {
				paraGap = min(max(paraGap, 1.15*p), 3*size)
			}
			if gap > paraGap || math.Abs(l.size-prev.size) > 0.15*prev.size || listMarker(t) > 0 || pdfLineBreakByChoice(edges, prev, l) {
				flush()
			}
		}
		para = append(para, t)
		paraSize = math.Max(paraSize, l.size)
	}
	flush()
	return blocks
}

// pdfLineBreakByChoice tells a line that ended before the text's right
// edge with room for the next line's first word: the writer broke it, as
// between list items whose bullets are drawn rather than written
// (Chromium's), or at a paragraph's end. The right edge is the farthest any
// line starting no further right reaches, which keeps columns apart.
func pdfLineBreakByChoice(edges pdfEdges, prev, l *pdfLine) bool {
	if strings.HasSuffix(prev.text.String(), "-") || l.x0 > prev.x0+prev.size {
		return false
	}
	right := max(prev.xEnd, edges.rightOf(prev.x0+prev.size))
	word := l.wordEnd - l.x0
	if r, _ := utf8.DecodeRuneInString(l.text.String()); isWide(r) {
		// CJK lines break anywhere, but not before closing punctuation:
		// a line may end a character or two early.
		word = max(word, 2*l.size)
	}
	return prev.xEnd+0.3*l.size+word < right-0.5*l.size
}

// pdfEdges answers how far right the lines starting at or left of x reach.
type pdfEdges struct {
	x0    []float64 // line starts, ascending
	reach []float64 // the farthest end of the lines up to each start
}

func newPDFEdges(lines []*pdfLine) pdfEdges {
	sorted := append([]*pdfLine(nil), lines...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].x0 < sorted[j].x0 })
	e := pdfEdges{x0: make([]float64, len(sorted)), reach: make([]float64, len(sorted))}
	for i, l := range sorted {
		e.x0[i], e.reach[i] = l.x0, l.xEnd
		if i > 0 {
			e.reach[i] = max(e.reach[i], e.reach[i-1])
		}
	}
	return e
}

func (e pdfEdges) rightOf(x float64) float64 {
	n := sort.Search(len(e.x0), func(i int) bool { return e.x0[i] > x })
	if n == 0 {
		return math.Inf(-1)
	}
	return e.reach[n-1]
}

// joinPDFLines joins the lines of a paragraph, mending words hyphenated
// across lines.
func joinPDFLines(lines []string) string {
	var b []byte
	for i, l := range lines {
		if i > 0 {
			prev, _ := utf8.DecodeLastRune(b)
			next, _ := utf8.DecodeRuneInString(l)
			switch {
			case prev == '-' && len(b) > 1 && unicode.IsLower(next):
				b = b[:len(b)-1]
			case !(isWide(prev) && isWide(next)):
				b = append(b, ' ')
			}
		}
		b = append(b, l...)
	}
	return string(b)
}

// markPDFHeadings turns short paragraphs set well above the body's font
// size into headings, the largest size being level 1, and clears the font
// sizes carried in Level.
func markPDFHeadings(blocks []Block) []Block {
	weight := map[int]int{}
	for _, b := range blocks {
		if b.Kind == BlockParagraph {
			weight[b.Level] += utf8.RuneCountInString(b.Text)
		}
	}
	body, most := 0, -1
	for size, w := range weight {
		if w > most || w == most && size < body {
			body, most = size, w
		}
	}
	var sizes []int
	for size := range weight {
		if float64(size) >= 1.2*float64(body) {
			sizes = append(sizes, size)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(sizes)))
	if len(sizes) > 4 {
		sizes = sizes[:4]
	}
	for i := range blocks {
		b := &blocks[i]
		if b.Kind != BlockParagraph {
			continue
		}
		size := b.Level
		b.Level = 0
		if utf8.RuneCountInString(b.Text) > 120 || countLetters(b.Text) == 0 {
			continue
		}
		for rank, s := range sizes {
			if s == size {
				b.Kind, b.Level = BlockHeading, rank+1
			}
		}
	}
	return blocks
}

func countLetters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// pdfTitle is the document's title: its metadata title unless that is a
// placeholder a producer wrote for want of one (pdfPlaceholderTitle), else
// the first heading, else the start of the first paragraph. "" leaves the
// file name to name the document.
func pdfTitle(meta string, blocks []Block) string {
	meta = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(meta), "Microsoft Word - "))
	if !pdfPlaceholderTitle(meta) {
		return meta
	}
	for _, b := range blocks {
		if b.Kind == BlockHeading {
			return b.Text
		}
	}
	for _, b := range blocks {
		if b.Kind == BlockParagraph {
			return truncateWords(b.Text, 80)
		}
	}
	return ""
}

var (
	pdfPlaceholders = map[string]bool{
		"untitled": true, "untitled document": true, "document": true, "unknown": true,
		"无标题": true, "无标题文档": true, "未命名": true, "未命名文档": true, "未命名的文档": true, "新建文档": true,
		"無標題": true, "未命名檔案": true,
	}
	pdfURLTitle  = regexp.MustCompile(`(?i)^(about|data|blob|file|https?):`)
	pdfFileTitle = regexp.MustCompile(`(?i)^[^\s/\\]*\.(html?|xhtml|php|aspx?|pdf|docx?|odt|rtf|txt|md|xlsx?|ods|pptx?|odp|wps|pages)$|^(untitled|document|新建文档|无标题)[\s_-]*\d+$`)
)

// pdfPlaceholderTitle tells a title that names nothing: empty, a browser's
// about:blank or the page's address, a file name, "Untitled", "Document1",
// "无标题"….
func pdfPlaceholderTitle(t string) bool {
	return countLetters(t) == 0 || pdfPlaceholders[strings.ToLower(t)] || pdfURLTitle.MatchString(t) || pdfFileTitle.MatchString(t)
}

// truncateWords cuts s to at most n runes, at a word boundary where there
// is one in the second half.
func truncateWords(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := n
	for i := n; i > n/2; i-- {
		if r[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimSpace(string(r[:cut])) + "…"
}
