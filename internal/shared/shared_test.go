package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// The lookup order: $KEFU_SHARED, else ../shared beside the working
// directory, else ../shared beside the module root.
func TestDir(t *testing.T) {
	mod := ModuleRoot() // found from the package's folder, once
	if mod == "" {
		t.Fatal("no module root above the package's folder")
	}
	root := t.TempDir()
	work := filepath.Join(root, "work")
	besideWork := filepath.Join(root, "shared")
	for _, d := range []string{work, besideWork} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(work)
	t.Setenv(Env, "/explicit/shared")
	if got := Dir(); got != "/explicit/shared" {
		t.Errorf("with %s set: %q", Env, got)
	}
	t.Setenv(Env, "")
	if got := Dir(); got != filepath.Join("..", "shared") {
		t.Errorf("with ../shared beside the working directory: %q", got)
	}
	if err := os.Remove(besideWork); err != nil {
		t.Fatal(err)
	}
	// Beside the module root is the checkout's ../shared, if any.
	want := filepath.Join(filepath.Dir(mod), "shared")
	if !isDir(want) {
		want = ""
	}
	if got := Dir(); got != want {
		t.Errorf("without ../shared: %q, want %q", got, want)
	}
}
