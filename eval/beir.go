package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kefu-dev/kefu"
)

// Dataset is a retrieval benchmark in BEIR layout: corpus.jsonl
// ({_id,title,text}), queries.jsonl ({_id,text}) and qrels/<split>.tsv
// ("query-id corpus-id score" with a header line).
type Dataset struct {
	Name    string
	Dir     string
	Split   string
	Corpus  []CorpusDoc
	Queries map[string]string // query id → text, only those judged in Split
	Qrels   kefu.Qrels
}

// CorpusDoc is one document of a dataset's corpus.
type CorpusDoc struct {
	ID    string `json:"_id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// maxLine bounds one JSONL line (1 MiB): a longer line is an error, not an
// allocation.
const maxLine = 1 << 20

// LoadDataset reads a BEIR dataset's corpus, its split's qrels and the
// queries they judge.
func LoadDataset(dir, split string) (*Dataset, error) {
	d := &Dataset{Name: filepath.Base(filepath.Clean(dir)), Dir: dir, Split: split, Queries: map[string]string{}}
	var err error
	if d.Qrels, err = LoadQrels(filepath.Join(dir, "qrels", split+".tsv")); err != nil {
		return nil, err
	}
	err = readJSONL(filepath.Join(dir, "corpus.jsonl"), func(line []byte) error {
		var doc CorpusDoc
		if err := json.Unmarshal(line, &doc); err != nil {
			return err
		}
		if doc.ID == "" {
			return fmt.Errorf("document without _id")
		}
		d.Corpus = append(d.Corpus, doc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readJSONL(filepath.Join(dir, "queries.jsonl"), func(line []byte) error {
		var q struct {
			ID   string `json:"_id"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(line, &q); err != nil {
			return err
		}
		if _, judged := d.Qrels[q.ID]; judged {
			d.Queries[q.ID] = q.Text
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for q := range d.Qrels {
		if _, ok := d.Queries[q]; !ok {
			delete(d.Qrels, q) // judged but absent from queries.jsonl
		}
	}
	return d, nil
}

// HasSplit reports whether the dataset has judgements for split.
func HasSplit(dir, split string) bool {
	_, err := os.Stat(filepath.Join(dir, "qrels", split+".tsv"))
	return err == nil
}

// QueryIDs returns the dataset's query ids in a stable order.
func (d *Dataset) QueryIDs() []string {
	return slices.Sorted(maps.Keys(d.Queries))
}

// LoadQrels reads a qrels TSV: a header line, then "query-id corpus-id
// score" separated by tabs or spaces; CRLF line ends are fine.
func LoadQrels(path string) (kefu.Qrels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "qrels: %w", err)
	}
	defer f.Close()
	q := kefu.Qrels{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) == 4 { // TREC form: qid 0 docid grade
			fields = []string{fields[0], fields[2], fields[3]}
		}
		if len(fields) != 3 {
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: want query-id, corpus-id, score", path, line)
		}
		g, err := strconv.Atoi(fields[2])
		if err != nil {
			if line == 1 {
				continue // the header
			}
			return nil, kefu.Errorf(kefu.EINVALID, "%s:%d: score %q is not an integer", path, line, fields[2])
		}
		if q[fields[0]] == nil {
			q[fields[0]] = map[string]int{}
		}
		q[fields[0]][fields[1]] = g
	}
	if err := sc.Err(); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "%s: %w", path, err)
	}
	return q, nil
}

// readJSONL calls fn on each non-blank line of path, refusing lines over
// maxLine.
func readJSONL(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return kefu.Errorf(kefu.ENOTFOUND, "%w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if line := sc.Bytes(); len(bytes.TrimSpace(line)) > 0 {
			if err := fn(line); err != nil {
				return kefu.Errorf(kefu.EINVALID, "%s:%d: %v", path, n, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return kefu.Errorf(kefu.EINVALID, "%s:%d: %w", path, n+1, err)
	}
	return nil
}
