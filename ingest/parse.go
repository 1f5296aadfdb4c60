package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"runtime/debug"
	"strings"

	"github.com/kefu-dev/kefu"
)

// Parse parses one uploaded file into documents: one for most formats, one
// per member of a ZIP archive and one per record of a JSON/JSONL file.
// data is the whole file, already bounded by the caller at
// lim.MaxFileBytes (Parse refuses more). The format is detected by content
// where the content says it (ZIP, PDF, OOXML magic bytes; text encodings),
// else by name's extension. A file it refuses returns a *kefu.Error naming
// the file and the reason; an archive member it refuses comes back as a Doc
// with Err set, so the others are kept.
func Parse(ctx context.Context, name string, data []byte, lim Limits) ([]*Doc, error) {
	return parseAs(ctx, name, name, data, lim)
}

// parseAs is Parse with the document id given: archive members and
// records without ids get ids under it.
func parseAs(ctx context.Context, name, id string, data []byte, lim Limits) ([]*Doc, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxFileBytes {
		return nil, tooLarge(name, "max_file_bytes", "more than %d bytes", lim.MaxFileBytes)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, lim.MaxTime, errMaxTime)
	defer cancel()
	p := &parser{ctx: ctx, lim: lim, left: budget{left: lim.MaxDecompressedBytes}}
	docs, err := p.file(name, id, data, 0)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx, name, lim); err != nil {
		return nil, err
	}
	return docs, nil
}

// parser holds what the parse of one upload shares across archive members.
type parser struct {
	ctx     context.Context
	lim     Limits
	left    budget // decompressed bytes left
	entries int    // archive entries seen
}

func (p *parser) err(name string) error { return ctxErr(p.ctx, name, p.lim) }

// file parses one file or archive member: name is its source name, id its
// document id.
func (p *parser) file(name, id string, data []byte, depth int) ([]*Doc, error) {
	if err := p.err(name); err != nil {
		return nil, err
	}
	format, err := DetectFormat(name, data)
	if err != nil {
		return nil, err
	}
	var doc *Doc
	switch format {
	case FormatZIP:
		return p.zip(name, id, data, depth)
	case FormatJSON, FormatJSONL:
		txt, err := p.text(name, data)
		if err != nil {
			return nil, err
		}
		return p.records(name, id, txt, format, data)
	case FormatDOCX:
		doc, err = p.docx(name, data)
	case FormatXLSX:
		doc, err = p.xlsx(name, data)
	case FormatPDF:
		doc, err = p.pdf(name, data)
	default:
		var txt string
		if txt, err = p.text(name, data); err != nil {
			return nil, err
		}
		switch format {
		case FormatMarkdown:
			doc, err = p.markdown(name, txt, isMDX(name))
		case FormatHTML:
			doc, err = p.html(name, txt)
		case FormatCSV:
			doc, err = p.csv(name, txt)
		default:
			doc, err = p.txt(name, txt)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := p.err(name); err != nil {
		return nil, err
	}
	doc.ID, doc.Source, doc.Format = id, name, format
	doc.Hash, doc.Bytes = hashBytes(data), int64(len(data))
	if doc.Title == "" {
		doc.Title = titleFromName(name)
	}
	if len(doc.Blocks) > p.lim.MaxBlocks {
		return nil, tooLarge(name, "max_blocks", "more than %d blocks", p.lim.MaxBlocks)
	}
	return []*Doc{doc}, nil
}

// text decodes a text file.
func (p *parser) text(name string, data []byte) (string, error) {
	s, _, ok := DecodeText(data)
	if !ok {
		return "", unsupported(name, "binary data, not text in UTF-8, UTF-16 or GB18030")
	}
	return s, nil
}

// DetectFormat returns the format of a file (one of the Format constants):
// by magic bytes for ZIP-based formats and PDF, else by the extension of
// name, else by sniffing the text. Legacy Office files, images and other
// binaries are refused with kefu.EUNSUPPORTED.
func DetectFormat(name string, data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return zipFormat(name, data)
	case bytes.HasPrefix(bytes.TrimLeft(data[:min(len(data), 1024)], "\x00\t\r\n \xef\xbb\xbf"), []byte("%PDF-")):
		return FormatPDF, nil
	case strings.EqualFold(path.Ext(name), ".pdf") && bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")):
		return FormatPDF, nil // junk before the header, which readers tolerate
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		return "", unsupported(name, "legacy Office binary format (.doc/.xls/.ppt); save it as .docx or .xlsx")
	}
	if kind := binaryKind(data); kind != "" {
		return "", unsupported(name, "%s files are not supported", kind)
	}
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".md", ".markdown", ".mdx", ".mdown", ".mkd":
		return FormatMarkdown, nil
	case ".html", ".htm", ".xhtml", ".shtml":
		return FormatHTML, nil
	case ".csv", ".tsv":
		return FormatCSV, nil
	case ".json":
		return FormatJSON, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".txt", ".text":
		return FormatText, nil
	case ".pdf", ".docx", ".xlsx", ".zip":
		return "", invalid(name, "not a valid %s file", strings.ToUpper(ext[1:]))
	case ".doc", ".xls", ".ppt", ".pptx", ".rtf", ".odt", ".epub":
		return "", unsupported(name, "%s files are not supported", ext)
	}
	return sniffText(data), nil
}

// sniffText guesses the format of a text file without a known extension.
func sniffText(data []byte) string {
	head := bytes.ToLower(bytes.TrimLeft(data[:min(len(data), 512)], " \t\r\n\xef\xbb\xbf"))
	switch {
	case bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html")):
		return FormatHTML
	case bytes.HasPrefix(head, []byte("{")) || bytes.HasPrefix(head, []byte("[")):
		return FormatJSON
	}
	return FormatText
}

// binaryKind names well-known binary formats by their magic bytes.
func binaryKind(data []byte) string {
	magic := []struct {
		prefix, kind string
	}{
		{"\x89PNG", "PNG image"}, {"\xff\xd8\xff", "JPEG image"}, {"GIF8", "GIF image"},
		{"RIFF", "RIFF media"}, {"\x1f\x8b", "gzip"}, {"BZh", "bzip2"}, {"7z\xbc\xaf", "7-Zip"},
		{"Rar!", "RAR"}, {"\x7fELF", "executable"}, {"MZ", "executable"}, {"{\\rtf", "RTF"},
		{"\x00\x00\x00\x18ftyp", "MP4 video"}, {"\x00\x00\x00\x20ftyp", "MP4 video"}, {"ID3", "MP3 audio"},
	}
	for _, m := range magic {
		if bytes.HasPrefix(data, []byte(m.prefix)) {
			return m.kind
		}
	}
	return ""
}

func isMDX(name string) bool { return strings.EqualFold(path.Ext(name), ".mdx") }

// titleFromName is the title of a document that names none: its file name
// without directory and extension.
func titleFromName(name string) string {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	if ext := path.Ext(base); ext != "" && len(ext) < len(base) {
		base = base[:len(base)-len(ext)]
	}
	return strings.TrimSpace(strings.NewReplacer("_", " ", "-", " ").Replace(base))
}

func hashBytes(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// safely runs a third-party parser, turning its panic on malformed input
// into a refusal of the file: the PDF, HTML and XLSX libraries panic on
// some broken files, and one broken upload must not take the server down.
func safely(name string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &kefu.Error{Code: kefu.EINVALID, Message: name + ": malformed file", Err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
		}
	}()
	return fn()
}
