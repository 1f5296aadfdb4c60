// Package ingest turns uploaded files into chunks in a store: it parses
// every format a support team has (Markdown/MDX, HTML, PDF, DOCX, TXT,
// CSV/XLSX FAQ sheets, JSON/JSONL records and ZIP archives of these) into
// documents of blocks, cuts them into chunks under the embedding model's
// token budget, embeds only what changed and replaces each document in the
// store atomically.
//
// It imports the root and internal/text, never another stage: the store and
// the model come in as kefu.Store and kefu.Embedder.
package ingest

// Formats of parsed documents, as stored in kefu.Document.Format.
const (
	FormatMarkdown = "md"
	FormatHTML     = "html"
	FormatPDF      = "pdf"
	FormatDOCX     = "docx"
	FormatText     = "txt"
	FormatCSV      = "csv"
	FormatXLSX     = "xlsx"
	FormatJSON     = "json"
	FormatJSONL    = "jsonl"
	FormatZIP      = "zip"
)

// BlockKind tells the blocks of a document apart.
type BlockKind string

// Block kinds.
const (
	BlockHeading   BlockKind = "heading"
	BlockParagraph BlockKind = "paragraph"
	BlockListItem  BlockKind = "list_item"
	BlockTable     BlockKind = "table"
	BlockCode      BlockKind = "code"
	// BlockPage marks the start of a page in paged formats (PDF): the blocks
	// after it are on page Page.
	BlockPage BlockKind = "page"
)

// Block is one structural element of a document.
type Block struct {
	Kind BlockKind
	// Level is a heading's level (1 is the outermost) or a list item's
	// nesting depth (1 is the outermost list).
	Level int
	// Text is the text of a heading, paragraph, list item (with its marker,
	// e.g. "- " or "2. ") or code block.
	Text string
	// Rows are a table's cells; the first row is its header.
	Rows [][]string
	Lang string // a code block's language, when given
	Page int    // for BlockPage: the 1-based page number
}

// FAQ is one entry of an FAQ sheet: several phrasings of one question that
// all point to one answer.
type FAQ struct {
	Questions []string // the canonical question first, then similar phrasings
	Answer    string
	Category  string
	Lang      string // "zh", "en" or "" when neither the sheet nor the text says
	URL       string
	Row       int // 1-based row of the canonical question in the sheet
}

// Doc is the structure of one document before chunking.
type Doc struct {
	ID     string // document id; Parse sets the source name or a record's id
	Source string // source name, e.g. "guide.md" or "archive.zip/dir/file.md"
	Title  string
	URL    string
	Format string            // one of the Format constants
	Hash   string            // sha256 (hex) of the bytes the document came from
	Bytes  int64             // size of those bytes
	Meta   map[string]string // format-specific metadata (front matter, record meta)
	Blocks []Block
	FAQs   []FAQ
	// Err is set, instead of blocks, on a member of an archive that could
	// not be parsed or was skipped; the other members are still usable.
	Err error
}

// Empty reports whether the document has nothing to index.
func (d *Doc) Empty() bool {
	if len(d.FAQs) > 0 {
		return false
	}
	for _, b := range d.Blocks {
		if b.Kind != BlockPage {
			return false
		}
	}
	return true
}
