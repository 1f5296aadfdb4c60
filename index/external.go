package index

import (
	"context"
	"os"

	"github.com/kefu-dev/kefu"
)

// holds checks that kb may have sources and reports here: a KB of this
// store, or with Options.ExternalKBs any valid KB name.
func (s *Store) holds(kb string) error {
	if s.opts.ExternalKBs {
		if !kefu.ValidKBName(kb) {
			return kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
		}
		return nil
	}
	_, err := s.state(kb)
	return err
}

// DeleteSource removes a document's source, for a document another store
// deleted (Options.ExternalKBs).
func (s *Store) DeleteSource(ctx context.Context, kb, docID string) {
	if kefu.ValidKBName(kb) {
		s.deleteSource(kb, docID)
	}
}

// DeleteKBFiles removes what this store keeps of a KB another store
// deleted (Options.ExternalKBs): its sources and reports.
func (s *Store) DeleteKBFiles(ctx context.Context, kb string) error {
	if !s.opts.ExternalKBs || !kefu.ValidKBName(kb) {
		return nil
	}
	if _, err := s.state(kb); err == nil {
		return nil // a KB of this store: DeleteKB's business
	}
	return os.RemoveAll(s.kbDir(kb))
}
