package index

import (
	"context"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"

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
// deleted (Options.ExternalKBs): its sources, reports, answer log and
// conversations.
func (s *Store) DeleteKBFiles(ctx context.Context, kb string) error {
	if !s.opts.ExternalKBs || !kefu.ValidKBName(kb) {
		return nil
	}
	if _, err := s.state(kb); err == nil {
		return nil // a KB of this store: DeleteKB's business
	}
	// Its answer log and conversations go with it.
	err := s.commits.do(func(tx *bolt.Tx) error {
		if tx.Bucket(kbBucket(kb)) == nil {
			return nil
		}
		return tx.DeleteBucket(kbBucket(kb))
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(s.kbDir(kb))
}

// nodeBucket is kb's bucket, where this node keeps its answer log and
// conversations of the KB. With Options.ExternalKBs a KB another store
// holds has one from its first write (create) on; before that it is nil,
// and reads find nothing. Otherwise a KB this store does not hold is not
// found.
func (s *Store) nodeBucket(tx *bolt.Tx, kb string, create bool) (*bolt.Bucket, error) {
	if b := tx.Bucket(kbBucket(kb)); b != nil {
		return b, nil
	}
	if !s.opts.ExternalKBs || !kefu.ValidKBName(kb) {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", kb)
	}
	if !create || !tx.Writable() {
		return nil, nil
	}
	b, err := tx.CreateBucket(kbBucket(kb))
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bucketAnswers, bucketAnswerIDs, bucketFeedback} {
		if _, err := b.CreateBucket(name); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// DocumentsStored enqueues document.ingested for documents another store
// wrote (Options.ExternalKBs), after its write: unlike the embedded
// store's, which are written in the document's own transaction, these
// events are lost if the process dies between the two writes.
func (s *Store) DocumentsStored(ctx context.Context, docs ...*kefu.Document) error {
	wanted := false
	s.db.View(func(tx *bolt.Tx) error {
		subs := subscriptions(tx)
		for _, doc := range docs {
			probe := kefu.Event{Type: kefu.EventDocumentIngested, KB: doc.KB}
			wanted = wanted || slices.ContainsFunc(subs, func(sub *kefu.Subscription) bool { return sub.Wants(&probe) })
		}
		return nil
	})
	if !wanted {
		return nil // no commit for nothing
	}
	return s.commits.do(func(tx *bolt.Tx) error {
		for _, doc := range docs {
			if err := s.documentEvent(ctx, tx, doc); err != nil {
				return err
			}
		}
		return nil
	})
}
