package index

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

var _ kefu.ReportStore = (*Store)(nil)

// reportDir holds a KB's latest evaluation report, one file each.
func (s *Store) reportDir(kb string) string { return filepath.Join(s.kbDir(kb), "eval") }

// reportName reports whether name can name a report file: a plain file
// name, no folder, not hidden.
func reportName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".")
}

// PutReport replaces kb's latest evaluation report by files. Each file is
// written crash-safely; files of the previous report that the new one does
// not have are removed afterwards.
func (s *Store) PutReport(ctx context.Context, kb string, files map[string][]byte) error {
	if err := s.holds(kb); err != nil {
		return err
	}
	for name := range files {
		if !reportName(name) {
			return kefu.Errorf(kefu.EINVALID, "report file name %q", name)
		}
	}
	dir := s.reportDir(kb)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "report of %q: %w", kb, err)
	}
	for name, data := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return kefu.Errorf(kefu.EINTERNAL, "report of %q: %w", kb, err)
		}
	}
	old, _ := os.ReadDir(dir)
	for _, e := range old {
		if _, keep := files[e.Name()]; !keep && reportName(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// ReportFile returns one file of kb's latest evaluation report.
func (s *Store) ReportFile(ctx context.Context, kb, name string) ([]byte, error) {
	if err := s.holds(kb); err != nil {
		return nil, err
	}
	if !reportName(name) {
		return nil, kefu.Errorf(kefu.EINVALID, "report file name %q", name)
	}
	b, err := os.ReadFile(filepath.Join(s.reportDir(kb), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no evaluation report for %q: run 'kefu eval --kb %s --questions FILE'", kb, kb)
	}
	if err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "report of %q: %w", kb, err)
	}
	return b, nil
}
