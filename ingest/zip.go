package ingest

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"path"
	"sort"
	"strings"
)

// zipFormat tells DOCX and XLSX from plain ZIP archives by their parts.
func zipFormat(name string, data []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", invalid(name, "not a readable ZIP container (archive, DOCX or XLSX): %s", zipReason(err))
	}
	var word, xl bool
	for _, f := range zr.File {
		switch f.Name {
		case "word/document.xml":
			word = true
		case "xl/workbook.xml":
			xl = true
		}
	}
	switch {
	case word:
		return FormatDOCX, nil
	case xl:
		return FormatXLSX, nil
	}
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "ppt/") {
			return "", unsupported(name, "PowerPoint files are not supported")
		}
	}
	return FormatZIP, nil
}

// openZip opens a ZIP container and checks its entries against the
// limits before anything is unpacked: their count, and the sizes their
// headers declare (archive/zip refuses members that unpack to more than
// declared), so bombs are refused at once.
func (p *parser) openZip(name string, data []byte) (*zip.Reader, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, invalid(name, "not a readable ZIP container (archive, DOCX or XLSX): %s", zipReason(err))
	}
	p.entries += len(zr.File)
	if p.entries > p.lim.MaxZipEntries {
		return nil, tooLarge(name, "max_zip_entries", "more than %d archive entries", p.lim.MaxZipEntries)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > uint64(p.lim.MaxDecompressedBytes) || f.UncompressedSize64 > uint64(p.lim.MaxDecompressedBytes) {
			return nil, tooLarge(name, "max_decompressed_bytes", "unpacks to more than %d bytes", p.lim.MaxDecompressedBytes)
		}
	}
	return zr, nil
}

// readMember unpacks one entry within the shared budget.
func (p *parser) readMember(name string, f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, tooLarge(name, "max_file_bytes", "more than %d bytes", limit)
	}
	if !p.left.take(int64(f.UncompressedSize64)) {
		return nil, tooLarge(name, "max_decompressed_bytes", "unpacks to more than %d bytes", p.lim.MaxDecompressedBytes)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, invalid(name, "broken archive entry: %s", zipReason(err))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err != nil {
		return nil, invalid(name, "broken archive entry: %s", zipReason(err))
	}
	if uint64(len(data)) > f.UncompressedSize64 {
		return nil, invalid(name, "archive entry larger than declared")
	}
	return data, nil
}

// zip parses the members of an archive: each supported file becomes its
// documents, named "archive.zip/dir/file.md"; archives nest up to
// MaxZipDepth. Members that fail or are skipped come back as Docs with Err.
func (p *parser) zip(name, id string, data []byte, depth int) ([]*Doc, error) {
	if depth >= p.lim.MaxZipDepth {
		return nil, tooLarge(name, "max_zip_depth", "archives nested deeper than %d", p.lim.MaxZipDepth)
	}
	zr, err := p.openZip(name, data)
	if err != nil {
		return nil, err
	}
	files := make([]*zip.File, 0, len(zr.File))
	for _, f := range zr.File {
		files = append(files, f)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var docs []*Doc
	for _, f := range files {
		if err := p.err(name); err != nil {
			return nil, err
		}
		member := cleanMemberName(f.Name)
		if member == "" || f.FileInfo().IsDir() || ignoredMember(member) {
			continue
		}
		mname, mid := name+"/"+member, id+"/"+member
		if why := skipReason(member); why != "" {
			docs = append(docs, &Doc{ID: mid, Source: mname, Err: unsupported(mname, "skipped: %s", why)})
			continue
		}
		mdata, err := p.readMember(mname, f, p.lim.MaxFileBytes)
		var sub []*Doc
		if err == nil {
			sub, err = p.file(mname, mid, mdata, depth+1)
		}
		if err != nil {
			if fatal := p.fatal(name); fatal != nil {
				return nil, fatal
			}
			docs = append(docs, &Doc{ID: mid, Source: mname, Err: err})
			continue
		}
		docs = append(docs, sub...)
	}
	return docs, nil
}

// fatal returns the error that stops the whole upload, not just a member:
// time is up, or the upload as a whole unpacks too much.
func (p *parser) fatal(name string) error {
	switch {
	case p.ctx.Err() != nil:
		return p.err(name)
	case p.left.left < 0:
		return tooLarge(name, "max_decompressed_bytes", "unpacks to more than %d bytes", p.lim.MaxDecompressedBytes)
	case p.entries > p.lim.MaxZipEntries:
		return tooLarge(name, "max_zip_entries", "more than %d archive entries", p.lim.MaxZipEntries)
	}
	return nil
}

// cleanMemberName makes an entry name a clean relative path: no leading
// slash, no "..", forward slashes.
func cleanMemberName(n string) string {
	n = strings.ReplaceAll(n, "\\", "/")
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// ignoredMember reports entries that are never documents and not worth a
// word: macOS resource forks, hidden files and folders.
func ignoredMember(member string) bool {
	for _, part := range strings.Split(member, "/") {
		if strings.HasPrefix(part, ".") || part == "__MACOSX" {
			return true
		}
	}
	return false
}

// skipReason says why a file is not ingested, or "" when it is: files of
// unknown type, and Docusaurus category files.
func skipReason(name string) string {
	base := path.Base(name)
	if base == "_category_.json" || base == "_category_.yml" || base == "_category_.yaml" {
		return "Docusaurus category metadata, not a document"
	}
	if !knownExt[strings.ToLower(path.Ext(base))] {
		if path.Ext(base) == "" {
			return "no file extension"
		}
		return "unknown file type " + path.Ext(base)
	}
	return ""
}

// knownExt are the extensions of the formats ingest reads.
var knownExt = map[string]bool{
	".md": true, ".markdown": true, ".mdx": true, ".mdown": true, ".mkd": true,
	".html": true, ".htm": true, ".xhtml": true, ".shtml": true,
	".pdf": true, ".docx": true, ".txt": true, ".text": true,
	".csv": true, ".tsv": true, ".xlsx": true,
	".json": true, ".jsonl": true, ".ndjson": true, ".zip": true,
}

// zipReason says why archive/zip refused an archive or an entry, in
// words of ours rather than the library's ("zip: not a valid zip file").
func zipReason(err error) string {
	switch {
	case errors.Is(err, zip.ErrFormat):
		return "its directory is missing or damaged"
	case errors.Is(err, zip.ErrAlgorithm):
		return "it is compressed with a method other than store or deflate"
	case errors.Is(err, zip.ErrChecksum):
		return "its data does not match its checksum"
	case errors.Is(err, zip.ErrInsecurePath):
		return "it names a path outside the archive"
	}
	return "its data is damaged"
}
