package index

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-dev/kefu"
)

// A KB keeps its latest report: a new one replaces every file of the old,
// names are plain file names, and the report goes with its KB.
func TestReports(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	newKB(t, s, "kb")
	if _, err := s.ReportFile(ctx, "kb", kefu.ReportSummary); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("before any report: %v", err)
	}
	first := map[string][]byte{kefu.ReportSummary: []byte(`{"n":1}`), kefu.ReportHTML: []byte("<p>1"), "run.bm25.trec": []byte("q Q0 d 1 1 t\n")}
	if err := s.PutReport(ctx, "kb", first); err != nil {
		t.Fatal(err)
	}
	if err := s.PutReport(ctx, "kb", map[string][]byte{kefu.ReportSummary: []byte(`{"n":2}`), kefu.ReportHTML: []byte("<p>2")}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReportFile(ctx, "kb", kefu.ReportSummary); err != nil || string(b) != `{"n":2}` {
		t.Errorf("summary %q %v", b, err)
	}
	if _, err := s.ReportFile(ctx, "kb", "run.bm25.trec"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("a file of the replaced report: %v", err)
	}
	// The layout on disk is unchanged: kbs/<kb>/eval/<file>.
	if b, err := os.ReadFile(filepath.Join(dir, "kbs", "kb", "eval", kefu.ReportHTML)); err != nil || string(b) != "<p>2" {
		t.Errorf("report.html on disk: %q %v", b, err)
	}
	for _, name := range []string{"../kefu.db", "a/b", ".hidden", ""} {
		if _, err := s.ReportFile(ctx, "kb", name); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("ReportFile(%q): %v", name, err)
		}
		if err := s.PutReport(ctx, "kb", map[string][]byte{name: nil}); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("PutReport(%q): %v", name, err)
		}
	}
	if err := s.PutReport(ctx, "nokb", first); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("report of a missing KB: %v", err)
	}
	if err := s.DeleteKB(ctx, "kb"); err != nil {
		t.Fatal(err)
	}
	newKB(t, s, "kb")
	if _, err := s.ReportFile(ctx, "kb", kefu.ReportSummary); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("a new KB of a deleted one's name has its report: %v", err)
	}
}
