package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

var _ kefu.SourceStore = (*Store)(nil)

// sourcePath names a document's source file by a hash of its id, so any id
// is a safe file name.
func (s *Store) sourcePath(kb, docID string) string {
	h := sha256.Sum256([]byte(docID))
	return filepath.Join(s.kbDir(kb), "sources", hex.EncodeToString(h[:16]))
}

// PutSource keeps the bytes a document was made from, crash-safely: a
// reader sees the old file or the new one.
func (s *Store) PutSource(ctx context.Context, kb, docID string, data []byte) error {
	if err := s.holds(kb); err != nil {
		return err
	}
	p := s.sourcePath(kb, docID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, data, 0o600)
}

// Source returns the bytes a document was made from.
func (s *Store) Source(ctx context.Context, kb, docID string) ([]byte, error) {
	if err := s.holds(kb); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.sourcePath(kb, docID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no stored source for document %q", docID)
	}
	return b, err
}

func (s *Store) deleteSource(kb, docID string) {
	os.Remove(s.sourcePath(kb, docID))
}
