package ingest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
)

// Uploads walks the folders it is given and takes the files as they are,
// even of a type a walk would skip; a missing path is not found.
func TestUploads(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"docs/a.md": "# A", "docs/notes.xyz": "?", "faq.csv": "q,a"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	ups, skipped, err := Uploads([]string{filepath.Join(dir, "docs"), filepath.Join(dir, "faq.csv"), filepath.Join(dir, "docs", "notes.xyz")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range ups {
		names = append(names, u.Name)
	}
	if len(names) != 3 || names[0] != "a.md" || names[1] != "faq.csv" || names[2] != "notes.xyz" || ups[1].Size != 3 {
		t.Errorf("uploads %v", names)
	}
	if len(skipped) != 1 || skipped[0].Source != "notes.xyz" {
		t.Errorf("skipped %+v: the walk of docs/ skips notes.xyz", skipped)
	}
	if _, _, err := Uploads([]string{filepath.Join(dir, "missing")}); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("missing path: %v", err)
	}
}
