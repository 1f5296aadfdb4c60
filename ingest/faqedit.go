package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// Editing FAQ sheets from the API: a question the bot could not answer
// becomes a new entry (in the KB's kefu.AddedFAQ sheet) or another phrasing
// of an existing entry (in the CSV sheet it came from). Either way the
// sheet's stored source is edited and re-ingested at once, so a re-index
// or a new upload of the sheet keeps the change. Sheets in other formats
// (XLSX, JSON) are not rewritten: the team edits those files.

var _ kefu.FAQEditor = (*Service)(nil)

// maxFAQText bounds an added question or answer.
const maxFAQText = 8 << 10

// AddEntry appends a question and its answer to the KB's added-FAQ sheet
// and re-indexes it; the job reports the outcome.
func (s *Service) AddEntry(ctx context.Context, kb, question, answer string) (*kefu.Job, error) {
	question, answer = strings.TrimSpace(question), strings.TrimSpace(answer)
	if question == "" || answer == "" {
		return nil, kefu.Errorf(kefu.EINVALID, "an FAQ entry needs a question and an answer")
	}
	if len(question) > maxFAQText || len(answer) > maxFAQText {
		return nil, kefu.Errorf(kefu.ETOOLARGE, "question or answer over %d bytes", maxFAQText)
	}
	rows := [][]string{{"question", "similar", "answer"}}
	if data, err := s.source(ctx, kb, kefu.AddedFAQ); err == nil {
		if rows, err = readSheet(data); err != nil {
			return nil, err
		}
	} else if kefu.ErrorCode(err) != kefu.ENOTFOUND {
		return nil, err
	}
	cols, ok := detectHeader(rows[0])
	if !ok {
		return nil, kefu.Errorf(kefu.EINTERNAL, "%s has lost its header", kefu.AddedFAQ)
	}
	row := make([]string, len(rows[0]))
	row[cols[colQuestion]], row[cols[colAnswer]] = question, answer
	return s.rewrite(ctx, kb, kefu.AddedFAQ, kefu.AddedFAQ, append(rows, row))
}

// AddPhrasing adds question to the similar phrasings of the FAQ entry
// chunkID of document docID, a CSV sheet, and re-indexes the sheet.
func (s *Service) AddPhrasing(ctx context.Context, kb, docID, chunkID, question string) (*kefu.Job, error) {
	question = strings.TrimSpace(question)
	if question == "" || len(question) > maxFAQText {
		return nil, kefu.Errorf(kefu.EINVALID, "a phrasing needs 1 to %d bytes of text", maxFAQText)
	}
	if strings.ContainsAny(question, "|｜;；\n") {
		return nil, kefu.Errorf(kefu.EINVALID, "a phrasing may not contain | ; or a line break, which separate phrasings in a sheet")
	}
	doc, err := s.Store.Document(ctx, kb, docID)
	if err != nil {
		return nil, err
	}
	chunks, err := s.Store.Chunks(ctx, kb, docID)
	if err != nil {
		return nil, err
	}
	var entry *kefu.Chunk
	for _, c := range chunks {
		if c.ID == chunkID {
			entry = c
		}
	}
	switch {
	case entry == nil:
		return nil, kefu.Errorf(kefu.ENOTFOUND, "document %q has no chunk %q", docID, chunkID)
	case entry.Kind != kefu.KindFAQ || len(entry.Questions) == 0:
		return nil, kefu.Errorf(kefu.EINVALID, "chunk %q is a passage, not an FAQ entry", chunkID)
	case doc.Format != "csv" || doc.Meta[kefu.MetaSourceID] != "":
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "the entry comes from %s (%s): kefu rewrites CSV sheets only; add the phrasing to that file and upload it again", doc.Source, doc.Format)
	}
	data, err := s.source(ctx, kb, docID)
	if err != nil {
		return nil, err
	}
	rows, err := readSheet(data)
	if err != nil {
		return nil, err
	}
	cols, ok := detectHeader(rows[0])
	if !ok {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "%s has no question and answer header row: add the phrasing to the file and upload it again", doc.Source)
	}
	if cols[colSimilar] < 0 {
		cols[colSimilar] = len(rows[0])
		rows[0] = append(rows[0], "similar")
	}
	canon := text.Normalize(entry.Questions[0])
	for i, r := range rows[1:] {
		if cols[colQuestion] >= len(r) || text.Normalize(strings.TrimSpace(r[cols[colQuestion]])) != canon {
			continue
		}
		for len(r) <= cols[colSimilar] {
			r = append(r, "")
		}
		cell := strings.TrimSpace(r[cols[colSimilar]])
		for _, p := range append(splitPhrasings(cell), entry.Questions...) {
			if text.Normalize(p) == text.Normalize(question) {
				return nil, kefu.Errorf(kefu.ECONFLICT, "the entry already has the phrasing %q", question)
			}
		}
		if cell != "" {
			cell += "|"
		}
		r[cols[colSimilar]] = cell + question
		rows[i+1] = r
		return s.rewrite(ctx, kb, docID, doc.Source, rows)
	}
	return nil, kefu.Errorf(kefu.ENOTFOUND, "%s has no row for the question %q", doc.Source, entry.Questions[0])
}

// source reads a document's stored bytes.
func (s *Service) source(ctx context.Context, kb, docID string) ([]byte, error) {
	ss, ok := s.Store.(kefu.SourceStore)
	if !ok {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "this store keeps no document sources")
	}
	return ss.Source(ctx, kb, docID)
}

// readSheet reads a CSV sheet in any encoding DecodeText knows.
func readSheet(data []byte) ([][]string, error) {
	s, _, ok := DecodeText(data)
	if !ok {
		return nil, kefu.Errorf(kefu.EUNSUPPORTED, "the sheet is not text")
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = sniffDelimiter(s)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	rows, err := r.ReadAll()
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "malformed CSV: %v", err)
	}
	if len(rows) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "the sheet is empty")
	}
	return rows, nil
}

// rewrite stores rows as the document's new source (UTF-8 CSV, under its
// file name) and ingests it at once.
func (s *Service) rewrite(ctx context.Context, kb, docID, name string, rows [][]string) (*kefu.Job, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "writing %s: %w", docID, err)
	}
	data := b.Bytes()
	up := kefu.Upload{Name: name, DocID: docID, Size: int64(len(data)), Force: true,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	job, err := s.Ingest(ctx, kb, []kefu.Upload{up}, nil)
	if err != nil {
		return nil, err
	}
	if len(job.Failed) > 0 {
		f := job.Failed[0]
		return job, &kefu.Error{Code: f.Code, Message: f.Reason}
	}
	return job, nil
}
