package ingest

import (
	"context"
	"slices"
	"sync"
)

// scheduler shares the ingest slots fairly between knowledge bases. Each KB
// has a queue of jobs that run one after another, in order (so a later
// upload of a document wins over an earlier one). A job asks for a turn
// before each file; the KBs whose running job waits for one take turns
// round-robin, and at most max turns run at once. So a KB busy with a long
// job delays another KB's job by at most one file (each bounded by the
// per-file deadline), not by the whole job.
type scheduler struct {
	mu      sync.Mutex
	max     int
	running int
	queues  map[string][]*ticket // each KB's jobs, the running one first
	ring    []string             // KBs with jobs, the next to get a turn first
}

// ticket is one job's place in its KB's queue.
type ticket struct {
	kb    string
	wants bool          // waiting for a turn
	grant chan struct{} // receives a turn
}

func newScheduler(n int) *scheduler {
	return &scheduler{max: max(n, 1), queues: map[string][]*ticket{}}
}

// join puts a job at the end of its KB's queue.
func (s *scheduler) join(kb string) *ticket {
	t := &ticket{kb: kb, grant: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queues[kb]) == 0 {
		s.ring = append(s.ring, kb)
	}
	s.queues[kb] = append(s.queues[kb], t)
	return t
}

// leave takes a job out of its KB's queue (it has ended, or given up).
func (s *scheduler) leave(t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[t.kb]
	if i := slices.Index(q, t); i >= 0 {
		q = slices.Delete(q, i, i+1)
	}
	if len(q) == 0 {
		delete(s.queues, t.kb)
		s.ring = slices.DeleteFunc(s.ring, func(kb string) bool { return kb == t.kb })
	} else {
		s.queues[t.kb] = q
	}
	s.dispatch()
}

// turn waits until the job may process one file; done ends the turn. It
// fails only when ctx ends first.
func (s *scheduler) turn(ctx context.Context, t *ticket) error {
	s.mu.Lock()
	t.wants = true
	s.dispatch()
	s.mu.Unlock()
	select {
	case <-t.grant:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.wants { // not granted: withdraw
			t.wants = false
			return ctx.Err()
		}
		<-t.grant // granted meanwhile: give the turn back
		s.running--
		s.dispatch()
		return ctx.Err()
	}
}

// done ends a turn.
func (s *scheduler) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	s.dispatch()
}

// dispatch grants free turns, going round the KBs: a KB whose first job
// wants a turn gets one and moves to the back of the ring. Called with mu
// held.
func (s *scheduler) dispatch() {
	for s.running < s.max {
		i := slices.IndexFunc(s.ring, func(kb string) bool { return s.queues[kb][0].wants })
		if i < 0 {
			return
		}
		kb := s.ring[i]
		t := s.queues[kb][0]
		t.wants = false
		s.running++
		t.grant <- struct{}{}
		s.ring = append(slices.Delete(s.ring, i, i+1), kb)
	}
}

// waiting reports whether kb's running job waits for a turn (for tests).
func (s *scheduler) waiting(kb string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[kb]
	return len(q) > 0 && q[0].wants
}
