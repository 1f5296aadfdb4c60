package ingest

import (
	"context"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// Chunker cuts documents into chunks under a token budget counted by the
// embedding model's own tokenizer.
//
// A chunk never mixes two sections: it is cut at every heading, and
// carries its heading path. Within a section, blocks are packed in order;
// a paragraph that does not fit where the chunk stands starts a new chunk
// when that one is at least half full, else it is cut between sentences.
// A sentence, list item, table row or code block is never cut when it fits
// in a chunk of its own; a table or code block that fits is kept whole; a
// table that does not is cut between rows, its header row repeated at the
// top of every chunk. Only what does not fit even alone is cut inside, at
// spaces where it can, else between characters.
//
// Written here because it is the product's core and no Go splitter does
// it: langchaingo's text splitters cut by characters or by a fixed
// tiktoken vocabulary, and know nothing of headings, tables or Chinese
// sentence ends.
type Chunker struct {
	// Counter counts tokens the way the embedding model does; nil is
	// ApproxCounter.
	Counter kefu.TokenCounter
	// MaxTokens is the budget of what a chunk embeds — its title and
	// heading path included (kefu.Chunk.ContextText) — without the model's
	// special tokens; 0 is kefu.DefaultChunkSize.
	MaxTokens int
	// Overlap is how many tokens of whole sentences at the end of a chunk
	// are repeated at the start of the next one in the same section; at
	// most half of MaxTokens.
	Overlap int
}

// minChunkTokens is the smallest budget a Chunker accepts.
const minChunkTokens = 8

func (c *Chunker) count(s string) int {
	if s == "" {
		return 0
	}
	if c.Counter == nil {
		return ApproxCounter{}.CountTokens(s)
	}
	return c.Counter.CountTokens(s)
}

func (c *Chunker) limits() (maxTok, overlap int) {
	maxTok = c.MaxTokens
	if maxTok <= 0 {
		maxTok = kefu.DefaultChunkSize
	}
	maxTok = max(maxTok, minChunkTokens)
	return maxTok, min(max(c.Overlap, 0), maxTok/2)
}

// Chunk cuts doc into chunks: one kefu.KindFAQ chunk per FAQ entry, and
// passages of its blocks. IDs are doc.ID + "#" + Seq.
func (c *Chunker) Chunk(doc *Doc) []kefu.Chunk {
	chunks, _ := c.ChunkContext(context.Background(), doc)
	return chunks
}

// ChunkContext is Chunk that stops when ctx is done (the file's deadline),
// between blocks, FAQ entries, units and the pieces of an overlong run,
// and then returns ctx's error.
func (c *Chunker) ChunkContext(ctx context.Context, doc *Doc) ([]kefu.Chunk, error) {
	maxTok, overlap := c.limits()
	b := &chunkBuilder{c: c, ctx: ctx, doc: doc, max: maxTok, overlap: overlap}
	for _, e := range doc.FAQs {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.faq(e)
	}
	b.setPrefix()
	for _, blk := range doc.Blocks {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.block(blk)
	}
	b.end()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return b.out, nil
}

// unitKind tells what a unit is, for joining and overlap.
type unitKind int

const (
	unitSentence unitKind = iota
	unitProse             // a whole paragraph or list item
	unitCode              // a whole code block
	unitTable             // a whole table
	unitRow               // one table row
	unitHeader            // a table's header repeated in a chunk
	unitPiece             // part of something too long for one chunk
)

// unit is the smallest piece the packer moves: a sentence, a row, a block.
type unit struct {
	text   string
	tokens int
	join   string // put between this unit and the one before it
	kind   unitKind
	page   int
	table  int    // for rows: which table (1-based), to repeat its header
	header string // for rows: the table's header lines
}

// chunkBuilder packs one document's units into chunks.
type chunkBuilder struct {
	c        *Chunker
	ctx      context.Context // once done, nothing more is cut or retried: the builder winds down
	doc      *Doc
	max      int
	overlap  int
	out      []kefu.Chunk
	levels   []int    // heading levels of the path
	path     []string // heading path
	title    string   // the document title as chunks carry it
	headings []string // the path as chunks carry it (shortened when long)
	budget   int      // tokens left for text after the title and headings
	cur      []unit
	curTok   int
	carried  int    // units at the start of cur repeated from the last chunk
	queue    []unit // units waiting to be placed
	page     int
	tables   int
}

func (b *chunkBuilder) seq() int { return len(b.out) }

func (b *chunkBuilder) faq(e FAQ) {
	qs := make([]string, 0, len(e.Questions))
	toks := 0
	for _, q := range e.Questions {
		if q = strings.TrimSpace(q); q != "" {
			qs = append(qs, q)
			toks = max(toks, b.c.count(q))
		}
	}
	if len(qs) == 0 || strings.TrimSpace(e.Answer) == "" {
		return
	}
	ch := kefu.Chunk{
		ID:        b.doc.ID + "#" + strconv.Itoa(b.seq()),
		DocID:     b.doc.ID,
		Seq:       b.seq(),
		Kind:      kefu.KindFAQ,
		Title:     b.doc.Title,
		Text:      strings.TrimSpace(e.Answer),
		Questions: qs,
		Category:  e.Category,
		Source:    b.doc.Source,
		URL:       firstNonEmpty(e.URL, b.doc.URL),
		Lang:      e.Lang,
		Tokens:    toks,
	}
	if ch.Lang == "" {
		ch.Lang = text.Lang(strings.Join(qs, "\n") + "\n" + ch.Text)
	}
	if e.Row > 0 {
		ch.Meta = map[string]string{"row": strconv.Itoa(e.Row)}
	}
	ch.Hash = ch.ContentHash()
	b.out = append(b.out, ch)
}

// setPrefix fixes the title and heading path chunks carry and the budget
// left for text. A path worth more than half the budget loses its
// outermost headings, then is cut short.
func (b *chunkBuilder) setPrefix() {
	b.title = b.doc.Title
	b.headings = append([]string(nil), b.path...)
	limit := b.max / 2
	for len(b.headings) > 1 && b.prefixTokens() > limit {
		b.headings = b.headings[1:]
	}
	if b.prefixTokens() > limit {
		b.title = b.c.firstPiece(b.ctx, b.title, limit/2)
		if len(b.headings) == 1 {
			b.headings[0] = b.c.firstPiece(b.ctx, b.headings[0], limit/2)
		}
	}
	b.budget = max(b.max-b.prefixTokens(), 1)
}

func (b *chunkBuilder) prefixTokens() int {
	ch := kefu.Chunk{Title: b.title, Headings: b.headings}
	ctx := ch.ContextText()
	if ctx == "" {
		return 0
	}
	return b.c.count(ctx)
}

// block turns a block into units and packs them.
func (b *chunkBuilder) block(blk Block) {
	switch blk.Kind {
	case BlockPage:
		// A chunk stays on one page, so its page number cites exactly
		// where its text is.
		if blk.Page != b.page {
			b.end()
		}
		b.page = blk.Page
	case BlockHeading:
		b.end()
		lvl := max(blk.Level, 1)
		for len(b.levels) > 0 && b.levels[len(b.levels)-1] >= lvl {
			b.levels, b.path = b.levels[:len(b.levels)-1], b.path[:len(b.path)-1]
		}
		if t := strings.TrimSpace(blk.Text); t != "" {
			b.levels, b.path = append(b.levels, lvl), append(b.path, t)
		}
		b.setPrefix()
	case BlockParagraph:
		b.prose(blk.Text, false)
	case BlockListItem:
		b.prose(blk.Text, true)
	case BlockCode:
		b.code(blk.Text)
	case BlockTable:
		b.table(blk.Rows)
	}
}

// prose packs a paragraph or list item: whole when it fits, else sentence
// by sentence.
func (b *chunkBuilder) prose(s string, item bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	whole := b.c.count(s)
	if whole <= b.budget && (item || b.curTok+whole <= b.budget || b.curTok >= b.budget/2) {
		b.add(unit{text: s, tokens: whole, join: "\n", kind: unitProse, page: b.page})
		return
	}
	for _, u := range b.sentenceUnits(s, "\n", b.budget) {
		b.add(u)
	}
}

// sentenceUnits cuts prose into sentences, and sentences longer than
// budget into pieces.
func (b *chunkBuilder) sentenceUnits(s, join string, budget int) []unit {
	var out []unit
	for _, sent := range text.Sentences(s) {
		if n := b.c.count(sent); n <= budget {
			out = append(out, unit{text: sent, tokens: n, join: join, kind: unitSentence, page: b.page})
			join = "sentence"
			continue
		}
		for _, piece := range b.c.cut(b.ctx, sent, budget) {
			out = append(out, unit{text: piece, tokens: b.c.count(piece), join: join, kind: unitSentence, page: b.page})
			join = "sentence"
		}
	}
	return out
}

// code packs a code block: whole when it fits, else in runs of lines.
func (b *chunkBuilder) code(s string) {
	s = strings.TrimRight(s, "\n ")
	if strings.TrimSpace(s) == "" {
		return
	}
	if n := b.c.count(s); n <= b.budget {
		b.add(unit{text: s, tokens: n, join: "\n", kind: unitCode, page: b.page})
		return
	}
	for _, u := range b.lineUnits(s, b.budget) {
		b.add(u)
	}
}

// lineUnits cuts code into runs of whole lines within budget, and lines
// longer than budget into pieces.
func (b *chunkBuilder) lineUnits(s string, budget int) []unit {
	var out []unit
	var run []string
	runTok := 0
	emit := func() {
		if len(run) > 0 {
			t := strings.Join(run, "\n")
			out = append(out, unit{text: t, tokens: b.c.count(t), join: "\n", kind: unitPiece, page: b.page})
		}
		run, runTok = nil, 0
	}
	for _, line := range strings.Split(s, "\n") {
		n := b.c.count(line) + 1
		if n > budget {
			emit()
			for _, piece := range b.c.cut(b.ctx, line, budget) {
				out = append(out, unit{text: piece, tokens: b.c.count(piece), join: "\n", kind: unitPiece, page: b.page})
			}
			continue
		}
		if runTok+n > budget {
			emit()
		}
		run = append(run, line)
		runTok += n
	}
	emit()
	return out
}

// table packs a table: whole when it fits, else row by row under its
// repeated header.
func (b *chunkBuilder) table(rows [][]string) {
	if len(rows) == 0 {
		return
	}
	cols := maxCols(rows)
	lines := make([]string, len(rows)+1)
	lines[0] = tableRow(rows[0], cols)
	lines[1] = tableRule(cols)
	for i, r := range rows[1:] {
		lines[i+2] = tableRow(r, cols)
	}
	all := strings.Join(lines, "\n")
	if n := b.c.count(all); n <= b.budget {
		b.add(unit{text: all, tokens: n, join: "\n", kind: unitTable, page: b.page})
		return
	}
	for _, u := range b.rowUnits(lines, b.budget) {
		b.add(u)
	}
}

// rowUnits turns the lines of a table (header, rule, rows) into row units
// that repeat the header, rows longer than budget cut into pieces. A
// header worth more than half the budget is not repeated but kept as a
// row.
func (b *chunkBuilder) rowUnits(lines []string, budget int) []unit {
	b.tables++
	header := strings.Join(lines[:min(2, len(lines))], "\n")
	rows := lines[min(2, len(lines)):]
	headerTok := b.c.count(header)
	if headerTok > budget/2 {
		rows = append([]string{lines[0]}, rows...)
		header, headerTok = "", 0
	}
	var out []unit
	for _, line := range rows {
		n := b.c.count(line)
		if n+headerTok <= budget {
			out = append(out, unit{text: line, tokens: n, join: "\n", kind: unitRow, page: b.page, table: b.tables, header: header})
			continue
		}
		for _, piece := range b.c.cut(b.ctx, line, budget-headerTok) {
			out = append(out, unit{text: piece, tokens: b.c.count(piece), join: "\n", kind: unitRow, page: b.page, table: b.tables, header: header})
		}
	}
	return out
}

func tableRow(cells []string, cols int) string {
	var s strings.Builder
	s.WriteString("|")
	for i := 0; i < cols; i++ {
		cell := ""
		if i < len(cells) {
			cell = strings.ReplaceAll(strings.ReplaceAll(cells[i], "\n", " "), "|", "\\|")
		}
		s.WriteString(" ")
		s.WriteString(strings.TrimSpace(cell))
		s.WriteString(" |")
	}
	return s.String()
}

func tableRule(cols int) string {
	return "|" + strings.Repeat(" --- |", cols)
}

// add packs one unit, starting new chunks as needed. Units a chunk could
// not hold after all (the counter's count of the whole chunk exceeded the
// sum of its parts) go back to the front of the queue; each round emits at
// least part of a unit, so the loop ends.
func (b *chunkBuilder) add(u unit) {
	b.queue = append(b.queue, u)
	for len(b.queue) > 0 {
		u := b.queue[0]
		b.queue = b.queue[1:]
		b.place(u)
	}
}

// place puts u in the current chunk, or ends the chunk first when u does
// not fit. The first row of a table in a chunk brings the table's header.
func (b *chunkBuilder) place(u unit) {
	needHeader := u.header != "" && (len(b.cur) == 0 || b.cur[len(b.cur)-1].table != u.table)
	extra := 0
	if needHeader {
		extra = b.c.count(u.header)
	}
	if len(b.cur) > 0 && b.curTok+extra+u.tokens > b.budget {
		var rest []unit
		if len(b.cur) == b.carried {
			b.cur, b.curTok, b.carried = nil, 0, 0 // no room for overlap
		} else {
			rest = b.flush(true)
		}
		b.queue = append(append(rest, u), b.queue...)
		return
	}
	if needHeader {
		b.cur = append(b.cur, unit{text: u.header, tokens: extra, join: "\n", kind: unitHeader, page: u.page, table: u.table})
		b.curTok += extra
	}
	b.cur = append(b.cur, u)
	b.curTok += u.tokens
}

// end ends the current chunk and places whatever it could not hold, until
// nothing is left: at headings and at the end of the document.
func (b *chunkBuilder) end() {
	for {
		rest := b.flush(false)
		if len(rest) == 0 {
			return
		}
		b.queue = append(rest, b.queue...)
		for len(b.queue) > 0 {
			u := b.queue[0]
			b.queue = b.queue[1:]
			b.place(u)
		}
	}
}

// flush emits the current chunk and returns the units it could not hold.
// With overlap, the next chunk starts with the last sentences of this one.
func (b *chunkBuilder) flush(overlap bool) []unit {
	units, carried := b.cur, b.carried
	b.cur, b.curTok, b.carried = nil, 0, 0
	if len(units) == carried {
		return nil // nothing but what the last chunk already has
	}
	if rest := b.emit(units); len(rest) > 0 {
		return rest
	}
	if !overlap || b.overlap == 0 {
		return nil
	}
	var keep []unit
	tok := 0
	for i := len(units) - 1; i > 0 && units[i].kind == unitSentence; i-- {
		if tok+units[i].tokens > b.overlap {
			break
		}
		tok += units[i].tokens
		keep = append([]unit{units[i]}, keep...)
	}
	b.cur, b.curTok, b.carried = keep, tok, len(keep)
	return nil
}

// emit appends the chunk of the longest run of units, from the first, that
// fits by the counter's count of the whole chunk — token counts need not
// add up — and returns the units left over. A table header is never
// emitted without its first row. A unit over the budget on its own is cut
// smaller by its excess.
func (b *chunkBuilder) emit(units []unit) []unit {
	least := 1
	if len(units) > 1 && units[0].kind == unitHeader {
		least = 2 // a repeated table header and its first row
	}
	for k := len(units); k > least; k-- {
		if ch := b.chunkOf(units[:k]); ch.Tokens <= b.max || b.ctx.Err() != nil {
			b.out = append(b.out, ch)
			return units[k:]
		}
	}
	lead := units[:least-1]
	u, rest := units[least-1], units[least:]
	for attempt := 0; ; attempt++ {
		ch := b.chunkOf(append(lead[:len(lead):len(lead)], u))
		if ch.Tokens <= b.max || attempt == 32 || b.ctx.Err() != nil {
			b.out = append(b.out, ch)
			return rest
		}
		// Smaller by the excess, or in proportion when counts grow faster
		// than their parts.
		target := max(min(u.tokens-(ch.Tokens-b.max), u.tokens*b.max/ch.Tokens)-1, 1)
		parts := b.split(u, target)
		if len(parts) < 2 {
			b.out = append(b.out, ch) // one character over the budget: nothing smaller exists
			return rest
		}
		rest = append(parts[1:len(parts):len(parts)], rest...)
		u = parts[0]
	}
}

// split cuts a unit that does not fit along its structure: a paragraph
// into sentences, a code block into lines, a table into rows; else into
// pieces of at most target tokens.
func (b *chunkBuilder) split(u unit, target int) []unit {
	page := b.page
	b.page = u.page
	defer func() { b.page = page }()
	var parts []unit
	switch u.kind {
	case unitProse:
		parts = b.sentenceUnits(u.text, u.join, target)
	case unitCode:
		parts = b.lineUnits(u.text, target)
	case unitTable:
		parts = b.rowUnits(strings.Split(u.text, "\n"), target)
	}
	if len(parts) > 1 {
		if parts[0].kind != unitRow {
			parts[0].join = u.join
		}
		return parts
	}
	parts = parts[:0]
	for _, p := range b.c.cut(b.ctx, u.text, target) {
		parts = append(parts, unit{text: p, tokens: b.c.count(p), join: u.join, kind: unitPiece, page: u.page, table: u.table, header: u.header})
	}
	return parts
}

// chunkOf builds the chunk of units, counting its tokens.
func (b *chunkBuilder) chunkOf(units []unit) kefu.Chunk {
	var s strings.Builder
	for i, u := range units {
		if i > 0 {
			switch u.join {
			case "sentence":
				prev, _ := utf8.DecodeLastRuneInString(s.String())
				next, _ := utf8.DecodeRuneInString(u.text)
				if !(isWide(prev) && isWide(next)) {
					s.WriteByte(' ')
				}
			default:
				s.WriteString(u.join)
			}
		}
		s.WriteString(u.text)
	}
	ch := kefu.Chunk{
		ID:     b.doc.ID + "#" + strconv.Itoa(b.seq()),
		DocID:  b.doc.ID,
		Seq:    b.seq(),
		Kind:   kefu.KindPassage,
		Title:  b.title,
		Text:   s.String(),
		Source: b.doc.Source,
		URL:    b.doc.URL,
		Page:   units[0].page,
	}
	if len(b.headings) > 0 {
		ch.Headings = append([]string(nil), b.headings...)
	}
	ch.Lang = text.Lang(ch.Text)
	if ch.Lang == "" {
		ch.Lang = text.Lang(ch.ContextText())
	}
	ch.Tokens = b.c.count(ch.ContextText())
	ch.Hash = ch.ContentHash()
	return ch
}

// firstPiece returns the longest start of s within budget tokens.
func (c *Chunker) firstPiece(ctx context.Context, s string, budget int) string {
	if pieces := c.cut(ctx, s, max(budget, 1)); len(pieces) > 0 {
		return pieces[0]
	}
	return s
}

// cut splits s into pieces of at most budget tokens, at spaces (or after
// CJK punctuation) where it can, else between characters. A piece is never
// empty; a single character over the budget is a piece of its own. Its
// work is linear in len(s): each piece costs a few counts of at most twice
// its length (TestChunkLongRunLinear). Once ctx is done, the rest is one
// piece.
func (c *Chunker) cut(ctx context.Context, s string, budget int) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	budget = max(budget, 1)
	var out []string
	for s != "" {
		if ctx.Err() != nil {
			return append(out, s)
		}
		n := c.fitPrefix(s, budget)
		if n < len(s) {
			n = breakBefore(s, n)
		}
		out = append(out, strings.TrimSpace(s[:n]))
		s = strings.TrimSpace(s[n:])
	}
	return out
}

// fitPrefix returns the byte length of the longest prefix of s, at a rune
// boundary, that counts at most budget tokens — at least one rune. It
// probes prefixes of doubling length, then bisects, so a long text costs
// O(n log n) counting, not O(n²).
func (c *Chunker) fitPrefix(s string, budget int) int {
	lo, hi := 0, -1
	step := max(budget*4, 16)
	for {
		n := runeEnd(s, min(lo+step, len(s)))
		if c.count(s[:n]) <= budget {
			lo = n
			if n == len(s) {
				return n
			}
			step *= 2
			continue
		}
		hi = n
		break
	}
	for hi-lo > 1 {
		mid := runeEnd(s, lo+(hi-lo)/2)
		if mid >= hi {
			break
		}
		if mid <= lo {
			mid = runeEnd(s, lo+1)
			if mid >= hi {
				break
			}
		}
		if c.count(s[:mid]) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		_, size := utf8.DecodeRuneInString(s)
		return size
	}
	return lo
}

// runeEnd moves i forward to a rune boundary of s.
func runeEnd(s string, i int) int {
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return i
}

// breakBefore moves a cut at n back to just after the last space or CJK
// punctuation in the second half of s[:n], so words stay whole.
func breakBefore(s string, n int) int {
	for i := n; i > n/2; {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if unicode.IsSpace(r) || r == '，' || r == '、' || r == '：' || r == '）' || r == ',' {
			return i
		}
		i -= size
	}
	return n
}

// ApproxCounter estimates the tokens of a BERT-style WordPiece tokenizer
// without one: a Chinese character or a punctuation mark is one token, a
// word of Latin letters or digits one token per six bytes, started. It is
// for chunking when no model is at hand; the model's own tokenizer is what
// budgets should use.
type ApproxCounter struct{}

// CountTokens implements kefu.TokenCounter.
func (ApproxCounter) CountTokens(s string) int {
	n, word := 0, 0
	end := func() {
		if word > 0 {
			n += 1 + (word-1)/6
			word = 0
		}
	}
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch {
		case r < utf8.RuneSelf:
			switch {
			case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9':
				word++
			case r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\f' || r == '\v':
				end()
			default:
				end()
				n++
			}
		case unicode.IsSpace(r):
			end()
		case unicode.Is(unicode.Latin, r):
			word += size
		default:
			end()
			n++
		}
	}
	end()
	return n
}
