package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoHarness: bin/kefu links no benchmark or test tooling.
// The harnesses live in internal/bench (bin/kefu-bench) and the test
// helpers in internal/testenv; chromem-go is only a benchmark baseline; and
// the standard library's testing package must not come in through a
// dependency either (Fiber v2's utils package imported it, for its
// assertion helpers).
func TestBinaryLinksNoHarness(t *testing.T) {
	// go test puts its own go first on PATH (as testenv.BuildKefu relies on).
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		switch {
		case p == "testing", strings.HasPrefix(p, "testing/"),
			strings.Contains(p, "chromem"),
			strings.HasSuffix(p, "/internal/bench"), strings.HasSuffix(p, "/internal/testenv"):
			t.Errorf("bin/kefu links %s", p)
		}
	}
}
