// Package testenv finds what tests and benchmarks need outside the module:
// the shared models and datasets (../shared) and the ONNX Runtime library.
//
// `make test` sets KEFU_REQUIRE_SHARED=1, so a missing resource fails the
// suite there instead of skipping tests quietly.
package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	rootOnce sync.Once
	root     string
)

// ModuleRoot returns the directory holding go.mod, or "" when not found.
func ModuleRoot() string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	return root
}

// SharedDir returns the shared folder ($KEFU_SHARED, else ../shared beside
// the module), or "" when it is absent.
func SharedDir() string {
	if d := os.Getenv("KEFU_SHARED"); d != "" {
		return d
	}
	if r := ModuleRoot(); r != "" {
		d := filepath.Join(filepath.Dir(r), "shared")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}

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
