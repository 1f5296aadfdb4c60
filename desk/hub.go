package desk

import (
	"sync"

	"github.com/kefu-dev/kefu"
)

// hub hands live events to watchers: of one conversation (a customer's
// stream), of a KB or of every KB (an agent's inbox). A customer's socket
// that watches nothing costs nothing here.
type hub struct {
	mu     sync.RWMutex
	byConv map[string]map[*watcher]struct{} // kb 0x00 id
	byKB   map[string]map[*watcher]struct{} // kb, "" for every KB
}

type watcher struct{ fn func(kefu.LiveEvent) }

func newHub() *hub {
	return &hub{byConv: map[string]map[*watcher]struct{}{}, byKB: map[string]map[*watcher]struct{}{}}
}

func (h *hub) watch(kb, id string, fn func(kefu.LiveEvent)) func() {
	w := &watcher{fn: fn}
	set, key := h.byKB, kb
	if id != "" {
		set, key = h.byConv, kb+"\x00"+id
	}
	h.mu.Lock()
	if set[key] == nil {
		set[key] = map[*watcher]struct{}{}
	}
	set[key][w] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			delete(set[key], w)
			if len(set[key]) == 0 {
				delete(set, key)
			}
			h.mu.Unlock()
		})
	}
}

// publish tells the watchers of c about its new messages and, when changed,
// its state.
func (h *hub) publish(c *kefu.Conversation, msgs []kefu.Message, stateChanged bool) {
	h.mu.RLock()
	var ws []*watcher
	for _, set := range []map[*watcher]struct{}{h.byConv[c.KB+"\x00"+c.ID], h.byKB[c.KB], h.byKB[""]} {
		for w := range set {
			ws = append(ws, w)
		}
	}
	h.mu.RUnlock()
	if len(ws) == 0 {
		return
	}
	for i := range msgs {
		ev := kefu.LiveEvent{Kind: "message", Conversation: c, Message: &msgs[i]}
		for _, w := range ws {
			w.fn(ev)
		}
	}
	if stateChanged {
		ev := kefu.LiveEvent{Kind: "state", Conversation: c}
		for _, w := range ws {
			w.fn(ev)
		}
	}
}
