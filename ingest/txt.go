package ingest

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// txt parses plain text: paragraphs are separated by blank lines; a line
// is a heading only when it obviously is one (Markdown "# Title", or a line
// underlined with === or ---); lines that start with a list marker are list
// items.
func (p *parser) txt(name, s string) (*Doc, error) {
	doc := &Doc{Blocks: textBlocks(s, true)}
	doc.Title = firstH1(doc.Blocks)
	return doc, p.err(name)
}

// firstH1 is the text of the first level-1 heading, the usual title.
func firstH1(blocks []Block) string {
	for _, b := range blocks {
		if b.Kind == BlockHeading && b.Level == 1 {
			return b.Text
		}
	}
	return ""
}

// textBlocks cuts plain text into paragraphs and list items, and headings
// when headings is set.
func textBlocks(s string, headings bool) []Block {
	var blocks []Block
	var para []string
	// item holds the lines of the last block while it is a list item that
	// indented lines may continue; they are joined once, when it ends.
	var item []string
	endItem := func() {
		if len(item) > 0 {
			blocks[len(blocks)-1].Text = strings.Join(item, " ")
			item = nil
		}
	}
	add := func(b Block) {
		endItem()
		blocks = append(blocks, b)
	}
	flush := func() {
		if t := strings.TrimSpace(strings.Join(para, "\n")); t != "" {
			add(Block{Kind: BlockParagraph, Text: t})
		}
		para = para[:0]
	}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRightFunc(lines[i], unicode.IsSpace)
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flush()
		case headings && atxHeading(trimmed) > 0:
			flush()
			lvl := atxHeading(trimmed)
			add(Block{Kind: BlockHeading, Level: lvl, Text: strings.TrimSpace(strings.Trim(trimmed[lvl:], "# \t"))})
		case headings && len(para) == 0 && i+1 < len(lines) && underline(lines[i+1]) > 0 && utf8.RuneCountInString(trimmed) <= 120:
			add(Block{Kind: BlockHeading, Level: underline(lines[i+1]), Text: trimmed})
			i++
		case listMarker(trimmed) > 0:
			flush()
			depth := 1 + (len(line)-len(strings.TrimLeft(line, " \t")))/2
			add(Block{Kind: BlockListItem, Level: min(depth, 8), Text: trimmed})
			item = []string{trimmed}
		case len(para) == 0 && len(item) > 0 && line != trimmed:
			item = append(item, trimmed) // an indented continuation line of a list item
		default:
			para = append(para, trimmed)
		}
	}
	flush()
	endItem()
	return blocks
}

// atxHeading returns the level of a "# Heading" line, else 0.
func atxHeading(line string) int {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || n == len(line) || line[n] != ' ' {
		return 0
	}
	return n
}

// underline returns 1 for a line of ===, 2 for a line of ---, else 0.
func underline(line string) int {
	t := strings.TrimSpace(line)
	if len(t) < 3 {
		return 0
	}
	switch {
	case strings.Trim(t, "=") == "":
		return 1
	case strings.Trim(t, "-") == "":
		return 2
	}
	return 0
}

// listMarker returns the length of a list marker opening line ("- ", "* ",
// "• ", "1. ", "1) ", "1、", "（1）"), else 0.
func listMarker(line string) int {
	for _, m := range []string{"- ", "* ", "+ ", "• ", "· ", "● ", "◦ ", "▪ "} {
		if strings.HasPrefix(line, m) && len(line) > len(m) {
			return len(m)
		}
	}
	d := 0
	for d < len(line) && d < 3 && line[d] >= '0' && line[d] <= '9' {
		d++
	}
	if d == 0 || d == len(line) {
		return 0
	}
	switch {
	case (line[d] == '.' || line[d] == ')') && d+1 < len(line) && line[d+1] == ' ':
		return d + 2
	case strings.HasPrefix(line[d:], "、") || strings.HasPrefix(line[d:], "）") || strings.HasPrefix(line[d:], "．"):
		return d + 3
	}
	return 0
}
