package api_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"go.uber.org/goleak"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

// chatMsg is any server message of the chat protocol.
type chatMsg struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Text      string          `json:"text"`
	Citations []kefu.Citation `json:"citations"`
	Answer    *kefu.Answer    `json:"answer"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
}

func dialChat(t *testing.T, base, kb, key string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/kbs/" + kb + "/chat"
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (%d)", u, err, status)
	}
	return c
}

func readMsg(t *testing.T, c *websocket.Conn) chatMsg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m chatMsg
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("message %s: %v", data, err)
	}
	return m
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	if err := c.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

// transcript collects one ask's messages until it ends.
type transcript struct {
	types  []string
	deltas []string
	cites  []kefu.Citation
	end    chatMsg
}

func (tr *transcript) text() string { return strings.Join(tr.deltas, "") }

// readAll reads until every id in ids has ended.
func readAll(t *testing.T, c *websocket.Conn, ids ...string) map[string]*transcript {
	t.Helper()
	out := map[string]*transcript{}
	for _, id := range ids {
		out[id] = &transcript{}
	}
	open := len(ids)
	for open > 0 {
		m := readMsg(t, c)
		tr := out[m.ID]
		if tr == nil {
			t.Fatalf("message for an unknown id: %+v", m)
		}
		tr.types = append(tr.types, m.Type)
		switch m.Type {
		case "delta":
			tr.deltas = append(tr.deltas, m.Text)
		case "citations":
			tr.cites = m.Citations
		case "done", "handoff", "error":
			tr.end = m
			open--
		}
	}
	return out
}

func TestChatProtocol(t *testing.T) {
	s := getStack(t)
	llm := newFakeLLM(t, warrantyTokens, 5*time.Millisecond, false)
	kb := s.llmKB(t, "chat-llm", llm)
	_, base := serve(t, s.config())
	key := s.newKey(t, kefu.ScopeQuery, "")
	scrape := func() string { return bodyOf(call(t, "GET", base+"/metrics", "", nil, nil)) }
	llmOK := map[string]string{"kind": "answer", "outcome": "ok"}
	completion := map[string]string{"kind": "answer", "type": "completion"}
	m0 := scrape()

	// Two asks in flight on one socket: a streamed LLM answer and a hand-off.
	c := dialChat(t, base, kb, key)
	defer c.Close()
	send(t, c, map[string]string{"type": "ask", "id": "w", "question": "How long is the kettle warranty?"})
	send(t, c, map[string]string{"type": "ask", "id": "h", "question": "I want to talk to a human agent"})
	got := readAll(t, c, "w", "h")

	w := got["w"]
	if w.end.Type != "done" || w.end.Answer == nil || w.end.Answer.Route != kefu.RouteGenerated {
		t.Fatalf("warranty ask ended with %+v", w.end)
	}
	if len(w.deltas) < 3 || w.text() != w.end.Answer.Text || w.end.Answer.Text != warrantyText {
		t.Fatalf("warranty deltas %q, answer %q, want %q streamed in pieces", w.deltas, w.end.Answer.Text, warrantyText)
	}
	if n := len(w.types); w.types[n-2] != "citations" || len(w.cites) != 1 || w.cites[0].DocID != "warranty.md" || w.cites[0].N != 1 {
		t.Fatalf("warranty events %v, citations %+v", w.types, w.cites)
	}
	h := got["h"]
	if h.end.Type != "handoff" || h.end.Answer.Route != kefu.RouteHandoff || h.text() != h.end.Answer.Text || h.text() == "" {
		t.Fatalf("hand-off ask: %v %+v", h.types, h.end)
	}

	// Protocol errors answer on the socket and keep it open.
	send(t, c, map[string]string{"type": "shout", "id": "e1"})
	if m := readMsg(t, c); m.Type != "error" || m.ID != "e1" || m.Code != kefu.EINVALID {
		t.Fatalf("unknown type: %+v", m)
	}
	c.WriteMessage(websocket.TextMessage, []byte("{not json"))
	if m := readMsg(t, c); m.Type != "error" || m.Code != kefu.EINVALID {
		t.Fatalf("malformed message: %+v", m)
	}
	send(t, c, map[string]string{"type": "ask", "question": "no id"})
	if m := readMsg(t, c); m.Type != "error" || m.Code != kefu.EINVALID {
		t.Fatalf("ask without id: %+v", m)
	}
	send(t, c, map[string]string{"type": "ask", "id": "empty", "question": "  "})
	if m := readMsg(t, c); m.Type != "error" || m.ID != "empty" || m.Code != kefu.EINVALID {
		t.Fatalf("empty question: %+v", m)
	}
	// Still answering.
	send(t, c, map[string]string{"type": "ask", "id": "again", "question": "How long is the kettle warranty?"})
	if a := readAll(t, c, "again")["again"]; a.end.Type != "done" || a.end.Answer.Text != warrantyText || !a.end.Answer.Cached || a.text() != warrantyText {
		t.Fatalf("second warranty ask (from the answer cache): %+v", a.end)
	}

	// The LLM call (one: the second answer came from the cache) and the
	// answers are in the metrics.
	m1 := scrape()
	if d := metricValue(t, m1, "kefu_llm_request_duration_seconds", llmOK) - metricValue(t, m0, "kefu_llm_request_duration_seconds", llmOK); d != 1 {
		t.Errorf("LLM calls counted: %v, want 1", d)
	}
	if d := metricValue(t, m1, "kefu_llm_tokens_total", completion) - metricValue(t, m0, "kefu_llm_tokens_total", completion); d <= 0 {
		t.Errorf("LLM completion tokens counted: %v", d)
	}
	if d := metricValue(t, m1, "kefu_answers_total", map[string]string{"route": "handoff"}) - metricValue(t, m0, "kefu_answers_total", map[string]string{"route": "handoff"}); d != 1 {
		t.Errorf("hand-offs counted: %v, want 1", d)
	}

	// The socket needs a key (or ?access_token=) of query scope on its KB.
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/kbs/" + kb + "/chat"
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("dial without a key: %v", err)
	}
	other := s.newKey(t, kefu.ScopeQuery, "shop")
	if _, resp, err := websocket.DefaultDialer.Dial(u+"?access_token="+other, nil); err == nil || resp.StatusCode != 403 {
		t.Fatalf("dial with another KB's key: %v", err)
	}
	c2, _, err := websocket.DefaultDialer.Dial(u+"?access_token="+key, nil)
	if err != nil {
		t.Fatalf("dial with ?access_token: %v", err)
	}
	c2.Close()
	// A page of another origin may not open a chat.
	if _, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {"Bearer " + key}, "Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("dial from another origin: %v", err)
	}
}

// TestChatCancelAndGoneAway: cancel stops an answer and its LLM request;
// a client that goes away cancels everything in flight; no goroutine is
// left behind once the server stops.
func TestChatCancelAndGoneAway(t *testing.T) {
	s := getStack(t)
	llm := newFakeLLM(t, warrantyTokens, time.Millisecond, true)
	kb := s.llmKB(t, "chat-cancel", llm)
	key := s.newKey(t, kefu.ScopeQuery, "")
	// The stack, the fake LLM and its idle connections exist before.
	defer noLeaks(t)()
	srv, base := serveManual(t, s.config())

	c := dialChat(t, base, kb, key)
	send(t, c, map[string]string{"type": "ask", "id": "c1", "question": "How long is the kettle warranty?"})
	if m := readMsg(t, c); m.Type != "delta" || m.ID != "c1" || m.Text == "" || !strings.HasPrefix(warrantyText, m.Text) {
		t.Fatalf("first message: %+v", m)
	}
	send(t, c, map[string]string{"type": "cancel", "id": "c1"})
	if m := readMsg(t, c); m.Type != "error" || m.ID != "c1" || m.Code != api.CodeCanceled {
		t.Fatalf("after cancel: %+v", m)
	}
	waitFor(t, "the LLM request to be cancelled", func() bool { _, n := llm.counts(); return n == 1 })

	// Two asks in flight, then the client vanishes without a close frame.
	send(t, c, map[string]string{"type": "ask", "id": "g1", "question": "How long is the kettle warranty?"})
	send(t, c, map[string]string{"type": "ask", "id": "g2", "question": "What does the kettle warranty cover?"})
	llm.waitStarted(t)
	llm.waitStarted(t)
	llm.waitStarted(t)
	c.NetConn().Close()
	waitFor(t, "both LLM requests to be cancelled", func() bool { _, n := llm.counts(); return n == 3 })
	waitFor(t, "the chat to be closed", func() bool { return srv.Chats() == 0 })
	stopServer(t, srv)
}

// noLeaks snapshots the goroutines; the function it returns fails the
// test if any new one is left. fasthttp's idle-worker cleaner notices a
// stopped server only after its 10 s sleep, and its date updater is one
// per process: those are fasthttp's, not leaks of ours.
func noLeaks(t *testing.T) func() {
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1")}
	return func() { goleak.VerifyNone(t, opts...) }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestChatShutdown: Shutdown lets an answer in flight finish, then closes
// the socket with 1001.
func TestChatShutdown(t *testing.T) {
	s := getStack(t)
	llm := newFakeLLM(t, warrantyTokens, 100*time.Millisecond, false)
	kb := s.llmKB(t, "chat-shutdown", llm)
	key := s.newKey(t, kefu.ScopeQuery, "")
	srv, base := serveManual(t, s.config())
	c := dialChat(t, base, kb, key)
	defer c.Close()
	send(t, c, map[string]string{"type": "ask", "id": "s1", "question": "How long is the kettle warranty?"})
	first := readMsg(t, c)
	if first.Type != "delta" {
		t.Fatalf("first message: %+v", first)
	}
	llm.waitStarted(t)
	stopped := make(chan struct{})
	go func() {
		stopServer(t, srv)
		close(stopped)
	}()
	var text strings.Builder
	text.WriteString(first.Text)
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("the socket ended with %v, want a 1001 close", err)
			}
			break
		}
		var m chatMsg
		json.Unmarshal(data, &m)
		switch m.Type {
		case "delta":
			text.WriteString(m.Text)
		case "done":
			if m.Answer.Text != warrantyText || text.String() != warrantyText {
				t.Fatalf("answer during shutdown: %q, deltas %q", m.Answer.Text, text.String())
			}
			text.WriteString("|done")
		}
	}
	if !strings.HasSuffix(text.String(), "|done") {
		t.Fatalf("closed before the answer was done: %q", text.String())
	}
	<-stopped
}

// floodAnswerer answers with endless deltas until its context ends: a
// test double that produces more than any socket buffer holds.
type floodAnswerer struct {
	deltas    atomic.Int64
	cancelled atomic.Bool
}

func (f *floodAnswerer) Ask(ctx context.Context, req kefu.AskRequest, onDelta func(string)) (*kefu.Answer, error) {
	chunk := strings.Repeat("x", 1024)
	for i := 0; i < 1_000_000; i++ {
		if ctx.Err() != nil {
			f.cancelled.Store(true)
			return nil, ctx.Err()
		}
		onDelta(chunk)
		f.deltas.Add(1)
	}
	return &kefu.Answer{Text: "too much"}, nil
}

// TestChatSlowReader: a peer that does not read is disconnected once its
// queue is full, and its answer is cancelled, instead of the server
// buffering without bound.
func TestChatSlowReader(t *testing.T) {
	s := getStack(t)
	flood := &floodAnswerer{}
	cfg := s.config()
	cfg.DevMode, cfg.ChatQueue, cfg.Answerer = true, 8, flood
	srv, base := serve(t, cfg)
	// A small receive buffer, so that the kernel holds less of what is sent.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/kbs/shop/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(t, c, map[string]string{"type": "ask", "id": "slow", "question": "Tell me everything"})
	waitFor(t, "the slow peer to be disconnected", func() bool { return srv.Chats() == 0 })
	waitFor(t, "the answer to be cancelled", flood.cancelled.Load)
	// Whatever the kernel buffered is readable, then the connection ends.
	read := 0
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the connection is still open")
			}
			break
		}
		read++
	}
	if n := flood.deltas.Load(); int64(read) >= n || n >= 1_000_000 {
		t.Fatalf("read %d of %d deltas", read, n)
	}
}
