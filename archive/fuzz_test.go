package archive_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/archive"
)

// readAll reads an archive to its end within small bounds, as an import
// would, without a store.
func readAll(data []byte) error {
	r, err := archive.NewReader(bytes.NewReader(data), archive.ReadOptions{MaxBytes: 4 << 20, MaxBatchBytes: 1 << 20})
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, d := range p.Docs {
			if len(d.Vectors) != len(d.Chunks) {
				panic("a document's vectors do not match its chunks")
			}
		}
	}
}

// checkErr fails on an error that is not the reader's own: every refusal
// must be a kefu error in the archive's words.
func checkErr(t *testing.T, err error) {
	var ke *kefu.Error
	if err != nil && !errors.As(err, &ke) {
		t.Fatalf("an error that is no kefu error: %v", err)
	}
	if err != nil && kefu.ErrorCode(err) == kefu.EINTERNAL {
		t.Fatalf("an internal error for bad input: %v", err)
	}
}

// FuzzReader reads arbitrary bytes as an archive file: no panic, no
// unbounded allocation, only the reader's own errors.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("(\xb5/\xfd"))
	f.Add(pack(f, seedEntries()))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr(t, readAll(data))
	})
}

// FuzzReaderTar reads arbitrary bytes as the tar stream inside the zstd
// layer, so mutations reach the entries, the checksums and the JSON.
func FuzzReaderTar(f *testing.F) {
	f.Add([]byte{})
	f.Add(tarOf(f, seedEntries()))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkErr(t, readAll(compress(t, raw)))
	})
}

// seedEntries is a small valid archive written entry by entry, without a
// store (a store's set-up would cost every fuzz worker seconds): one batch
// of two documents, one with a source, and a report.
func seedEntries() []entry {
	group := func(dir string, files ...entry) []entry {
		var sums strings.Builder
		for _, f := range files {
			fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(f.data), f.name)
		}
		out := []entry{{dir + "SHA256SUMS", []byte(sums.String())}}
		for _, f := range files {
			out = append(out, entry{dir + f.name, f.data})
		}
		return out
	}
	var vecs []byte
	for i := range 3 * 2 {
		vecs = binary.LittleEndian.AppendUint32(vecs, math.Float32bits(float32(i)/7))
	}
	es := group("", entry{"manifest.json", []byte(`{"format":"kefu-kb-archive","version":1,"kb":{"name":"s","model":"m@000000000000","dim":2,"settings":{}}}`)})
	es = append(es, group("batch-000001/",
		entry{"documents.jsonl", []byte(`{"document":{"doc_id":"a","kb":"s"},"chunks":[{"chunk_id":"1","kind":"faq","questions":["q1","q2"],"text":"t"}],"vectors":[2],"source":"source-000001"}` + "\n" +
			`{"document":{"doc_id":"b","kb":"s"},"chunks":[{"chunk_id":"2","kind":"passage","text":"u"}],"vectors":[1]}` + "\n")},
		entry{"vectors.f32", vecs},
		entry{"source-000001", []byte("q1,t")})...)
	es = append(es, group("reports/", entry{"summary.json", []byte("{}")})...)
	return append(es, entry{"end.json", []byte(`{"counts":{"batches":1,"documents":2,"chunks":2,"vectors":3,"sources":1,"source_bytes":4,"reports":1}}`)})
}

// The seed is valid: the fuzzers start from an archive that reads whole.
func TestFuzzSeed(t *testing.T) {
	if err := readAll(pack(t, seedEntries())); err != nil {
		t.Fatal(err)
	}
}
