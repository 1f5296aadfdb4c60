package ingest

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	gtext "github.com/yuin/goldmark/text"
)

var md = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// maxNesting bounds the recursion of the tree walkers; deeper nodes are
// read as plain text.
const maxNesting = 128

// markdown parses Markdown and MDX with goldmark's AST: headings keep their
// levels, lists their items, tables their rows and code blocks their lines.
// YAML front matter gives the title and slug. MDX import/export lines,
// Docusaurus admonition fences (:::tip) and JSX tags are dropped and the
// text inside them kept.
func (p *parser) markdown(name, s string, mdx bool) (*Doc, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	front, body := splitFrontMatter(s)
	body = flattenNesting(cleanMDX(body, mdx))
	src := []byte(body)
	var root ast.Node
	if err := safely(name, func() error {
		root = md.Parser().Parse(gtext.NewReader(src))
		return nil
	}); err != nil {
		return nil, err
	}
	c := &mdConv{p: p, name: name, src: src}
	c.blocks(root, 0, 0)
	if c.err != nil {
		return nil, c.err
	}
	doc := &Doc{Blocks: c.out, Meta: front}
	doc.Title = cmp.Or(front["title"], firstH1(c.out))
	doc.URL = front["url"]
	if doc.URL == "" {
		doc.URL = front["slug"]
	}
	return doc, nil
}

// splitFrontMatter cuts YAML front matter ("---" lines) off s and reads its
// top-level scalar keys. Only a few scalar keys matter (title, slug,
// description, url), so this reads "key: value" lines instead of pulling in
// a YAML library; nested values are skipped.
func splitFrontMatter(s string) (map[string]string, string) {
	s = strings.TrimPrefix(s, "\uFEFF")
	if !strings.HasPrefix(s, "---\n") {
		return nil, s
	}
	end := strings.Index(s[4:], "\n---")
	if end < 0 {
		return nil, s
	}
	head, rest := s[4:4+end], s[4+end+4:]
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[i+1:]
	} else {
		rest = ""
	}
	meta := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" || strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		meta[k] = v
	}
	return meta, rest
}

var (
	admonition  = regexp.MustCompile(`^\s*:::\s*[A-Za-z-]*.*$`)
	mdxComment  = regexp.MustCompile(`(?s)\{/\*.*?\*/\}`)
	mdxImportRe = regexp.MustCompile(`^(import|export)\s`)
)

// cleanMDX blanks, outside code fences, what is syntax rather than text:
// Docusaurus admonition fences (:::tip), JSX component tags that open a
// line (<Tabs values={[…]}>, which may span lines and which goldmark would
// take for text), and in MDX the import/export statements and
// {/* comments */}. Blanked text becomes spaces, so lines keep their places.
func cleanMDX(s string, mdx bool) string {
	if mdx {
		s = mdxComment.ReplaceAllString(s, "")
	}
	b := []byte(s)
	fence := ""
	for i := 0; i < len(b); {
		end := i + strings.IndexByte(s[i:], '\n')
		if end < i {
			end = len(s)
		}
		line := s[i:end]
		t := strings.TrimLeft(line, " \t")
		indent := i + len(line) - len(t)
		switch {
		case fence != "":
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]+" \t") == "" {
				fence = ""
			}
		case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
			n := 0
			for n < len(t) && t[n] == t[0] {
				n++
			}
			fence = t[:n]
		case admonition.MatchString(line) || mdx && mdxImportRe.MatchString(line):
			blank(b, i, end)
		case jsxTag(t):
			tagEnd := skipTag(s, indent+1)
			blank(b, indent, tagEnd)
			// Go on after the tag, which may end lines below.
			if nl := strings.IndexByte(s[tagEnd:], '\n'); nl >= 0 && strings.TrimSpace(s[tagEnd:tagEnd+nl]) == "" {
				i = tagEnd + nl + 1
			} else if nl < 0 {
				i = len(s)
			} else {
				i = tagEnd
			}
			continue
		}
		i = end + 1
	}
	return string(b)
}

// jsxTag reports whether a line opens with a JSX component tag: <Name or
// </Name with a capital letter, which no HTML element has.
func jsxTag(t string) bool {
	if !strings.HasPrefix(t, "<") {
		return false
	}
	t = strings.TrimPrefix(t[1:], "/")
	return t != "" && t[0] >= 'A' && t[0] <= 'Z'
}

func blank(b []byte, from, to int) {
	for k := from; k < to && k < len(b); k++ {
		if b[k] != '\n' {
			b[k] = ' '
		}
	}
}

// Container nesting goldmark is given at most: it parses deeply nested
// block quotes and lists in quadratic time ("> > > …" 40 KB deep takes
// half a second, a megabyte minutes, and cannot be interrupted).
const (
	maxMDContainers = 32
	maxMDIndent     = 128
)

// flattenNesting drops, on every line, the container markers (">", list
// markers) beyond maxMDContainers and the indentation beyond maxMDIndent
// columns, keeping the text. Real documents never nest that deep.
func flattenNesting(s string) string {
	if !strings.Contains(s, "\n") && len(s) < 2*maxMDContainers {
		return s
	}
	lines := strings.Split(s, "\n")
	changed := false
	for k, line := range lines {
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if indent > maxMDIndent {
			line = line[indent-maxMDIndent:]
			lines[k], changed = line, true
		}
		depth, i, keep := 0, 0, 0
		for {
			j := i
			for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
				j++
			}
			n := 0
			if j < len(line) && line[j] == '>' {
				n = 1
			} else if m := listMarker(line[j:]); m > 0 && m <= 5 {
				n = m
			}
			if n == 0 {
				break
			}
			i = j + n
			depth++
			if depth == maxMDContainers {
				keep = i
			}
		}
		if depth > maxMDContainers {
			lines[k], changed = line[:keep]+" "+strings.TrimLeft(line[i:], " \t"), true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(lines, "\n")
}

// mdConv converts a goldmark tree into blocks.
type mdConv struct {
	p    *parser
	name string
	src  []byte
	out  []Block
	err  error
}

func (c *mdConv) add(b Block) {
	if len(c.out) > c.p.lim.MaxBlocks {
		if c.err == nil {
			c.err = tooLarge(c.name, "max_blocks", "more than %d blocks", c.p.lim.MaxBlocks)
		}
		return
	}
	c.out = append(c.out, b)
}

// blocks converts the block children of n; list is the depth of the list
// n is in.
func (c *mdConv) blocks(n ast.Node, list, depth int) {
	for ch := n.FirstChild(); ch != nil && c.err == nil; ch = ch.NextSibling() {
		c.block(ch, list, depth+1)
	}
}

func (c *mdConv) block(n ast.Node, list, depth int) {
	if depth > maxNesting {
		if t := c.plain(n); t != "" {
			c.add(Block{Kind: BlockParagraph, Text: t})
		}
		return
	}
	switch n := n.(type) {
	case *ast.Heading:
		if t := headingText(c.inline(n)); t != "" {
			c.add(Block{Kind: BlockHeading, Level: n.Level, Text: t})
		}
	case *ast.Paragraph, *ast.TextBlock:
		if t := c.inline(n); t != "" {
			c.add(Block{Kind: BlockParagraph, Text: t})
		}
	case *ast.List:
		num := n.Start
		for item := n.FirstChild(); item != nil && c.err == nil; item = item.NextSibling() {
			marker := "- "
			if n.IsOrdered() {
				marker = fmt.Sprintf("%d. ", num)
				num++
			}
			c.listItem(item, marker, list+1, depth+1)
		}
	case *ast.FencedCodeBlock:
		lang := string(n.Language(c.src))
		code := c.lines(n)
		if lang == "mdx-code-block" {
			c.htmlText(code)
			return
		}
		if strings.TrimSpace(code) != "" {
			c.add(Block{Kind: BlockCode, Text: strings.TrimRight(code, "\n"), Lang: lang})
		}
	case *ast.CodeBlock:
		if code := c.lines(n); strings.TrimSpace(code) != "" {
			c.add(Block{Kind: BlockCode, Text: strings.TrimRight(code, "\n")})
		}
	case *ast.HTMLBlock:
		raw := c.lines(n)
		if n.HasClosure() {
			raw += string(n.ClosureLine.Value(c.src))
		}
		c.htmlText(raw)
	case *east.Table:
		var rows [][]string
		for r := n.FirstChild(); r != nil; r = r.NextSibling() {
			var row []string
			for cell := r.FirstChild(); cell != nil; cell = cell.NextSibling() {
				row = append(row, c.inline(cell))
			}
			rows = append(rows, row)
		}
		if len(rows) > 0 {
			c.add(Block{Kind: BlockTable, Rows: rows})
		}
	case *ast.ThematicBreak:
	default: // blockquotes, documents and containers of the extensions
		c.blocks(n, list, depth)
	}
}

// listItem adds an item's own text as one list item, and its nested lists,
// code blocks and tables after it.
func (c *mdConv) listItem(item ast.Node, marker string, list, depth int) {
	var text []string
	flush := func() {
		if len(text) > 0 {
			c.add(Block{Kind: BlockListItem, Level: list, Text: marker + strings.Join(text, " ")})
			text, marker = nil, "  "
		}
	}
	for ch := item.FirstChild(); ch != nil && c.err == nil; ch = ch.NextSibling() {
		switch ch.(type) {
		case *ast.Paragraph, *ast.TextBlock:
			if t := c.inline(ch); t != "" {
				text = append(text, t)
			}
		default:
			flush()
			c.block(ch, list, depth+1)
		}
	}
	flush()
}

// htmlText keeps the text of an HTML or JSX block.
func (c *mdConv) htmlText(raw string) {
	if strings.HasPrefix(strings.TrimSpace(strings.ToLower(raw)), "<table") {
		if blocks, err := htmlFragmentBlocks(raw); err == nil {
			for _, b := range blocks {
				c.add(b)
			}
			return
		}
	}
	for _, b := range textBlocks(stripTags(raw), false) {
		c.add(b)
	}
}

// lines joins the raw lines of a code or HTML block.
func (c *mdConv) lines(n ast.Node) string {
	var b strings.Builder
	segs := n.Lines()
	for i := 0; i < segs.Len(); i++ {
		seg := segs.At(i)
		b.Write(seg.Value(c.src))
	}
	return b.String()
}

// inline returns the text of n's inline content, soft line breaks joined
// as prose (a space, or nothing between Chinese characters).
func (c *mdConv) inline(n ast.Node) string {
	var b strings.Builder
	c.inlineTo(&b, n, 0)
	return joinLines(b.String())
}

func (c *mdConv) inlineTo(b *strings.Builder, n ast.Node, depth int) {
	for ch := n.FirstChild(); ch != nil; ch = ch.NextSibling() {
		switch ch := ch.(type) {
		case *ast.Text:
			b.Write(ch.Segment.Value(c.src))
			if ch.SoftLineBreak() || ch.HardLineBreak() {
				b.WriteByte('\n')
			}
		case *ast.String:
			b.Write(ch.Value)
		case *ast.AutoLink:
			b.Write(ch.Label(c.src))
		case *ast.RawHTML, *ast.Image:
			// Inline tags (<span id=…>, <br/>) carry no text of their own;
			// alt texts of screenshots are mostly noise ("Image").
		default:
			if depth < maxNesting {
				c.inlineTo(b, ch, depth+1)
			}
		}
	}
}

// plain returns all the text under n, without structure.
func (c *mdConv) plain(n ast.Node) string {
	var b strings.Builder
	_ = ast.Walk(n, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Text:
			b.Write(n.Segment.Value(c.src))
			b.WriteByte(' ')
		case *ast.String:
			b.Write(n.Value)
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}

var headingID = regexp.MustCompile(`\s*\{#[^}]*\}\s*$`)

// headingText drops a Docusaurus custom id ("Title {#title}").
func headingText(s string) string {
	return strings.TrimSpace(headingID.ReplaceAllString(s, ""))
}

// joinLines joins the lines of a paragraph: a space between them, nothing
// where both sides are Chinese; runs of spaces become one.
func joinLines(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") && !strings.Contains(s, "  ") {
		return strings.TrimSpace(s)
	}
	lines := strings.Split(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			prev, _ := utf8.DecodeLastRuneInString(b.String())
			next, _ := utf8.DecodeRuneInString(l)
			if !(isWide(prev) && isWide(next)) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// isWide reports Chinese characters and full-width punctuation, which are
// written without spaces between them.
func isWide(r rune) bool {
	return unicode.Is(unicode.Han, r) || isCJKSymbol(r)
}

// stripTags removes HTML and JSX tags from s and keeps the text between
// them. JSX attributes may hold {expressions} with '>' inside, which an
// HTML tokenizer would end the tag at; brace depth and quotes are tracked
// here instead. Expressions outside tags ({toc}) are dropped too.
func stripTags(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == '<' && i+1 < len(s) && (isASCIILetter(s[i+1]) || s[i+1] == '/' || s[i+1] == '!' || s[i+1] == '>'):
			i = skipTag(s, i+1)
			b.WriteByte(' ')
		case ch == '{':
			i = skipBraces(s, i)
		default:
			b.WriteByte(ch)
			i++
		}
	}
	return b.String()
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// skipTag returns the index after the '>' that closes the tag opened
// before i.
func skipTag(s string, i int) int {
	if strings.HasPrefix(s[i:], "!--") {
		if end := strings.Index(s[i:], "-->"); end >= 0 {
			return i + end + 3
		}
		return len(s)
	}
	var quote byte
	depth := 0
	for ; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'' || ch == '`':
			quote = ch
		case ch == '{':
			depth++
		case ch == '}':
			depth = max(depth-1, 0)
		case ch == '>' && depth == 0:
			return i + 1
		}
	}
	return len(s)
}

// skipBraces returns the index after the '}' matching the '{' at i.
func skipBraces(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}
