package index

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs write functions in shared bbolt transactions: whatever
// is queued while a commit is on disk goes into the next one, so N
// concurrent writers pay for about one fsync between them instead of N,
// and a lone writer waits for no one (bbolt's own Batch waits up to 10 ms
// to gather a batch, which a customer's answer would pay).
type groupCommit struct {
	db      *bolt.DB
	mu      sync.Mutex
	pending []*commitReq
	running bool
}

type commitReq struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// errItem aborts a shared transaction when one function fails.
var errItem = errors.New("index: a function of the batch failed")

// do runs fn in a write transaction and returns when it is committed. fn
// may run more than once (its batch is retried without a function that
// failed), so it must depend on the transaction and its own arguments only.
func (g *groupCommit) do(fn func(tx *bolt.Tx) error) error {
	r := &commitReq{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	return <-r.done
}

func (g *groupCommit) loop() {
	for {
		g.mu.Lock()
		batch := g.pending
		g.pending = nil
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(batch)
	}
}

// commit runs a batch in one transaction. When a function fails, the
// transaction is rolled back, that function runs again alone and gets its
// own result, and the others are committed without it.
func (g *groupCommit) commit(batch []*commitReq) {
	for len(batch) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				if err := r.fn(tx); err != nil {
					failed = i
					return errItem
				}
			}
			return nil
		})
		if failed < 0 {
			for _, r := range batch {
				r.done <- err
			}
			return
		}
		r := batch[failed]
		r.done <- g.db.Update(r.fn)
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}
