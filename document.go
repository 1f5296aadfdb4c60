package kefu

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// DocStatus is where a document is in its life.
type DocStatus string

// Document statuses.
const (
	DocPending DocStatus = "pending" // accepted, not indexed yet
	DocIndexed DocStatus = "indexed" // searchable
	DocFailed  DocStatus = "failed"  // refused or broken; Error says why
)

// Document is one source file or record a team uploaded.
type Document struct {
	// ID is stable across re-uploads: the caller's external id, else the
	// source name. Re-ingesting the same ID replaces the document.
	ID        string            `json:"doc_id"`
	KB        string            `json:"kb"`
	Source    string            `json:"source"` // file name or path as uploaded
	Title     string            `json:"title,omitempty"`
	URL       string            `json:"url,omitempty"`
	Format    string            `json:"format"` // md, html, pdf, docx, txt, csv, xlsx, json, jsonl
	Hash      string            `json:"hash"`   // sha256 of the source bytes
	Bytes     int64             `json:"bytes"`
	Chunks    int               `json:"chunks"`
	Status    DocStatus         `json:"status"`
	Error     string            `json:"error,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// ChunkKind tells passages from FAQ entries.
type ChunkKind string

// Chunk kinds.
const (
	KindPassage ChunkKind = "passage" // a piece of a document
	KindFAQ     ChunkKind = "faq"     // a question with its stored answer
)

// Chunk is the unit of retrieval.
type Chunk struct {
	ID       string    `json:"chunk_id"` // unique within the KB
	DocID    string    `json:"doc_id"`
	Seq      int       `json:"seq"` // position in the document
	Kind     ChunkKind `json:"kind"`
	Title    string    `json:"title,omitempty"`    // document title
	Headings []string  `json:"headings,omitempty"` // heading path, outermost first
	// Text is the passage, or an FAQ entry's answer.
	Text string `json:"text"`
	// Questions are an FAQ entry's phrasings, the canonical one first; all of
	// them point to the one answer in Text.
	Questions []string          `json:"questions,omitempty"`
	Category  string            `json:"category,omitempty"`
	Source    string            `json:"source,omitempty"`
	URL       string            `json:"url,omitempty"`
	Page      int               `json:"page,omitempty"` // 1-based page for paged formats, else 0
	Lang      string            `json:"lang,omitempty"` // "zh", "en" or "" when unknown
	Tokens    int               `json:"tokens,omitempty"`
	Hash      string            `json:"hash"` // ContentHash of the chunk
	Meta      map[string]string `json:"meta,omitempty"`
}

// HeadingPath joins the heading path the way it is shown and indexed:
// "Returns > Refunds > Timing".
func (c *Chunk) HeadingPath() string { return strings.Join(c.Headings, " > ") }

// EmbedTexts returns the texts whose vectors represent the chunk: each phrasing
// of an FAQ entry, or a passage with its title and heading path as context.
// Every vector of a chunk points to it; a vector search scores a chunk by its
// best one.
func (c *Chunk) EmbedTexts() []string {
	if c.Kind == KindFAQ && len(c.Questions) > 0 {
		return c.Questions
	}
	return []string{c.ContextText()}
}

// ContextText is the passage prefixed with its title and heading path, which
// is what both the keyword and the vector index see of a passage.
func (c *Chunk) ContextText() string {
	var b strings.Builder
	ctx := make([]string, 0, len(c.Headings)+1)
	if c.Title != "" && (len(c.Headings) == 0 || c.Headings[0] != c.Title) {
		ctx = append(ctx, c.Title)
	}
	ctx = append(ctx, c.Headings...)
	if len(ctx) > 0 {
		b.WriteString(strings.Join(ctx, " > "))
		b.WriteString("\n")
	}
	b.WriteString(c.Text)
	return b.String()
}

// ContentHash identifies a chunk by what is indexed of it, so that an
// unchanged chunk is not embedded again and an exact duplicate inside a KB is
// stored once.
func (c *Chunk) ContentHash() string {
	h := sha256.New()
	for _, s := range []string{string(c.Kind), c.Title, c.HeadingPath(), strings.Join(c.Questions, "\x1f"), c.Text} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
