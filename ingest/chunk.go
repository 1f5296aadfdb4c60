package ingest

import (
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
const minChunkTokens = 16

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
	maxTok, overlap := c.limits()
	b := &chunkBuilder{c: c, doc: doc, max: maxTok, overlap: overlap}
	for _, e := range doc.FAQs {
		b.faq(e)
	}
	b.setPrefix()
	for _, blk := range doc.Blocks {
		b.block(blk)
	}
	b.flush(false)
	return b.out
}

// unitKind tells what a unit is, for joining and overlap.
type unitKind int

const (
	unitSentence unitKind = iota
	unitBlock             // a whole list item, table, code block or paragraph
	unitRow               // one table row
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
	carried  int // units at the start of cur repeated from the last chunk
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
		b.title = b.c.firstPiece(b.title, limit/2)
		if len(b.headings) == 1 {
			b.headings[0] = b.c.firstPiece(b.headings[0], limit/2)
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
		b.page = blk.Page
	case BlockHeading:
		b.flush(false)
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
		b.add(unit{text: s, tokens: whole, join: "\n", kind: unitBlock, page: b.page})
		return
	}
	join := "\n"
	for _, sent := range text.Sentences(s) {
		for _, piece := range b.c.cut(sent, b.budget) {
			b.add(unit{text: piece, tokens: b.c.count(piece), join: join, kind: unitSentence, page: b.page})
			join = "sentence"
		}
	}
}

// code packs a code block: whole when it fits, else in runs of lines.
func (b *chunkBuilder) code(s string) {
	s = strings.TrimRight(s, "\n ")
	if strings.TrimSpace(s) == "" {
		return
	}
	if n := b.c.count(s); n <= b.budget {
		b.add(unit{text: s, tokens: n, join: "\n", kind: unitBlock, page: b.page})
		return
	}
	var run []string
	runTok := 0
	emit := func() {
		if len(run) > 0 {
			t := strings.Join(run, "\n")
			b.add(unit{text: t, tokens: b.c.count(t), join: "\n", kind: unitPiece, page: b.page})
		}
		run, runTok = nil, 0
	}
	for _, line := range strings.Split(s, "\n") {
		n := b.c.count(line) + 1
		if n > b.budget {
			emit()
			for _, piece := range b.c.cut(line, b.budget) {
				b.add(unit{text: piece, tokens: b.c.count(piece), join: "\n", kind: unitPiece, page: b.page})
			}
			continue
		}
		if runTok+n > b.budget {
			emit()
		}
		run = append(run, line)
		runTok += n
	}
	emit()
}

// table packs a table: whole when it fits, else row by row under its
// repeated header.
func (b *chunkBuilder) table(rows [][]string) {
	if len(rows) == 0 {
		return
	}
	cols := maxCols(rows)
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = tableRow(r, cols)
	}
	header := lines[0] + "\n" + tableRule(cols)
	all := header
	if len(lines) > 1 {
		all += "\n" + strings.Join(lines[1:], "\n")
	}
	if n := b.c.count(all); n <= b.budget {
		b.add(unit{text: all, tokens: n, join: "\n", kind: unitBlock, page: b.page})
		return
	}
	b.tables++
	headerTok := b.c.count(header)
	if headerTok > b.budget/2 {
		// A header this long is not worth repeating: it is a row.
		header, headerTok = "", 0
		lines = append([]string{lines[0]}, lines...)
	}
	for _, line := range lines[1:] {
		n := b.c.count(line)
		if n+headerTok > b.budget {
			for _, piece := range b.c.cut(line, b.budget-headerTok) {
				b.add(unit{text: piece, tokens: b.c.count(piece), join: "\n", kind: unitRow, page: b.page, table: b.tables, header: header})
			}
			continue
		}
		b.add(unit{text: line, tokens: n, join: "\n", kind: unitRow, page: b.page, table: b.tables, header: header})
	}
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

// add packs one unit, starting a new chunk when it does not fit. The
// first row of a table in a chunk brings the table's header with it.
func (b *chunkBuilder) add(u unit) {
	needHeader := u.header != "" && (len(b.cur) == 0 || b.cur[len(b.cur)-1].table != u.table)
	extra := 0
	if needHeader {
		extra = b.c.count(u.header)
	}
	if len(b.cur) > 0 && b.curTok+extra+u.tokens > b.budget {
		if len(b.cur) == b.carried {
			b.cur, b.curTok, b.carried = nil, 0, 0 // no room for overlap
		} else {
			b.flush(true)
		}
		b.add(u)
		return
	}
	if needHeader {
		b.cur = append(b.cur, unit{text: u.header, tokens: extra, join: "\n", kind: unitRow, page: u.page, table: u.table})
		b.curTok += extra
	}
	b.cur = append(b.cur, u)
	b.curTok += u.tokens
}

// flush ends the current chunk. With overlap, the next chunk starts with
// the last sentences of this one.
func (b *chunkBuilder) flush(overlap bool) {
	units, carried := b.cur, b.carried
	b.cur, b.curTok, b.carried = nil, 0, 0
	if len(units) == carried {
		return // nothing but what the last chunk already has
	}
	if rest := b.emit(units); len(rest) > 0 {
		for _, u := range rest {
			b.add(u)
		}
		return
	}
	if !overlap || b.overlap == 0 {
		return
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
}

// emit appends the chunk of the longest run of units, from the first, that
// fits by the counter's count of the whole chunk — token counts need not
// add up — and returns the units left over. A single unit over the budget
// is cut smaller by its excess.
func (b *chunkBuilder) emit(units []unit) []unit {
	for k := len(units); k > 1; k-- {
		if ch := b.chunkOf(units[:k]); ch.Tokens <= b.max {
			b.out = append(b.out, ch)
			return units[k:]
		}
	}
	u, rest := units[0], units[1:]
	for attempt := 0; ; attempt++ {
		ch := b.chunkOf([]unit{u})
		if ch.Tokens <= b.max || attempt == 8 {
			b.out = append(b.out, ch)
			return rest
		}
		pieces := b.c.cut(u.text, max(u.tokens-(ch.Tokens-b.max)-1, 1))
		if len(pieces) < 2 {
			b.out = append(b.out, ch) // one character over the budget: nothing smaller exists
			return rest
		}
		more := make([]unit, 0, len(pieces)-1+len(rest))
		for _, p := range pieces[1:] {
			more = append(more, unit{text: p, tokens: b.c.count(p), join: u.join, kind: unitPiece, page: u.page})
		}
		rest = append(more, rest...)
		u = unit{text: pieces[0], tokens: b.c.count(pieces[0]), join: u.join, kind: unitPiece, page: u.page}
	}
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
func (c *Chunker) firstPiece(s string, budget int) string {
	if pieces := c.cut(s, max(budget, 1)); len(pieces) > 0 {
		return pieces[0]
	}
	return s
}

// cut splits s into pieces of at most budget tokens, at spaces (or after
// CJK punctuation) where it can, else between characters. A piece is never
// empty; a single character over the budget is a piece of its own.
func (c *Chunker) cut(s string, budget int) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	budget = max(budget, 1)
	var out []string
	for s != "" {
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
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			end()
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || unicode.Is(unicode.Latin, r):
			word += utf8.RuneLen(r)
		default:
			end()
			n++
		}
	}
	end()
	return n
}
