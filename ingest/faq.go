package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode"

	"github.com/kefu-dev/kefu/internal/text"
	"github.com/xuri/excelize/v2"
)

// FAQ sheet columns.
const (
	colQuestion = iota
	colSimilar
	colAnswer
	colCategory
	colLang
	colURL
	numCols
)

// Header names of FAQ sheet columns, normalised (lower case, no spaces or
// punctuation). A header cell names a column when it equals one of these,
// or for the Chinese ones when it contains it ("相似问法（用|分隔）").
var headerNames = [numCols][]string{
	colQuestion: {"问题", "标准问题", "标准问", "问", "提问", "问句", "常见问题", "question", "questions", "q", "standardquestion", "faq", "query"},
	colSimilar:  {"相似问法", "相似问题", "相似问", "扩展问", "扩展问题", "扩展问法", "同义问法", "其他问法", "近义问法", "similar", "similarquestions", "similarquestion", "alternatives", "alternativequestions", "paraphrases", "variants", "aliases"},
	colAnswer:   {"答案", "回答", "答", "答复", "标准答案", "回复", "answer", "answers", "a", "response", "reply"},
	colCategory: {"分类", "类别", "类目", "类型", "栏目", "category", "categories", "topic", "group", "section"},
	colLang:     {"语言", "语种", "lang", "language", "locale"},
	colURL:      {"链接", "网址", "url", "link"},
}

// Columns checked in this order, so that "相似问题" is not taken for "问题"
// nor "标准答案" for "答".
var headerOrder = []int{colSimilar, colQuestion, colAnswer, colCategory, colLang, colURL}

func normHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// detectHeader maps the cells of a header row to FAQ columns; ok is false
// when there is no question or no answer column.
func detectHeader(row []string) (cols [numCols]int, ok bool) {
	for i := range cols {
		cols[i] = -1
	}
	for i, cell := range row {
		h := normHeader(cell)
		if h == "" {
			continue
		}
	match:
		for _, c := range headerOrder {
			if cols[c] >= 0 {
				continue
			}
			for _, name := range headerNames[c] {
				if h == name || name[0] >= 0x80 && len(name) > 3 && strings.Contains(h, name) {
					cols[c] = i
					break match
				}
			}
		}
	}
	return cols, cols[colQuestion] >= 0 && cols[colAnswer] >= 0
}

// faqSheet builds FAQ entries from rows (the header included): one entry
// per question row, its similar phrasings split from their cell; a row
// with a question but no answer, right after an entry, is another phrasing
// of it (the answer cell merged over several rows in a spreadsheet); rows
// with the same answer text are one entry.
type faqSheet struct {
	name    string
	cols    [numCols]int
	entries []FAQ
	seen    []map[string]bool // per entry: its phrasings, folded
	byAns   map[string]int
}

func (s *faqSheet) row(cells []string, rowNum int) {
	get := func(c int) string {
		if i := s.cols[c]; i >= 0 && i < len(cells) {
			return strings.TrimSpace(strings.ReplaceAll(cells[i], "\r\n", "\n"))
		}
		return ""
	}
	q, ans := get(colQuestion), get(colAnswer)
	similar := splitPhrasings(get(colSimilar))
	if q == "" && len(similar) > 0 {
		q, similar = similar[0], similar[1:]
	}
	if q == "" {
		return
	}
	if ans == "" {
		if n := len(s.entries); n > 0 && get(colCategory) == "" {
			s.addPhrasings(n-1, append([]string{q}, similar...))
		}
		return
	}
	key := strings.Join(strings.Fields(ans), " ")
	if i, ok := s.byAns[key]; ok {
		s.addPhrasings(i, append([]string{q}, similar...))
		return
	}
	e := FAQ{
		Answer:   ans,
		Category: get(colCategory),
		Lang:     normLang(get(colLang)),
		URL:      get(colURL),
		Row:      rowNum,
	}
	if e.Lang == "" {
		e.Lang = text.Lang(q + "\n" + ans)
	}
	s.byAns[key] = len(s.entries)
	s.entries = append(s.entries, e)
	s.seen = append(s.seen, map[string]bool{})
	s.addPhrasings(len(s.entries)-1, append([]string{q}, similar...))
}

// splitPhrasings splits a cell of similar questions on new lines, |, ；
// and ;.
func splitPhrasings(cell string) []string {
	parts := strings.FieldsFunc(cell, func(r rune) bool {
		return r == '\n' || r == '|' || r == '；' || r == ';' || r == '｜'
	})
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// addPhrasings appends to entry i the phrasings it does not have yet
// (compared after width and space folding).
func (s *faqSheet) addPhrasings(i int, more []string) {
	for _, m := range more {
		if k := text.Normalize(m); !s.seen[i][k] {
			s.seen[i][k] = true
			s.entries[i].Questions = append(s.entries[i].Questions, m)
		}
	}
}

// normLang maps a language cell to "zh" or "en".
func normLang(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "zh") || strings.Contains(s, "中") || s == "chinese" || s == "cn" || s == "汉语":
		return "zh"
	case strings.HasPrefix(s, "en") || strings.Contains(s, "英") || s == "english":
		return "en"
	}
	return ""
}

// rowSource calls yield on each row of a sheet.
type rowSource func(yield func(cells []string) error) error

// faqRows reads a sheet: the first non-empty row is the header; without a
// recognisable one, a sheet of exactly two columns is question, answer.
// It returns nil for a sheet that is neither.
func (p *parser) faqRows(name string, rows rowSource) (*faqSheet, error) {
	s := &faqSheet{name: name, byAns: map[string]int{}}
	const (
		unknown = iota
		withHeader
		twoColumns
	)
	layout := unknown
	n := 0
	errNotFAQ := errors.New("not an FAQ sheet")
	err := rows(func(cells []string) error {
		n++
		if n > p.lim.MaxRows+1 {
			return tooLarge(name, "max_rows", "more than %d rows", p.lim.MaxRows)
		}
		if n%512 == 0 {
			if err := p.err(name); err != nil {
				return err
			}
		}
		for _, c := range cells {
			if len(c) > p.lim.MaxFieldBytes {
				return tooLarge(name, "max_field_bytes", "row %d has a cell of more than %d bytes", n, p.lim.MaxFieldBytes)
			}
		}
		if cells = trimRow(cells); len(cells) == 0 {
			return nil
		}
		switch layout {
		case unknown:
			if cols, ok := detectHeader(cells); ok {
				s.cols, layout = cols, withHeader
				return nil
			}
			if len(cells) != 2 {
				return errNotFAQ
			}
			s.cols = [numCols]int{colQuestion: 0, colSimilar: -1, colAnswer: 1, colCategory: -1, colLang: -1, colURL: -1}
			layout = twoColumns
		case twoColumns:
			if len(cells) > 2 {
				return errNotFAQ
			}
		}
		s.row(cells, n)
		return nil
	})
	if errors.Is(err, errNotFAQ) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// trimRow drops trailing empty cells.
func trimRow(cells []string) []string {
	n := len(cells)
	for n > 0 && strings.TrimSpace(cells[n-1]) == "" {
		n--
	}
	return cells[:n]
}

// csv parses a CSV (or TSV) FAQ sheet.
func (p *parser) csv(name, s string) (*Doc, error) {
	rows := func(yield func([]string) error) error {
		r := csv.NewReader(strings.NewReader(s))
		r.Comma = sniffDelimiter(s)
		r.FieldsPerRecord = -1
		r.LazyQuotes = true
		for {
			rec, err := r.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return invalid(name, "malformed CSV: %v", err)
			}
			if err := yield(rec); err != nil {
				return err
			}
		}
	}
	sheet, err := p.faqRows(name, rows)
	if err != nil {
		return nil, err
	}
	if sheet == nil || len(sheet.entries) == 0 {
		return nil, unsupported(name, "not an FAQ sheet: no question and answer columns (headers like 问题/答案 or question/answer, or exactly two columns)")
	}
	return &Doc{FAQs: sheet.entries}, nil
}

// sniffDelimiter picks the delimiter of the first line: comma, tab or
// semicolon, whichever occurs most outside quotes.
func sniffDelimiter(s string) rune {
	line, _, _ := strings.Cut(s, "\n")
	counts := map[rune]int{}
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case !quoted && (r == ',' || r == '\t' || r == ';'):
			counts[r]++
		}
	}
	best := ','
	for _, r := range []rune{'\t', ';'} {
		if counts[r] > counts[best] {
			best = r
		}
	}
	return best
}

// xlsx parses an XLSX FAQ workbook: every sheet that is an FAQ sheet
// contributes its entries. The ZIP is checked against the limits before
// excelize opens it; rows are streamed.
func (p *parser) xlsx(name string, data []byte) (*Doc, error) {
	zr, err := p.openZip(name, data)
	if err != nil {
		return nil, err
	}
	// The workbook's parts count against the upload's budget, shared with
	// the other files of an archive.
	limit := p.left.left
	var total int64
	for _, f := range zr.File {
		total += int64(f.UncompressedSize64) // openZip bounded each and the sum
	}
	if !p.left.take(total) {
		return nil, tooLarge(name, "max_decompressed_bytes", "unpacks to more than %d bytes", p.lim.MaxDecompressedBytes)
	}
	var doc *Doc
	err = safely(name, func() error {
		f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
			UnzipSizeLimit:    limit,
			UnzipXMLSizeLimit: min(limit, 16<<20),
		})
		if err != nil {
			return invalid(name, "not a readable XLSX workbook: %s", zipReason(err))
		}
		defer f.Close()
		doc = &Doc{}
		for _, sheetName := range f.GetSheetList() {
			sheet, err := p.faqRows(name, func(yield func([]string) error) error {
				rows, err := f.Rows(sheetName)
				if err != nil {
					return invalid(name, "sheet %q: %v", sheetName, err)
				}
				defer rows.Close()
				for rows.Next() {
					cells, err := rows.Columns()
					if err != nil {
						return invalid(name, "sheet %q: %v", sheetName, err)
					}
					if err := yield(cells); err != nil {
						return err
					}
				}
				return rows.Error()
			})
			if err != nil {
				return err
			}
			if sheet != nil {
				doc.FAQs = append(doc.FAQs, sheet.entries...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(doc.FAQs) == 0 {
		return nil, unsupported(name, "no FAQ sheet: no question and answer columns (headers like 问题/答案 or question/answer, or exactly two columns)")
	}
	return doc, nil
}
