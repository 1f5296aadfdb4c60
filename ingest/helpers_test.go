package ingest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/vecmath"
	"github.com/xuri/excelize/v2"
)

// wordCounter is a tokenizer-like counter: a Chinese character or a
// punctuation mark is one token, a run of Latin letters or digits is one.
type wordCounter struct{}

func (wordCounter) CountTokens(s string) int {
	n, inWord := 0, false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			inWord = false
		case isWide(r):
			n++
			inWord = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if !inWord {
				n++
			}
			inWord = true
		default:
			n++
			inWord = false
		}
	}
	return n
}

// byteCounter counts one token per byte: a heavy counter.
type byteCounter struct{}

func (byteCounter) CountTokens(s string) int { return len(s) }

// superCounter is not additive: a text counts more than its parts, so a
// chunker that sums the counts of its pieces overshoots the budget.
type superCounter struct{}

func (superCounter) CountTokens(s string) int {
	w := wordCounter{}.CountTokens(s)
	return w + w*w/64
}

// ---- fixtures built in code ----

// pdfObjects assembles a PDF from numbered object bodies (1-based), with a
// correct xref table; the catalog must be object 1.
func pdfObjects(objs []string) []byte {
	return pdfObjectsTrailer(objs, "")
}

// pdfObjectsTrailer is pdfObjects with more trailer entries (an /Info).
func pdfObjectsTrailer(objs []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}

func pdfStream(dict, data string) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

// pdfText builds a PDF with one page per entry of pages, each a list of
// lines set in 12 pt Helvetica (with widths, so glyphs advance); a line
// given as []any is a TJ array (strings and kerning numbers).
func pdfText(pages [][]any) []byte {
	n := len(pages)
	// 1 catalog, 2 pages, 3 font, then per page: page, content.
	kids := make([]string, n)
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "", ""}
	widths := strings.TrimSpace(strings.Repeat("556 ", 126-32+1))
	objs[2] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 32 /LastChar 126 /Widths [" + widths + "] >>"
	for i, lines := range pages {
		pageObj, contentObj := 4+2*i, 5+2*i
		kids[i] = fmt.Sprintf("%d 0 R", pageObj)
		var c strings.Builder
		c.WriteString("BT /F1 12 Tf 72 720 Td\n")
		for j, line := range lines {
			if j > 0 {
				c.WriteString("0 -16 Td\n")
			}
			switch l := line.(type) {
			case string:
				fmt.Fprintf(&c, "(%s) Tj\n", pdfEscape(l))
			case []any:
				c.WriteString("[")
				for _, part := range l {
					switch p := part.(type) {
					case string:
						fmt.Fprintf(&c, "(%s) ", pdfEscape(p))
					case int:
						fmt.Fprintf(&c, "%d ", p)
					}
				}
				c.WriteString("] TJ\n")
			}
		}
		c.WriteString("ET")
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", contentObj),
			pdfStream("", c.String()))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n)
	return pdfObjects(objs)
}

func pdfEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

// pdfImageOnly builds a one-page PDF whose page only paints an image, as
// a scanner makes.
func pdfImageOnly() []byte {
	return pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
		pdfStream("", "q 612 0 0 792 0 0 cm /Im1 Do Q"),
		pdfStream("/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8", "\x00\xff\xff\x00"),
	})
}

// pdfChinese builds a PDF whose font maps one-byte codes to Chinese
// characters through a ToUnicode CMap, as producers embed CJK subsets.
func pdfChinese() []byte {
	cmap := `/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
1 begincodespacerange
<00> <FF>
endcodespacerange
4 beginbfchar
<01> <9000>
<02> <6B3E>
<03> <653F>
<04> <7B56>
endbfchar
endcmap
CMapName currentdict /CMap defineresource pop
end
end`
	return pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		pdfStream("", "BT /F1 12 Tf 72 720 Td <01020304> Tj ET"),
		"<< /Type /Font /Subtype /Type1 /BaseFont /SimSun /FirstChar 1 /LastChar 4 /Widths [1000 1000 1000 1000] /ToUnicode 6 0 R >>",
		pdfStream("", cmap),
	})
}

// pdfWithFonts builds a one-page PDF whose page draws content with the
// fonts F1, F2… given as objects 5, 6…; more objects (ToUnicode maps,
// descendant fonts) follow them and are referred to by number.
func pdfWithFonts(content string, fonts []string, more ...string) []byte {
	var res strings.Builder
	for i := range fonts {
		fmt.Fprintf(&res, "/F%d %d 0 R ", i+1, 5+i)
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << " + res.String() + ">> >> /Contents 4 0 R >>",
		pdfStream("", content),
	}
	return pdfObjects(append(append(objs, fonts...), more...))
}

// zipOf builds a ZIP archive of name → content, in the order given.
func zipOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// docxOf builds a DOCX from the body XML of word/document.xml and the
// styles of word/styles.xml.
func docxOf(t testing.TB, body, styles, title string) []byte {
	t.Helper()
	const ns = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`
	files := []string{
		"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
		"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ` + ns + `><w:body>` + body + `</w:body></w:document>`,
	}
	if styles != "" {
		files = append(files, "word/styles.xml", `<?xml version="1.0" encoding="UTF-8"?><w:styles `+ns+`>`+styles+`</w:styles>`)
	}
	if title != "" {
		files = append(files, "docProps/core.xml", `<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>`+title+`</dc:title></cp:coreProperties>`)
	}
	return zipOf(t, files...)
}

// wp is a DOCX paragraph with an optional style and list level (-1: none).
func wp(style string, ilvl int, text string) string {
	var ppr string
	if style != "" {
		ppr += `<w:pStyle w:val="` + style + `"/>`
	}
	if ilvl >= 0 {
		ppr += fmt.Sprintf(`<w:numPr><w:ilvl w:val="%d"/><w:numId w:val="1"/></w:numPr>`, ilvl)
	}
	if ppr != "" {
		ppr = "<w:pPr>" + ppr + "</w:pPr>"
	}
	return "<w:p>" + ppr + `<w:r><w:t xml:space="preserve">` + text + "</w:t></w:r></w:p>"
}

// xlsxOf builds a workbook with excelize: sheets of rows.
func xlsxOf(t testing.TB, sheets map[string][][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	names := make([]string, 0, len(sheets))
	for n := range sheets {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i == 0 {
			f.SetSheetName("Sheet1", n)
		} else if _, err := f.NewSheet(n); err != nil {
			t.Fatal(err)
		}
		for r, row := range sheets[n] {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := f.SetCellValue(n, cell, v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ---- honest fakes of the store and the embedder ----

// fakeEmbedder embeds a text as a deterministic unit vector of its hash
// and counts what it embeds.
type fakeEmbedder struct {
	mu    sync.Mutex
	dim   int
	texts []string
	fail  string        // a text that makes EmbedPassages fail
	hang  string        // a text that makes EmbedPassages wait for its context to end
	gate  chan struct{} // when set, EmbedPassages waits for it
}

func (e *fakeEmbedder) CountTokens(s string) int { return wordCounter{}.CountTokens(s) }
func (e *fakeEmbedder) Model() kefu.ModelSpec {
	return kefu.ModelSpec{Name: "fake", Dim: e.dim, MaxTokens: 130, Pooling: kefu.PoolMean, Normalize: true}
}
func (e *fakeEmbedder) ModelID() kefu.ModelID { return "fake-v1" }
func (e *fakeEmbedder) Close() error          { return nil }
func (e *fakeEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(texts), nil
}
func (e *fakeEmbedder) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, t := range texts {
		if e.hang != "" && strings.Contains(t, e.hang) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	e.mu.Lock()
	for _, t := range texts {
		if e.fail != "" && strings.Contains(t, e.fail) {
			e.mu.Unlock()
			return nil, kefu.Errorf(kefu.EUNAVAILABLE, "model crashed on purpose")
		}
	}
	e.texts = append(e.texts, texts...)
	e.mu.Unlock()
	return e.embed(texts), nil
}

func (e *fakeEmbedder) embed(texts []string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		h := sha256.Sum256([]byte(t))
		v := make([]float32, e.dim)
		for k := range v {
			v[k] = float32(int(h[k%32]) - 128)
		}
		vecmath.Normalize(v)
		out[i] = v
	}
	return out
}

func (e *fakeEmbedder) embedded() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.texts...)
}

// fakeStore keeps KBs in maps. Search matches chunks holding every query
// word (keyword side) and ranks every vector by cosine (vector side).
type fakeStore struct {
	mu     sync.Mutex
	kbs    map[string]*kefu.KB
	docs   map[string]map[string]*kefu.Document
	chunks map[string]map[string][]kefu.Chunk  // kb → doc → chunks
	vecs   map[string]map[string][][][]float32 // kb → doc → vectors per chunk
	puts   int
}

func newFakeStore() *fakeStore {
	return &fakeStore{kbs: map[string]*kefu.KB{}, docs: map[string]map[string]*kefu.Document{},
		chunks: map[string]map[string][]kefu.Chunk{}, vecs: map[string]map[string][][][]float32{}}
}

func (s *fakeStore) CreateKB(ctx context.Context, kb *kefu.KB) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kbs[kb.Name] != nil {
		return kefu.Errorf(kefu.ECONFLICT, "kb %s exists", kb.Name)
	}
	c := *kb
	s.kbs[kb.Name] = &c
	s.docs[kb.Name] = map[string]*kefu.Document{}
	s.chunks[kb.Name] = map[string][]kefu.Chunk{}
	s.vecs[kb.Name] = map[string][][][]float32{}
	return nil
}

func (s *fakeStore) KB(ctx context.Context, name string) (*kefu.KB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kb := s.kbs[name]
	if kb == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no kb %s", name)
	}
	c := *kb
	return &c, nil
}

func (s *fakeStore) KBs(ctx context.Context) ([]*kefu.KB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*kefu.KB
	for _, kb := range s.kbs {
		c := *kb
		out = append(out, &c)
	}
	return out, nil
}

func (s *fakeStore) UpdateKB(ctx context.Context, kb *kefu.KB) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.kbs[kb.Name]
	if old == nil {
		return kefu.Errorf(kefu.ENOTFOUND, "no kb %s", kb.Name)
	}
	old.Description, old.Settings = kb.Description, kb.Settings
	old.Version++
	return nil
}

func (s *fakeStore) DeleteKB(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kbs, name)
	delete(s.docs, name)
	delete(s.chunks, name)
	delete(s.vecs, name)
	return nil
}

func (s *fakeStore) Stats(ctx context.Context, kb string) (kefu.KBStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st kefu.KBStats
	for id, d := range s.docs[kb] {
		st.Documents++
		st.Bytes += d.Bytes
		st.Chunks += len(s.chunks[kb][id])
		for _, v := range s.vecs[kb][id] {
			st.Vectors += len(v)
		}
	}
	return st, nil
}

func (s *fakeStore) PutDocument(ctx context.Context, doc *kefu.Document, chunks []kefu.Chunk, vectors [][][]float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kbs[doc.KB] == nil {
		return kefu.Errorf(kefu.ENOTFOUND, "no kb %s", doc.KB)
	}
	if len(vectors) != len(chunks) {
		return kefu.Errorf(kefu.EINVALID, "%d vectors for %d chunks", len(vectors), len(chunks))
	}
	for i := range chunks {
		if len(vectors[i]) != len(chunks[i].EmbedTexts()) {
			return kefu.Errorf(kefu.EINVALID, "chunk %d: %d vectors for %d texts", i, len(vectors[i]), len(chunks[i].EmbedTexts()))
		}
		for _, v := range vectors[i] {
			if v == nil {
				return kefu.Errorf(kefu.EINVALID, "chunk %d: missing vector", i)
			}
		}
	}
	d := *doc
	s.docs[doc.KB][doc.ID] = &d
	s.chunks[doc.KB][doc.ID] = append([]kefu.Chunk(nil), chunks...)
	s.vecs[doc.KB][doc.ID] = vectors
	s.kbs[doc.KB].Version++
	s.puts++
	return nil
}

// PutDocuments stores each document in turn; the fake does not need the
// real store's single commit to be honest about what it holds.
func (s *fakeStore) PutDocuments(ctx context.Context, ups []kefu.DocumentUpdate) error {
	for _, u := range ups {
		if err := s.PutDocument(ctx, u.Doc, u.Chunks, u.Vectors); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) DeleteDocument(ctx context.Context, kb, docID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs[kb][docID] == nil {
		return kefu.Errorf(kefu.ENOTFOUND, "no document %s", docID)
	}
	delete(s.docs[kb], docID)
	delete(s.chunks[kb], docID)
	delete(s.vecs[kb], docID)
	return nil
}

func (s *fakeStore) Document(ctx context.Context, kb, docID string) (*kefu.Document, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[kb][docID]
	if d == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no document %s", docID)
	}
	c := *d
	return &c, nil
}

func (s *fakeStore) Documents(ctx context.Context, kb string) ([]*kefu.Document, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*kefu.Document
	for _, d := range s.docs[kb] {
		c := *d
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *fakeStore) Chunks(ctx context.Context, kb, docID string) ([]*kefu.Chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*kefu.Chunk
	for i := range s.chunks[kb][docID] {
		c := s.chunks[kb][docID][i]
		out = append(out, &c)
	}
	return out, nil
}

func (s *fakeStore) KnownVectors(ctx context.Context, kb string, hashes []string) (map[string][][]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, h := range hashes {
		want[h] = true
	}
	out := map[string][][]float32{}
	for id, chunks := range s.chunks[kb] {
		for i, c := range chunks {
			if want[c.Hash] {
				out[c.Hash] = s.vecs[kb][id][i]
			}
		}
	}
	return out, nil
}

func (s *fakeStore) Reembed(ctx context.Context, kb string, model kefu.ModelID, dim int, embed func(ctx context.Context, texts []string) ([][]float32, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, chunks := range s.chunks[kb] {
		for i, c := range chunks {
			vs, err := embed(ctx, c.EmbedTexts())
			if err != nil {
				return err
			}
			s.vecs[kb][id][i] = vs
		}
	}
	s.kbs[kb].Model, s.kbs[kb].Dim = model, dim
	return nil
}

func (s *fakeStore) Search(ctx context.Context, kb string, req kefu.SearchRequest) (*kefu.Candidates, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &kefu.Candidates{Chunks: map[string]*kefu.Chunk{}}
	words := strings.Fields(strings.ToLower(req.Query))
	for id, chunks := range s.chunks[kb] {
		for i := range chunks {
			c := &chunks[i]
			hay := strings.ToLower(c.ContextText() + " " + strings.Join(c.Questions, " "))
			match := len(words) > 0
			for _, w := range words {
				match = match && strings.Contains(hay, w)
			}
			if match {
				out.Keyword = append(out.Keyword, kefu.Scored{ChunkID: c.ID, Score: float64(len(words))})
				out.Chunks[c.ID] = c
			}
			if req.Vector != nil {
				best := -2.0
				for _, v := range s.vecs[kb][id][i] {
					var dot float64
					for k := range v {
						dot += float64(v[k]) * float64(req.Vector[k])
					}
					best = math.Max(best, dot)
				}
				out.Vector = append(out.Vector, kefu.Scored{ChunkID: c.ID, Score: best})
				out.Chunks[c.ID] = c
			}
		}
	}
	sort.Slice(out.Vector, func(i, j int) bool { return out.Vector[i].Score > out.Vector[j].Score })
	if req.K > 0 && len(out.Vector) > req.K {
		out.Vector = out.Vector[:req.K]
	}
	return out, nil
}

func (s *fakeStore) Close() error { return nil }

var _ kefu.Store = (*fakeStore)(nil)
