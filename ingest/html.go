package ingest

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	readability "github.com/go-shiori/go-readability"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// html parses an HTML page down to its main content. A page saved from a
// help center is mostly menu, sidebar, footer and banners around one
// article; only the article is indexed:
//
//  1. Elements that are never content go: scripts, styles, forms, nav,
//     aside, footer, page headers, hidden elements, ARIA landmarks of
//     navigation, and elements whose class or id says cookie banner,
//     breadcrumb, sidebar, menu or share bar (unless they hold the article).
//  2. A page that marks its content (one <article>, else one <main> or
//     role="main") is taken at its word.
//  3. Otherwise go-readability (a port of Firefox's Reader View) scores the
//     DOM and picks the content; when it finds too little, the pruned body
//     is used.
//
// Headings, lists, tables and code blocks of the content become blocks.
// Semantic markup first because readability, tuned for news pages, drops
// short help articles (under its 500-character threshold) and data tables
// it takes for layout, while help centers mark their article.
func (p *parser) html(name, s string) (*Doc, error) {
	var root *html.Node
	err := safely(name, func() error {
		var err error
		root, err = html.Parse(strings.NewReader(s))
		return err
	})
	if err != nil {
		return nil, invalid(name, "malformed HTML")
	}
	doc := &Doc{Meta: map[string]string{}}
	pageTitle, ogTitle, canonical := htmlMeta(root)
	doc.URL = canonical
	if lang := htmlLang(root); lang != "" {
		doc.Meta["lang"] = lang
	}
	body := findFirst(root, atom.Body)
	if body == nil {
		body = root
	}
	sizes := map[*html.Node]subtree{}
	prune(body, measure(body, sizes).text, sizes)
	content := mainContent(body)
	if content == nil {
		content = p.readable(name, root, body)
	}
	c := &htmlConv{max: p.lim.MaxBlocks}
	c.walk(content, 0, 0)
	c.flush()
	if c.over {
		return nil, tooLarge(name, "max_blocks", "more than %d blocks", p.lim.MaxBlocks)
	}
	doc.Blocks = c.out
	doc.Title = firstNonEmpty(firstH1(doc.Blocks), ogTitle, pageTitle)
	if len(doc.Meta) == 0 {
		doc.Meta = nil
	}
	return doc, p.err(name)
}

// readable runs go-readability on the pruned page and returns its content,
// or the pruned body when it finds little or fails.
func (p *parser) readable(name string, root, body *html.Node) *html.Node {
	var art readability.Article
	err := safely(name, func() error {
		rp := readability.NewParser()
		rp.MaxElemsToParse = 20000 // its scoring is quadratic in places
		rp.DisableJSONLD = true
		rp.KeepClasses = true // code blocks keep their language-* class
		var err error
		art, err = rp.ParseDocument(root, nil)
		return err
	})
	if err != nil || art.Node == nil {
		return body
	}
	if n := textLen(art.Node); n < 200 && textLen(body) > 4*max(n, 1) {
		return body
	}
	return art.Node
}

// htmlMeta returns the page's <title>, og:title and canonical URL.
func htmlMeta(root *html.Node) (title, og, canonical string) {
	head := findFirst(root, atom.Head)
	if head == nil {
		return
	}
	eachElement(head, func(n *html.Node) bool {
		switch n.DataAtom {
		case atom.Title:
			if title == "" {
				title = collapse(innerText(n))
			}
		case atom.Meta:
			switch attr(n, "property") {
			case "og:title":
				og = strings.TrimSpace(attr(n, "content"))
			case "og:url":
				if canonical == "" {
					canonical = strings.TrimSpace(attr(n, "content"))
				}
			}
		case atom.Link:
			if strings.EqualFold(attr(n, "rel"), "canonical") {
				canonical = strings.TrimSpace(attr(n, "href"))
			}
		}
		return true
	})
	return
}

func htmlLang(root *html.Node) string {
	if h := findFirst(root, atom.Html); h != nil {
		return strings.ToLower(attr(h, "lang"))
	}
	return ""
}

// Elements that are never content.
var dropTags = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Aside: true, atom.Footer: true, atom.Form: true,
	atom.Button: true, atom.Select: true, atom.Textarea: true, atom.Input: true,
	atom.Svg: true, atom.Canvas: true, atom.Iframe: true, atom.Object: true,
	atom.Embed: true, atom.Dialog: true, atom.Menu: true, atom.Head: true,
	atom.Link: true, atom.Meta: true, atom.Label: true,
}

// ARIA roles of navigation and page furniture.
var dropRoles = map[string]bool{
	"navigation": true, "banner": true, "contentinfo": true, "complementary": true,
	"search": true, "dialog": true, "alertdialog": true, "menu": true, "menubar": true,
	"toolbar": true, "tablist": true,
}

// Words of class and id attributes that name page furniture.
var dropWords = map[string]bool{
	"cookie": true, "cookies": true, "consent": true, "gdpr": true, "newsletter": true,
	"breadcrumb": true, "breadcrumbs": true, "sidebar": true, "navbar": true, "nav": true,
	"menu": true, "share": true, "social": true, "advert": true, "ads": true, "popup": true,
	"modal": true, "skip": true, "footer": true, "header": true, "masthead": true,
	"toc": true, "pagination": true, "feedback": true, "related": true, "banner": true,
	"votes": true, "vote": true, "rating": true, "comments": true,
}

// prune removes from n the elements that are never content. Elements
// caught only by their class or id are kept when they hold the article (an
// <article>, <main> or <h1>) or half the page's text: wrappers are often
// named "page-with-sidebar". sizes measures every element (see measure); an
// element is judged before anything under it is removed, so they hold.
func prune(n *html.Node, total int, sizes map[*html.Node]subtree) {
	var next *html.Node
	for c := n.FirstChild; c != nil; c = next {
		next = c.NextSibling
		switch {
		case c.Type == html.CommentNode:
			n.RemoveChild(c)
		case c.Type != html.ElementNode:
		case dropTags[c.DataAtom] || hidden(c) || dropRoles[strings.ToLower(attr(c, "role"))]:
			n.RemoveChild(c)
		case c.DataAtom == atom.Header && !inside(c, atom.Article, atom.Main):
			n.RemoveChild(c)
		case furniture(c) && !sizes[c].article && sizes[c].text*2 < total:
			n.RemoveChild(c)
		default:
			prune(c, total, sizes)
		}
	}
}

func hidden(n *html.Node) bool {
	if _, ok := attrOK(n, "hidden"); ok {
		return true
	}
	if strings.EqualFold(attr(n, "aria-hidden"), "true") {
		return true
	}
	style := strings.ReplaceAll(strings.ToLower(attr(n, "style")), " ", "")
	return strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden")
}

// furniture reports an element whose class or id names page furniture.
func furniture(n *html.Node) bool {
	for _, a := range []string{attr(n, "class"), attr(n, "id")} {
		for _, w := range strings.FieldsFunc(strings.ToLower(a), func(r rune) bool {
			return r == ' ' || r == '-' || r == '_' || r == '\t'
		}) {
			if dropWords[w] {
				return true
			}
		}
	}
	return false
}

// subtree is what prune asks of an element: the length of its text (as
// textLen counts it) and whether it is or holds an <article>, <main> or <h1>.
type subtree struct {
	text    int
	article bool
}

// measure computes subtree for n and every element under it in one walk,
// so that prune's questions cost a lookup each: asking every nested
// furniture element anew walked the same subtrees again and again.
func measure(n *html.Node, sizes map[*html.Node]subtree) subtree {
	var s subtree
	switch {
	case n.Type == html.TextNode:
		s.text = len(strings.TrimSpace(n.Data))
	case n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style):
		return s
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		cs := measure(c, sizes)
		s.text += cs.text
		s.article = s.article || cs.article
	}
	if n.Type == html.ElementNode {
		s.article = s.article || n.DataAtom == atom.Article || n.DataAtom == atom.Main || n.DataAtom == atom.H1
		sizes[n] = s
	}
	return s
}

func inside(n *html.Node, tags ...atom.Atom) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		for _, t := range tags {
			if p.DataAtom == t {
				return true
			}
		}
	}
	return false
}

// mainContent returns the element the page marks as its content: its one
// <article>, else its one <main> or role="main"; nil when it marks none.
func mainContent(body *html.Node) *html.Node {
	var articles, mains []*html.Node
	eachElement(body, func(n *html.Node) bool {
		switch {
		case n.DataAtom == atom.Article:
			articles = append(articles, n)
		case n.DataAtom == atom.Main || strings.EqualFold(attr(n, "role"), "main"):
			mains = append(mains, n)
		}
		return true
	})
	switch {
	case len(articles) == 1 && textLen(articles[0]) > 0:
		return articles[0]
	case len(mains) == 1 && textLen(mains[0]) > 0:
		return mains[0]
	}
	return nil
}

// htmlFragmentBlocks converts an HTML fragment (a table inside Markdown)
// into blocks.
func htmlFragmentBlocks(s string) ([]Block, error) {
	ctx := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return nil, err
	}
	c := &htmlConv{max: 1 << 20}
	for _, n := range nodes {
		c.walk(n, 0, 0)
	}
	c.flush()
	return c.out, nil
}

// htmlConv converts the content's DOM into blocks.
type htmlConv struct {
	out  []Block
	text inlineText
	max  int
	over bool
}

func (c *htmlConv) add(b Block) {
	if len(c.out) >= c.max {
		c.over = true
		return
	}
	c.out = append(c.out, b)
}

// flush ends the paragraph being collected.
func (c *htmlConv) flush() {
	if t := c.text.String(); t != "" {
		c.add(Block{Kind: BlockParagraph, Text: t})
	}
	c.text.Reset()
}

var headingLevel = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

var blockTags = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.Blockquote: true, atom.Figure: true, atom.Figcaption: true, atom.Dl: true,
	atom.Dt: true, atom.Dd: true, atom.Address: true, atom.Details: true, atom.Summary: true,
	atom.Center: true, atom.Header: true, atom.Hr: true, atom.Body: true, atom.Html: true,
	atom.Caption: true, atom.Tr: true, atom.Td: true, atom.Th: true, atom.Tbody: true,
}

// walk converts n; list is the depth of the list n is in.
func (c *htmlConv) walk(n *html.Node, list, depth int) {
	if c.over {
		return
	}
	switch n.Type {
	case html.TextNode:
		c.text.WriteText(n.Data)
		return
	case html.ElementNode, html.DocumentNode:
	default:
		return
	}
	if depth > maxNesting {
		c.text.WriteText(innerText(n))
		return
	}
	if dropTags[n.DataAtom] {
		return
	}
	switch {
	case headingLevel[n.DataAtom] > 0:
		c.flush()
		if t := collapse(innerText(n)); t != "" {
			c.add(Block{Kind: BlockHeading, Level: headingLevel[n.DataAtom], Text: t})
		}
		return
	case n.DataAtom == atom.Ul || n.DataAtom == atom.Ol:
		c.flush()
		c.list(n, list+1, depth)
		return
	case n.DataAtom == atom.Pre:
		c.flush()
		if code := strings.Trim(innerText(n), "\n"); strings.TrimSpace(code) != "" {
			c.add(Block{Kind: BlockCode, Text: code, Lang: codeLang(n)})
		}
		return
	case n.DataAtom == atom.Table:
		c.flush()
		if rows := tableRows(n); len(rows) > 0 && maxCols(rows) > 1 {
			c.add(Block{Kind: BlockTable, Rows: rows})
			return
		}
		// A one-column table is layout: read its cells as content.
	case n.DataAtom == atom.Br:
		c.text.WriteBreak()
		return
	case n.DataAtom == atom.Img:
		return
	}
	isBlock := blockTags[n.DataAtom] || n.DataAtom == atom.Table || n.DataAtom == atom.Li
	if isBlock {
		c.flush()
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.walk(ch, list, depth+1)
	}
	if isBlock {
		c.flush()
	}
}

// list adds the items of a <ul> or <ol>: each item's own text, then its
// nested lists.
func (c *htmlConv) list(n *html.Node, list, depth int) {
	num := 1
	if n.DataAtom == atom.Ol {
		if s := attr(n, "start"); s != "" {
			if v, err := strconv.Atoi(s); err == nil && v >= 0 && v < 1e6 {
				num = v
			}
		}
	}
	for li := n.FirstChild; li != nil && !c.over; li = li.NextSibling {
		if li.Type != html.ElementNode {
			continue
		}
		marker := "- "
		if n.DataAtom == atom.Ol {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		var nested []*html.Node
		var item inlineText
		var walkItem func(x *html.Node, d int)
		walkItem = func(x *html.Node, d int) {
			for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
				switch {
				case ch.Type == html.TextNode:
					item.WriteText(ch.Data)
				case ch.Type != html.ElementNode || dropTags[ch.DataAtom]:
				case ch.DataAtom == atom.Ul || ch.DataAtom == atom.Ol || ch.DataAtom == atom.Pre || ch.DataAtom == atom.Table:
					nested = append(nested, ch)
				case ch.DataAtom == atom.Br:
					item.WriteBreak()
				case d < maxNesting:
					if blockTags[ch.DataAtom] {
						item.WriteText(" ")
					}
					walkItem(ch, d+1)
				}
			}
		}
		walkItem(li, depth)
		if t := item.String(); t != "" {
			c.add(Block{Kind: BlockListItem, Level: list, Text: marker + t})
		}
		for _, x := range nested {
			if x.DataAtom == atom.Ul || x.DataAtom == atom.Ol {
				c.list(x, list+1, depth+1)
			} else {
				c.walk(x, list, depth+1)
				c.flush()
			}
		}
	}
}

// tableRows returns the cell texts of a table's rows, header rows first;
// cells of nested tables are flattened into their cell.
func tableRows(t *html.Node) [][]string {
	var head, body [][]string
	var visit func(n *html.Node, inHead bool, d int)
	visit = func(n *html.Node, inHead bool, d int) {
		for ch := n.FirstChild; ch != nil && d < maxNesting; ch = ch.NextSibling {
			if ch.Type != html.ElementNode {
				continue
			}
			switch ch.DataAtom {
			case atom.Thead:
				visit(ch, true, d+1)
			case atom.Tbody, atom.Tfoot:
				visit(ch, false, d+1)
			case atom.Tr:
				var row []string
				allTH := true
				for cell := ch.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.Type == html.ElementNode && (cell.DataAtom == atom.Td || cell.DataAtom == atom.Th) {
						row = append(row, collapse(innerText(cell)))
						allTH = allTH && cell.DataAtom == atom.Th
					}
				}
				if len(row) == 0 {
					continue
				}
				if inHead || allTH && len(head) == 0 && len(body) == 0 {
					head = append(head, row)
				} else {
					body = append(body, row)
				}
			}
		}
	}
	visit(t, false, 0)
	rows := append(head, body...)
	for _, r := range rows {
		for _, cell := range r {
			if cell != "" {
				return rows
			}
		}
	}
	return nil
}

func maxCols(rows [][]string) int {
	m := 0
	for _, r := range rows {
		m = max(m, len(r))
	}
	return m
}

func codeLang(pre *html.Node) string {
	for _, n := range []*html.Node{pre, pre.FirstChild} {
		if n == nil || n.Type != html.ElementNode {
			continue
		}
		for _, cls := range strings.Fields(attr(n, "class")) {
			if l, ok := strings.CutPrefix(cls, "language-"); ok {
				return l
			}
		}
	}
	return ""
}

// inlineText collects the text of inline content the way a browser shows
// it: runs of white space are one space (none between Chinese characters),
// <br> is a line break.
type inlineText struct {
	b       strings.Builder
	pending bool // a collapsed space waits for the next character
}

func (t *inlineText) WriteText(s string) {
	for _, r := range s {
		if unicode.IsSpace(r) {
			t.pending = t.b.Len() > 0
			continue
		}
		if t.pending {
			prev, _ := utf8.DecodeLastRuneInString(t.b.String())
			if prev != '\n' && !(isWide(prev) && isWide(r)) {
				t.b.WriteByte(' ')
			}
			t.pending = false
		}
		t.b.WriteRune(r)
	}
}

func (t *inlineText) WriteBreak() {
	if t.b.Len() > 0 {
		t.b.WriteByte('\n')
	}
	t.pending = false
}

func (t *inlineText) String() string { return strings.TrimSpace(t.b.String()) }

func (t *inlineText) Reset() {
	t.b.Reset()
	t.pending = false
}

// innerText returns the text under n, white space as in the source.
func innerText(n *html.Node) string {
	var b strings.Builder
	eachNode(n, func(x *html.Node) {
		switch {
		case x.Type == html.TextNode:
			b.WriteString(x.Data)
		case x.Type == html.ElementNode && x.DataAtom == atom.Br:
			b.WriteByte('\n')
		}
	})
	return b.String()
}

// textLen is the length of the visible text under n.
func textLen(n *html.Node) int {
	total := 0
	eachNode(n, func(x *html.Node) {
		if x.Type == html.TextNode {
			total += len(strings.TrimSpace(x.Data))
		}
	})
	return total
}

// eachNode calls fn on n and its descendants, skipping scripts and styles.
// It walks iteratively, so no nesting exhausts the stack.
func eachNode(n *html.Node, fn func(*html.Node)) {
	stack := []*html.Node{n}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.Type == html.ElementNode && (x.DataAtom == atom.Script || x.DataAtom == atom.Style) {
			continue
		}
		fn(x)
		for ch := x.LastChild; ch != nil; ch = ch.PrevSibling {
			stack = append(stack, ch)
		}
	}
}

// eachElement calls fn on the elements under n in document order; fn
// returns false to skip an element's children.
func eachElement(n *html.Node, fn func(*html.Node) bool) {
	stack := []*html.Node{n}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.Type == html.ElementNode && !fn(x) {
			continue
		}
		for ch := x.LastChild; ch != nil; ch = ch.PrevSibling {
			stack = append(stack, ch)
		}
	}
}

func findFirst(n *html.Node, a atom.Atom) *html.Node {
	var found *html.Node
	eachElement(n, func(x *html.Node) bool {
		if found == nil && x.DataAtom == a {
			found = x
		}
		return found == nil
	})
	return found
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

// collapse makes every run of white space one space (none between Chinese
// characters) and trims.
func collapse(s string) string {
	var t inlineText
	t.WriteText(s)
	return t.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
