// Package testenv finds what tests and benchmarks need outside the module:
// the shared models and datasets (../shared) and the ONNX Runtime library;
// and it runs the kefu binary as a child process (BuildKefu, RunKefu,
// StartServe), the one harness of the tests that need a real `kefu serve`.
//
// `make test` sets KEFU_REQUIRE_SHARED=1, so a missing resource fails the
// suite there instead of skipping tests quietly. Only tests import it: it
// imports testing.
package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu/internal/shared"
)

// ModuleRoot returns the directory holding go.mod, or "" when not found.
func ModuleRoot() string { return shared.ModuleRoot() }

// SharedDir returns the shared folder (shared.Dir: $KEFU_SHARED, else
// ../shared beside the module), or "" when it is absent.
func SharedDir() string { return shared.Dir() }

// ORTLib returns the ONNX Runtime library ($KEFU_ORT_LIB, else the one `make`
// fetches into third_party/onnxruntime), or "" when absent.
func ORTLib() string {
	if p := os.Getenv("KEFU_ORT_LIB"); p != "" {
		return p
	}
	if r := ModuleRoot(); r != "" {
		p := filepath.Join(r, "third_party", "onnxruntime", "libonnxruntime.so.1")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func required() bool { return os.Getenv("KEFU_REQUIRE_SHARED") == "1" }

func missing(tb testing.TB, what string) {
	tb.Helper()
	if required() {
		tb.Fatalf("%s is missing (KEFU_REQUIRE_SHARED=1)", what)
	}
	tb.Skipf("%s is missing; run through `make test`", what)
}

// Shared returns the path of rel inside the shared folder, skipping the test
// (failing it under `make test`) when it does not exist.
func Shared(tb testing.TB, rel string) string {
	tb.Helper()
	d := SharedDir()
	if d == "" {
		missing(tb, "../shared")
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		missing(tb, p)
	}
	return p
}

// Model returns the folder of a shared model, e.g. Model(t, "tiny-en").
func Model(tb testing.TB, name string) string {
	tb.Helper()
	return Shared(tb, filepath.Join("models", name))
}

// ReadJSONL calls each on every non-blank line of the JSONL file at path
// (lines up to 16 MiB), failing the test on any error.
func ReadJSONL(tb testing.TB, path string, each func(line []byte) error) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := each(sc.Bytes()); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
}

// CorpusTexts returns the texts of the first n documents of a shared BEIR
// dataset's corpus (data/eval/<dataset>/corpus.jsonl).
func CorpusTexts(tb testing.TB, dataset string, n int) []string {
	tb.Helper()
	var texts []string
	ReadJSONL(tb, filepath.Join(Shared(tb, filepath.Join("data", "eval", dataset)), "corpus.jsonl"), func(line []byte) error {
		if len(texts) == n {
			return nil
		}
		var d struct{ Text string }
		err := json.Unmarshal(line, &d)
		texts = append(texts, d.Text)
		return err
	})
	return texts
}

// RequireORT returns the ONNX Runtime library path, skipping the test (failing
// it under `make test`) when there is none.
func RequireORT(tb testing.TB) string {
	tb.Helper()
	p := ORTLib()
	if p == "" {
		missing(tb, "ONNX Runtime library (make ort)")
	}
	return p
}

// SyncBuffer collects output written from several goroutines (a server's
// logs, a child process's output) for a test to read.
type SyncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// ShopQuestions writes eight labelled questions (eval's JSONL: question,
// doc_ids) that the demo shop FAQ answers, ingested with the document id
// shop_faq.csv, to a file in the test's temporary directory and returns
// its path.
func ShopQuestions(tb testing.TB) string {
	tb.Helper()
	var q bytes.Buffer
	for _, s := range []string{"how long until my refund arrives", "where is my parcel", "can I change the delivery address",
		"do you ship abroad", "how do I get an invoice", "my item arrived broken", "what is the return policy", "when does my order ship"} {
		b, _ := json.Marshal(map[string]any{"question": s, "doc_ids": []string{"shop_faq.csv"}})
		q.Write(append(b, '\n'))
	}
	p := filepath.Join(tb.TempDir(), "questions.jsonl")
	if err := os.WriteFile(p, q.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
