package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// serveFlags are the flags of the tests' `kefu serve`, with extra: logs at
// info, and deliveries allowed to the receiver on 127.0.0.1 (refused
// without the operator's opt-in).
func serveFlags(extra ...string) []string {
	return append([]string{"--log-level", "info", "--webhook-allow-hosts", "127.0.0.1"}, extra...)
}

// do sends body as JSON to the server, with a request id when reqID is
// set, decodes the answer into out and returns the status.
func do(t *testing.T, k *testenv.Serve, method, path string, body any, reqID string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	st, raw := k.Do(method, path, rd, "Content-Type", "application/json", "X-Request-ID", reqID)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, st, raw)
		}
	}
	return st
}

// No event is lost across a kill -9: events of answers and a hand-off,
// enqueued while the receiver is down, reach it (signatures verified by
// Node's crypto, request ids kept) from the restarted server; a delivery
// whose retry window ran out is dead until it is redelivered by hand.
func TestNoEventLostAcrossKill9(t *testing.T) {
	testenv.RequireORT(t)
	csv := testenv.Shared(t, "data/demo/shop_faq.csv")
	testenv.Model(t, "use-lite-en")
	recv := startReceiver(t)
	data := filepath.Join(t.TempDir(), "data")
	testenv.RunKefu(t, "ingest", "--kb", "shop", "--data-dir", data, csv)

	k := testenv.StartServe(t, testenv.ServeOptions{DataDir: data, Args: serveFlags("--webhook-backoff", "200ms", "--rate", "0")})
	var hook struct {
		Webhook kefu.Subscription `json:"webhook"`
		Secret  string            `json:"secret"`
	}
	if st := do(t, k, "POST", "/v1/webhooks", map[string]any{"url": recv.URL, "events": kefu.EventTypes}, "", &hook); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	recv.control(t, hook.Secret, true)
	var a1, a2, a3 kefu.Answer
	do(t, k, "POST", "/v1/kbs/shop/ask", map[string]string{"question": "How do I request a refund?"}, "e2e-1", &a1)
	conv := a1.ConversationID
	do(t, k, "POST", "/v1/kbs/shop/ask", map[string]string{"question": "What is the airspeed velocity of an unladen swallow?", "conversation_id": conv}, "e2e-2", &a2)
	do(t, k, "POST", "/v1/kbs/shop/ask", map[string]string{"question": "I want to file a complaint", "conversation_id": conv}, "e2e-3", &a3)
	if a1.Route != kefu.RouteFAQ || a2.Route != kefu.RouteUnknown || a3.Route != kefu.RouteHandoff || a3.State != kefu.StateWaiting {
		t.Fatalf("answers %s %s %s (%s)", a1.Route, a2.Route, a3.Route, a3.State)
	}
	// The receiver is down: attempts fail; kefu dies mid-retry.
	waitFor(t, "failed attempts", 30*time.Second, func() bool { return len(recv.requests()) >= 3 })
	k.Kill()

	want := map[string]int{"conversation.message": 7, "answer.unknown": 1, "handoff.requested": 1}
	recv.control(t, hook.Secret, false)
	k.Restart(serveFlags("--webhook-backoff", "200ms", "--rate", "0")...)
	waitFor(t, "every event after the restart", 60*time.Second, func() bool { return len(recv.accepted()) == 9 })
	got := map[string]int{}
	reqIDs := map[string]bool{}
	for _, g := range recv.accepted() {
		got[g.Type]++
		reqIDs[g.RequestID] = true
		if !g.Verified {
			t.Errorf("unverified %+v", g)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if !reqIDs["e2e-1"] || !reqIDs["e2e-2"] || !reqIDs["e2e-3"] || len(reqIDs) != 3 {
		t.Errorf("request ids %v", reqIDs)
	}
	var hand struct {
		Conversation kefu.Conversation
		Trigger      string
	}
	for _, g := range recv.accepted() {
		if g.Type == string(kefu.EventHandoffRequested) {
			json.Unmarshal(g.Data, &hand)
		}
	}
	if hand.Conversation.ID != conv || hand.Conversation.State != kefu.StateWaiting || hand.Trigger == "" {
		t.Errorf("handoff.requested %+v", hand)
	}

	// A kill right after an answer was sent: its events were committed with
	// it and go out after the restart.
	recv.control(t, hook.Secret, true)
	var a4 kefu.Answer
	do(t, k, "POST", "/v1/kbs/shop/ask", map[string]string{"question": "Are you still there?", "conversation_id": conv}, "e2e-4", &a4)
	k.Kill()
	if a4.Route != kefu.RouteAgent || a4.Text != "" {
		t.Fatalf("the bot answered a waiting conversation: %+v", a4)
	}
	recv.control(t, hook.Secret, false)

	// Short retry window: the new deliveries go dead while the receiver is
	// down, and reach it once redelivered.
	k.Restart(serveFlags("--webhook-backoff", "200ms", "--webhook-retry-for", "2s", "--rate", "0")...)
	waitFor(t, "the message sent before the kill", 60*time.Second, func() bool {
		for _, g := range recv.accepted() {
			if g.RequestID == "e2e-4" {
				return true
			}
		}
		return false
	})
	recv.control(t, hook.Secret, true)
	var a5 kefu.Answer
	do(t, k, "POST", "/v1/kbs/shop/ask", map[string]string{"question": "How do I request a refund?"}, "e2e-5", &a5)
	var dead struct{ Deliveries []kefu.Delivery }
	waitFor(t, "dead letters", 60*time.Second, func() bool {
		do(t, k, "GET", "/v1/deliveries?state=dead", nil, "", &dead)
		return len(dead.Deliveries) == 2
	})
	recv.control(t, hook.Secret, false)
	var ids []string
	for _, d := range dead.Deliveries {
		if d.Attempts < 2 || d.LastStatus != 503 {
			t.Errorf("dead letter %+v", d)
		}
		if st := do(t, k, "POST", "/v1/deliveries/"+d.ID+"/redeliver", nil, "", nil); st != 200 {
			t.Fatalf("redeliver: %d", st)
		}
		ids = append(ids, d.EventID)
	}
	sort.Strings(ids)
	waitFor(t, "the redelivered events", 30*time.Second, func() bool {
		acc := recv.accepted()
		for _, id := range ids {
			if _, ok := acc[id]; !ok {
				return false
			}
		}
		return true
	})
	if !strings.Contains(k.Log(), "webhook delivery dead") {
		t.Error("the dead letters were not logged")
	}
}
