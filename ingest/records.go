package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// record is one JSON record: {"title","text","url"} with an optional id
// (also "_id", as in BEIR corpora) and meta.
type record struct {
	ID    json.RawMessage `json:"id"`
	BEIR  json.RawMessage `json:"_id"`
	Title string          `json:"title"`
	Text  *string         `json:"text"`
	URL   string          `json:"url"`
	Meta  map[string]any  `json:"meta"`
}

// records parses a JSON array of records, one record object, or JSONL (one
// record per line). Each record with a text field is one document; its id
// is the record's id when it has one (so a corpus keeps its ids), else
// "<file id>#<n>" (1-based). A file without any such record is refused.
func (p *parser) records(name, id, s, format string, raw []byte) ([]*Doc, error) {
	var docs []*Doc
	n := 0
	add := func(data []byte) error {
		n++
		if n > p.lim.MaxRows {
			return tooLarge(name, "max_rows", "more than %d records", p.lim.MaxRows)
		}
		if n%256 == 0 {
			if err := p.err(name); err != nil {
				return err
			}
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			if format == FormatJSONL {
				return invalid(name, "line %d is not a JSON object: %s", n, jsonReason(err))
			}
			return nil // not an object: not a record
		}
		if r.Text == nil {
			return nil
		}
		if len(*r.Text) > p.lim.MaxFieldBytes*8 {
			return tooLarge(name, "max_field_bytes", "record %d has a text of more than %d bytes", n, p.lim.MaxFieldBytes*8)
		}
		d := &Doc{
			Source: fmt.Sprintf("%s#%d", name, n),
			Title:  strings.TrimSpace(r.Title),
			URL:    strings.TrimSpace(r.URL),
			Format: format,
			Hash:   hashBytes(data),
			Bytes:  int64(len(data)),
			Blocks: textBlocks(*r.Text, false),
		}
		d.ID = fmt.Sprintf("%s#%d", id, n)
		if rid := recordID(r.ID, r.BEIR); rid != "" {
			d.ID = rid
		}
		for k, v := range r.Meta {
			if d.Meta == nil {
				d.Meta = map[string]string{}
			}
			switch v := v.(type) {
			case string:
				d.Meta[k] = v
			case nil:
			default:
				b, _ := json.Marshal(v)
				d.Meta[k] = string(b)
			}
		}
		docs = append(docs, d)
		return nil
	}
	var err error
	if format == FormatJSONL || looksJSONL(s) {
		format = FormatJSONL
		err = eachLine(s, func(line string) error { return add([]byte(line)) })
	} else {
		err = eachJSONRecord(name, s, add)
	}
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, unsupported(name, "no records with a text field (expected JSON records {\"title\",\"text\",\"url\"})")
	}
	if len(docs) == 1 && format == FormatJSON && docs[0].ID == id+"#1" {
		// One record file: the document is the file.
		docs[0].ID, docs[0].Source = id, name
		docs[0].Hash, docs[0].Bytes = hashBytes(raw), int64(len(raw))
	}
	for _, d := range docs {
		if d.Title == "" {
			d.Title = titleFromName(name)
		}
		if len(d.Blocks) > p.lim.MaxBlocks {
			return nil, tooLarge(name, "max_blocks", "more than %d blocks", p.lim.MaxBlocks)
		}
	}
	return docs, nil
}

// recordID renders a string or number id.
func recordID(ids ...json.RawMessage) string {
	for _, raw := range ids {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s = strings.TrimSpace(s); s != "" {
				return s
			}
			continue
		}
		var f json.Number
		if json.Unmarshal(raw, &f) == nil {
			return f.String()
		}
	}
	return ""
}

// looksJSONL reports a .json file that holds one object per line.
func looksJSONL(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return false
	}
	first, rest, ok := strings.Cut(s, "\n")
	return ok && json.Valid([]byte(strings.TrimSpace(first))) && strings.HasPrefix(strings.TrimSpace(rest), "{")
}

func eachLine(s string, fn func(string) error) error {
	for len(s) > 0 {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// eachJSONRecord calls fn on each element of a top-level array, or on the
// one top-level object, streaming the array.
func eachJSONRecord(name, s string, fn func([]byte) error) error {
	dec := json.NewDecoder(strings.NewReader(s))
	tok, err := dec.Token()
	if err != nil {
		return invalid(name, "not valid JSON: %s", jsonReason(err))
	}
	switch tok {
	case json.Delim('['):
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return invalid(name, "not valid JSON: %s", jsonReason(err))
			}
			if err := fn(raw); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return invalid(name, "not valid JSON: %s", jsonReason(err))
		}
	case json.Delim('{'):
		if !json.Valid([]byte(s)) {
			return invalid(name, "not valid JSON")
		}
		return fn([]byte(strings.TrimSpace(s)))
	default:
		return unsupported(name, "no records with a text field (expected JSON records {\"title\",\"text\",\"url\"})")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid(name, "trailing data after JSON")
	}
	return nil
}

// jsonReason says why encoding/json refused a text, without its words
// (which name Go types).
func jsonReason(err error) string {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("unexpected text at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("found %s where an object was expected", te.Value)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends before its value does"
	}
	return "malformed"
}
