package eval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kefu-dev/kefu"
)

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// CorpusKB names the throw-away KB that holds d's corpus embedded with
// model and cut with chunking: "eval-<dataset>-<hash>", the hash of the
// corpus file's bytes, the model and the chunking, so a second run with
// the same inputs finds the corpus ingested already.
func CorpusKB(d *Dataset, model kefu.ModelID, chunking kefu.Chunking) (string, error) {
	f, err := os.Open(filepath.Join(d.Dir, "corpus.jsonl"))
	if err != nil {
		return "", kefu.Errorf(kefu.ENOTFOUND, "%w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", kefu.Errorf(kefu.EINTERNAL, "read %s: %w", f.Name(), err)
	}
	fmt.Fprintf(h, "\x00%s\x00%d/%d", model, chunking.MaxTokens, chunking.OverlapTokens)
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(d.Name), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	return "eval-" + base + "-" + hex.EncodeToString(h.Sum(nil))[:10], nil
}

// Uploads returns d's corpus as uploads: one JSON record ({"title",
// "text"}) per document, under the document's id.
func (d *Dataset) Uploads() []kefu.Upload {
	ups := make([]kefu.Upload, len(d.Corpus))
	for i, doc := range d.Corpus {
		rec, _ := json.Marshal(map[string]string{"title": doc.Title, "text": doc.Text})
		ups[i] = kefu.Upload{Name: doc.ID + ".json", DocID: doc.ID, Size: int64(len(rec)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rec)), nil }}
	}
	return ups
}
