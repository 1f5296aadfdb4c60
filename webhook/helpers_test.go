package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu/internal/testenv"
)

// received is one request the Node receiver (tests/clients/receiver.mjs)
// got, as it prints it: it verified the signature with Node's own crypto.
type received struct {
	EventID       string          `json:"event_id"`
	Type          string          `json:"type"`
	HeaderEventID string          `json:"header_event_id"`
	Delivery      string          `json:"delivery"`
	Attempt       int             `json:"attempt"`
	RequestID     string          `json:"request_id"`
	Verified      bool            `json:"verified"`
	Reason        string          `json:"reason"`
	Status        int             `json:"status"`
	Data          json.RawMessage `json:"data"`
}

// nodeReceiver runs the Node receiver until the test ends.
type nodeReceiver struct {
	URL string
	mu  sync.Mutex
	got []received
}

func startReceiver(t *testing.T) *nodeReceiver {
	t.Helper()
	node, err := exec.LookPath("node")
	dir := filepath.Join(testenv.ModuleRoot(), "tests", "clients")
	if err != nil {
		if os.Getenv("KEFU_REQUIRE_SHARED") == "1" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	out := testenv.OutputLines(t, node, filepath.Join(dir, "receiver.mjs"))
	r := &nodeReceiver{}
	var l struct{ Listening int }
	select {
	case first, ok := <-out:
		if !ok {
			t.Fatal("the receiver did not start")
		}
		if err := json.Unmarshal(first, &l); err != nil || l.Listening == 0 {
			t.Fatalf("receiver said %q", first)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver did not start in 30 s")
	}
	r.URL = "http://127.0.0.1:" + strconv.Itoa(l.Listening) + "/hook"
	go func() {
		for line := range out {
			var rec received
			if json.Unmarshal(line, &rec) == nil {
				r.mu.Lock()
				r.got = append(r.got, rec)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// control sets the receiver's secret and whether it is down (503).
func (r *nodeReceiver) control(t *testing.T, secret string, down bool) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"secret": secret, "down": down})
	resp, err := http.Post(r.URL[:len(r.URL)-len("/hook")]+"/control", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func (r *nodeReceiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// accepted returns the requests the receiver verified and answered 200,
// by event id.
func (r *nodeReceiver) accepted() map[string]received {
	out := map[string]received{}
	for _, g := range r.requests() {
		if g.Status == 200 {
			out[g.EventID] = g
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs a dispatcher until the test ends.
func run(t *testing.T, fn func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
