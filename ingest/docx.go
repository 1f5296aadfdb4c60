package ingest

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// docx parses a Word document: headings from paragraph styles, list items
// from numbering, tables with their rows, and the core title.
//
// Written here on archive/zip and encoding/xml because no well-kept Go
// library reads DOCX structure: the maintained ones (unioffice, unidoc)
// are commercial, and the free readers extract flat text, losing the
// headings and tables the chunker cuts at.
func (p *parser) docx(name string, data []byte) (*Doc, error) {
	zr, err := p.openZip(name, data)
	if err != nil {
		return nil, err
	}
	parts := map[string]*zip.File{}
	for _, f := range zr.File {
		parts[f.Name] = f
	}
	main := parts["word/document.xml"]
	if main == nil {
		return nil, invalid(name, "no word/document.xml")
	}
	styles := map[string]docxStyle{}
	if f := parts["word/styles.xml"]; f != nil {
		if data, err := p.readMember(name, f, p.lim.MaxDecompressedBytes); err == nil {
			styles = parseStyles(data)
		} else if p.left.left < 0 {
			return nil, err
		}
	}
	doc := &Doc{}
	if f := parts["docProps/core.xml"]; f != nil {
		if data, err := p.readMember(name, f, 1<<20); err == nil {
			doc.Title = coreTitle(data)
		}
	}
	body, err := p.readMember(name, main, p.lim.MaxDecompressedBytes)
	if err != nil {
		return nil, err
	}
	w := &docxWalker{p: p, name: name, styles: styles}
	if err := w.walk(body); err != nil {
		return nil, err
	}
	doc.Blocks = w.out
	if doc.Title == "" {
		doc.Title = w.title
	}
	return doc, nil
}

// docxStyle is what a paragraph style says about structure.
type docxStyle struct {
	heading int // 1-9, 0 when not a heading
	title   bool
	list    bool
	basedOn string
}

var headingStyleName = regexp.MustCompile(`^(?:heading|标题|überschrift|titre|título|titolo|заголовок|kop)\s*([1-9])$`)

// parseStyles reads styles.xml: the style ids of headings (by their names,
// "heading 1", which Word keeps in English even when the id is localised,
// or by outline level), of the title and of list paragraphs.
func parseStyles(data []byte) map[string]docxStyle {
	out := map[string]docxStyle{}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var id string
	var cur docxStyle
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "style":
				id, cur = xmlAttr(t, "styleId"), docxStyle{}
			case "name":
				n := strings.ToLower(strings.TrimSpace(xmlAttr(t, "val")))
				if m := headingStyleName.FindStringSubmatch(n); m != nil {
					cur.heading, _ = strconv.Atoi(m[1])
				}
				cur.title = cur.title || n == "title" || n == "标题"
				cur.list = cur.list || strings.HasPrefix(n, "list")
			case "basedOn":
				cur.basedOn = xmlAttr(t, "val")
			case "outlineLvl":
				if v, err := strconv.Atoi(xmlAttr(t, "val")); err == nil && v >= 0 && v < 9 && cur.heading == 0 {
					cur.heading = v + 1
				}
			}
		case xml.EndElement:
			if t.Name.Local == "style" && id != "" {
				if m := headingStyleName.FindStringSubmatch(strings.ToLower(id)); m != nil && cur.heading == 0 {
					cur.heading, _ = strconv.Atoi(m[1])
				}
				out[id] = cur
				id = ""
			}
		}
	}
	// Styles based on a heading are headings.
	for id, s := range out {
		for depth, b := 0, s.basedOn; s.heading == 0 && b != "" && depth < 10; depth++ {
			base := out[b]
			s.heading, s.title, b = base.heading, s.title || base.title, base.basedOn
		}
		out[id] = s
	}
	return out
}

func coreTitle(data []byte) string {
	dec := xml.NewDecoder(bytes.NewReader(data))
	in := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			in = t.Name.Local == "title"
		case xml.CharData:
			if in {
				return strings.TrimSpace(string(t))
			}
		case xml.EndElement:
			in = false
		}
	}
}

func xmlAttr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// docxPara is a paragraph being read.
type docxPara struct {
	style string
	list  bool
	level int
	text  strings.Builder
}

// docxWalker streams document.xml into blocks.
type docxWalker struct {
	p      *parser
	name   string
	styles map[string]docxStyle
	out    []Block
	title  string
	paras  []*docxPara  // open paragraphs (text boxes nest them)
	tables [][][]string // open tables: rows of cells
	cell   []*strings.Builder
}

func (w *docxWalker) walk(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	inText, skip := false, 0
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := w.p.err(w.name); err != nil {
				return err
			}
		}
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return invalid(w.name, "malformed document.xml: %v", err)
		}
		if skip > 0 {
			switch tok.(type) {
			case xml.StartElement:
				skip++
			case xml.EndElement:
				skip--
			}
			continue
		}
		switch t := tok.(type) {
		case xml.StartElement:
			inText = false
			switch t.Name.Local {
			case "Fallback", "delText", "instrText", "del", "footnoteReference":
				skip = 1 // duplicates, deleted text and field codes
			case "p":
				w.paras = append(w.paras, &docxPara{})
			case "pStyle":
				if para := w.para(); para != nil {
					para.style = xmlAttr(t, "val")
				}
			case "numPr":
				if para := w.para(); para != nil {
					para.list = true
				}
			case "ilvl":
				if para := w.para(); para != nil {
					para.level, _ = strconv.Atoi(xmlAttr(t, "val"))
					para.level = min(max(para.level, 0), 8)
				}
			case "t":
				inText = true
			case "tab":
				w.write(" ")
			case "br", "cr":
				w.write("\n")
			case "tbl":
				w.tables = append(w.tables, nil)
			case "tr":
				if k := len(w.tables); k > 0 {
					w.tables[k-1] = append(w.tables[k-1], nil)
				}
			case "tc":
				w.cell = append(w.cell, &strings.Builder{})
			}
		case xml.CharData:
			if inText {
				w.write(string(t))
			}
		case xml.EndElement:
			inText = false
			switch t.Name.Local {
			case "p":
				if err := w.endPara(); err != nil {
					return err
				}
			case "tc":
				if k := len(w.cell); k > 0 {
					c := strings.TrimSpace(w.cell[k-1].String())
					w.cell = w.cell[:k-1]
					if tk := len(w.tables); tk > 0 && len(w.tables[tk-1]) > 0 {
						rows := w.tables[tk-1]
						rows[len(rows)-1] = append(rows[len(rows)-1], c)
					}
				}
			case "tbl":
				if err := w.endTable(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (w *docxWalker) para() *docxPara {
	if k := len(w.paras); k > 0 {
		return w.paras[k-1]
	}
	return nil
}

func (w *docxWalker) write(s string) {
	if para := w.para(); para != nil {
		para.text.WriteString(s)
	}
}

func (w *docxWalker) add(b Block) error {
	if len(w.out) >= w.p.lim.MaxBlocks {
		return tooLarge(w.name, "max_blocks", "more than %d blocks", w.p.lim.MaxBlocks)
	}
	w.out = append(w.out, b)
	return nil
}

// endPara closes a paragraph: into the open table cell, else as a block.
func (w *docxWalker) endPara() error {
	k := len(w.paras)
	if k == 0 {
		return nil
	}
	para := w.paras[k-1]
	w.paras = w.paras[:k-1]
	txt := collapseKeepBreaks(para.text.String())
	if txt == "" {
		return nil
	}
	if c := len(w.cell); c > 0 && len(w.tables) > 0 {
		cell := w.cell[c-1]
		if cell.Len() > 0 {
			cell.WriteByte(' ')
		}
		cell.WriteString(txt)
		return nil
	}
	st := w.styles[para.style]
	if st.heading == 0 && !st.title {
		if m := headingStyleName.FindStringSubmatch(strings.ToLower(para.style)); m != nil {
			st.heading, _ = strconv.Atoi(m[1])
		} else if strings.EqualFold(para.style, "Title") {
			st.title = true
		}
	}
	switch {
	case st.title:
		if w.title == "" {
			w.title = txt
		}
		return w.add(Block{Kind: BlockHeading, Level: 1, Text: txt})
	case st.heading > 0:
		return w.add(Block{Kind: BlockHeading, Level: st.heading, Text: txt})
	case para.list || st.list:
		return w.add(Block{Kind: BlockListItem, Level: para.level + 1, Text: "- " + txt})
	}
	return w.add(Block{Kind: BlockParagraph, Text: txt})
}

// endTable closes a table: a nested one is flattened into its cell.
func (w *docxWalker) endTable() error {
	k := len(w.tables)
	if k == 0 {
		return nil
	}
	rows := w.tables[k-1]
	w.tables = w.tables[:k-1]
	var kept [][]string
	for _, r := range rows {
		if len(trimRow(r)) > 0 {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	if c := len(w.cell); c > 0 && len(w.tables) > 0 {
		var flat []string
		for _, r := range kept {
			flat = append(flat, strings.Join(r, " | "))
		}
		cell := w.cell[c-1]
		if cell.Len() > 0 {
			cell.WriteByte(' ')
		}
		cell.WriteString(strings.Join(flat, "; "))
		return nil
	}
	return w.add(Block{Kind: BlockTable, Rows: kept})
}

// collapseKeepBreaks collapses spaces within lines and drops empty lines.
func collapseKeepBreaks(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = collapse(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
