package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/internal/testenv"
)

const widgetOrigin = "https://shop.example"

// lines runs a command and hands its JSON output lines over a channel, so
// a test can act between them.
func lines(t *testing.T, name string, args ...string) <-chan map[string]json.RawMessage {
	t.Helper()
	raw := testenv.OutputLines(t, name, args...)
	ch := make(chan map[string]json.RawMessage, 16)
	go func() {
		defer close(ch)
		for l := range raw {
			var m map[string]json.RawMessage
			if json.Unmarshal(l, &m) == nil {
				ch <- m
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan map[string]json.RawMessage, key string) json.RawMessage {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("the client ended before %q", key)
		}
		v, ok := m[key]
		if !ok {
			t.Fatalf("client said %v, want %q", m, key)
		}
		return v
	case <-time.After(60 * time.Second):
		t.Fatalf("no %q from the client", key)
	}
	return nil
}

// sseReader reads server-sent events from a stream in the background.
type sseReader struct {
	mu     sync.Mutex
	events []sse
	cancel context.CancelFunc
}

type sse struct{ name, id, data string }

func openSSE(t *testing.T, url, key string, h http.Header) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp := getWith(t, ctx, url, key, h)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream %s: %d %s", url, resp.StatusCode, b)
	}
	r := &sseReader{cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var cur sse
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				cur.name = l[7:]
			case strings.HasPrefix(l, "id: "):
				cur.id = l[4:]
			case strings.HasPrefix(l, "data: "):
				cur.data = l[6:]
			case l == "" && cur.data != "":
				r.mu.Lock()
				r.events = append(r.events, cur)
				r.mu.Unlock()
				cur = sse{}
			}
		}
	}()
	return r
}

func (r *sseReader) find(name, contains string) (sse, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.name == name && strings.Contains(e.data, contains) {
			return e, true
		}
	}
	return sse{}, false
}

func (r *sseReader) wait(t *testing.T, name, contains string) sse {
	t.Helper()
	var e sse
	waitFor(t, fmt.Sprintf("event %s with %q", name, contains), func() bool {
		var ok bool
		e, ok = r.find(name, contains)
		return ok
	})
	return e
}

// A visitor on another site asks for a person through the widget's
// WebSocket with a public key (the ws package, as a browser would); an
// agent finds the conversation in the queue, claims it and replies; the
// visitor sees the reply live (and on an EventSource stream), and the bot
// stays quiet. Agents see everything on their inbox stream; the
// transcript, the listing and the export hold it.
func TestHandoffReachesAnAgent(t *testing.T) {
	s := getStack(t)
	node, script := nodeScript(t, "handoff.mjs")
	_, base := serve(t, s.config())
	public := s.newPublicKey(t, "shop", widgetOrigin)
	agent := s.newKey(t, kefu.ScopeAgent, "shop") // its name, the test's, is the agent's
	inbox := openSSE(t, base+"/v1/conversations/events?access_token="+agent, "", nil)
	inbox.wait(t, "ready", "shop")

	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/v1/kbs/shop/chat"
	client := lines(t, node, script, wsURL, public, widgetOrigin)
	var handed kefu.Answer
	json.Unmarshal(next(t, client, "handoff"), &handed)
	id := handed.ConversationID
	if handed.Route != kefu.RouteHandoff || handed.State != kefu.StateWaiting || handed.Handoff == "" || !strings.HasPrefix(id, "c_") {
		t.Fatalf("hand-off %+v", handed)
	}
	inbox.wait(t, "conversation", `"state":"waiting"`)

	var queue api.ConversationList
	if r := call(t, "GET", base+"/v1/conversations?state=waiting", agent, nil, &queue); r.StatusCode != 200 {
		t.Fatalf("queue: %d %s", r.StatusCode, bodyOf(r))
	}
	found := false
	for _, c := range queue.Conversations {
		found = found || c.ID == id && c.Channel == kefu.ChannelWebSocket && c.Trigger == handed.Handoff
	}
	if !found {
		t.Fatalf("the queue lacks %s: %+v", id, queue.Conversations)
	}
	// The visitor's EventSource stream, as the widget opens it (key in
	// ?access_token=, the page's Origin).
	h := http.Header{"Origin": {widgetOrigin}}
	stream := openSSE(t, base+"/v1/kbs/shop/conversations/"+id+"/events?access_token="+public, "", h)
	stream.wait(t, "state", `"state":"waiting"`)

	act := func(action string, body any) api.ActionResult {
		t.Helper()
		var out api.ActionResult
		if r := call(t, "POST", base+"/v1/kbs/shop/conversations/"+id+"/"+action, agent, body, &out); r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", action, r.StatusCode, bodyOf(r))
		}
		return out
	}
	if c := act("claim", nil).Conversation; c.State != kefu.StateAgent || c.Assignee != t.Name() {
		t.Fatalf("claimed %+v", c)
	}
	act("note", map[string]string{"text": "asked twice before"})
	act("reply", map[string]string{"text": "Hi, I'm Alice. How can I help?"})

	var msg struct {
		Message kefu.Message `json:"message"`
		States  []string     `json:"states"`
	}
	raw := next(t, client, "message")
	json.Unmarshal(raw, &msg.Message)
	if msg.Message.Role != kefu.RoleAgent || msg.Message.Text != "Hi, I'm Alice. How can I help?" || msg.Message.Author != t.Name() {
		t.Fatalf("live message %s", raw)
	}
	var quiet kefu.Answer
	json.Unmarshal(next(t, client, "quiet"), &quiet)
	if quiet.Route != kefu.RouteAgent || quiet.Text != "" || quiet.State != kefu.StateAgent {
		t.Fatalf("the bot answered while an agent had the conversation: %+v", quiet)
	}
	if code := next(t, client, "closed"); string(code) != "1000" {
		t.Fatalf("closed %s", code)
	}
	e := stream.wait(t, "message", "I'm Alice")
	if e.id == "" {
		t.Errorf("stream message without an id: %+v", e)
	}
	if _, ok := stream.find("message", "asked twice"); ok {
		t.Error("the visitor's stream carried an internal note")
	}
	inbox.wait(t, "message", "asked twice before")
	inbox.wait(t, "message", "Are you still there?")

	// The transcript: the visitor's own key reads it without notes, another
	// public key does not find it, the agent reads it all.
	var view api.ConversationView
	if r := callHeaders(t, "GET", base+"/v1/kbs/shop/conversations/"+id, public, nil, h, &view); r.StatusCode != 200 {
		t.Fatalf("transcript: %d %s", r.StatusCode, bodyOf(r))
	}
	var got []string
	for _, m := range view.Messages {
		got = append(got, string(m.Role)+":"+m.Event)
	}
	want := "customer: bot: event:handoff event:claimed agent: customer:"
	if strings.Join(got, " ") != want {
		t.Fatalf("visitor's transcript %v, want %s", got, want)
	}
	other := s.newPublicKey(t, "shop", widgetOrigin)
	if r := callHeaders(t, "GET", base+"/v1/kbs/shop/conversations/"+id, other, nil, h, nil); r.StatusCode != 404 {
		t.Fatalf("another public key read the conversation: %d", r.StatusCode)
	}
	call(t, "GET", base+"/v1/kbs/shop/conversations/"+id, agent, nil, &view)
	if len(view.Messages) != 7 {
		t.Fatalf("agent's transcript: %d messages", len(view.Messages))
	}
	// Resolve, and the export holds the conversation as JSONL.
	if c := act("resolve", nil).Conversation; c.State != kefu.StateResolved || c.ResolvedAt == nil {
		t.Fatalf("resolved %+v", c)
	}
	r := call(t, "GET", base+"/v1/conversations/export?state=resolved", agent, nil, nil)
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("export: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	exported := false
	for _, l := range strings.Split(strings.TrimSpace(bodyOf(r)), "\n") {
		var line api.ConversationExport
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		if line.Conversation.State != kefu.StateResolved {
			t.Errorf("export filter: %+v", line.Conversation)
		}
		exported = exported || line.Conversation.ID == id && len(line.Messages) == 8
	}
	if !exported {
		t.Fatalf("the export lacks %s with its 8 messages", id)
	}
}

// channelPost signs body with secret at t and posts it to a channel.
func channelPost(t *testing.T, base, channel, secret string, at time.Time, body []byte) (*http.Response, string) {
	t.Helper()
	h := http.Header{}
	if secret != "" {
		h.Set("Kefu-Signature", signHeader(secret, at, body))
	}
	r := callHeaders(t, "POST", base+"/v1/channels/"+channel+"/messages", "", body, h, nil)
	return r, bodyOf(r)
}

func TestChannelWebhook(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.WebhookHosts = loopbackReceivers // the outbound URL is on 127.0.0.1
	_, base := serve(t, cfg)
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	// A channel of this run: the delivery log outlives a deleted channel.
	ch := fmt.Sprint("wechat-", time.Now().UnixNano()%1e9)
	var created api.ChannelSecret
	if r := call(t, "POST", base+"/v1/channels", admin, map[string]string{"name": ch, "kb": "shop", "outbound_url": "http://127.0.0.1:9/out"}, &created); r.StatusCode != 201 {
		t.Fatalf("create channel: %d %s", r.StatusCode, bodyOf(r))
	}
	t.Cleanup(func() { s.store.DeleteChannel(context.Background(), ch) })
	secret := created.Secret
	if !strings.HasPrefix(secret, "whsec_") || created.Channel.OutboundURL == "" {
		t.Fatalf("created %+v", created)
	}
	var listed struct{ Channels []json.RawMessage }
	call(t, "GET", base+"/v1/channels", admin, nil, &listed)
	if len(listed.Channels) == 0 || strings.Contains(string(listed.Channels[0]), secret) {
		t.Fatalf("the channel list shows the secret or nothing: %s", listed.Channels)
	}
	user := fmt.Sprint("wx_", time.Now().UnixNano())
	msg := func(id, text string) []byte {
		// The channel's message ids are unique to this run: the
		// platform's are unique, and kefu keeps them after a channel
		// of the same name is deleted.
		b, _ := json.Marshal(map[string]any{"end_user_id": user, "message_id": user + "-" + id, "text": text, "metadata": map[string]string{"nickname": "小王"}})
		return b
	}
	now := time.Now()
	r, body := channelPost(t, base, ch, secret, now, msg("m1", "怎么申请退款？"))
	var first api.ChannelResponse
	json.Unmarshal([]byte(body), &first)
	answered := first.Reply != nil && (first.Reply.Route == kefu.RouteFAQ || first.Reply.Route == kefu.RouteDisclaimer)
	if r.StatusCode != 200 || first.Replayed || !answered || first.State != kefu.StateBot || first.ConversationID == "" {
		t.Fatalf("first message: %d %s", r.StatusCode, body)
	}
	conv := first.ConversationID
	count := func() uint64 {
		c, err := s.store.Conversation(context.Background(), "shop", conv)
		if err != nil {
			t.Fatal(err)
		}
		return c.Messages
	}
	before := count()
	// A retry of the same message is answered with the same reply and
	// changes nothing.
	r, body = channelPost(t, base, ch, secret, now, msg("m1", "怎么申请退款？"))
	var replay api.ChannelResponse
	json.Unmarshal([]byte(body), &replay)
	if r.StatusCode != 200 || !replay.Replayed || replay.Reply.ID != first.Reply.ID || replay.Reply.Text != first.Reply.Text {
		t.Fatalf("replay: %d %s", r.StatusCode, body)
	}
	big := msg("m9", strings.Repeat("退", 30000))
	cases := []struct {
		name, channel, secret string
		at                    time.Time
		body                  []byte
		status                int
		says                  string
	}{
		{"same id, other text", ch, secret, now, msg("m1", "别的问题"), 409, "other text"},
		{"unknown channel", "telegram", secret, now, msg("m2", "hi"), 404, "unknown channel"},
		{"no signature", ch, "", now, msg("m2", "hi"), 401, "Kefu-Signature"},
		{"forged", ch, "whsec_forged", now, msg("m2", "hi"), 401, "does not match"},
		{"stale", ch, secret, now.Add(-10 * time.Minute), msg("m2", "hi"), 401, "stale"},
		{"oversized", ch, secret, now, append(big, bytes.Repeat([]byte(" "), 40000)...), 413, "65536"},
		{"text too long", ch, secret, now, msg("m3", strings.Repeat("x", 5000)), 413, "text over"},
		{"malformed", ch, secret, now, []byte(`{"end_user_id": "u", "message_id":`), 400, "JSON"},
		{"unknown field", ch, secret, now, []byte(`{"end_user_id":"u","message_id":"m4","text":"hi","txt":"x"}`), 400, "unknown field"},
		{"missing text", ch, secret, now, []byte(`{"end_user_id":"u","message_id":"m5"}`), 400, "required"},
		{"other channel in body", ch, secret, now, []byte(`{"channel":"mail","end_user_id":"u","message_id":"m6","text":"hi"}`), 400, "in the path"},
	}
	for _, c := range cases {
		r, body := channelPost(t, base, c.channel, c.secret, c.at, c.body)
		var e errorBody
		json.Unmarshal([]byte(body), &e)
		if r.StatusCode != c.status || !strings.Contains(e.Error.Message, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, r.StatusCode, body, c.status, c.says)
		}
	}
	// A body changed after signing is refused too.
	signed := signHeader(secret, now, msg("m7", "hi"))
	if r := callHeaders(t, "POST", base+"/v1/channels/"+ch+"/messages", "", msg("m7", "hello"), http.Header{"Kefu-Signature": {signed}}, nil); r.StatusCode != 401 {
		t.Errorf("altered body: %d", r.StatusCode)
	}
	if got := count(); got != before {
		t.Fatalf("bad messages changed the conversation: %d messages, was %d", got, before)
	}
	if cs, _ := s.store.Conversations(context.Background(), "shop", kefu.ConversationFilter{EndUser: "u"}); len(cs) != 0 {
		t.Fatalf("bad messages started %d conversations", len(cs))
	}
	// The next message continues the end user's conversation and a hand-off
	// is told to the channel too.
	r, body = channelPost(t, base, ch, secret, now, msg("m8", "我要投诉"))
	var hand api.ChannelResponse
	json.Unmarshal([]byte(body), &hand)
	if r.StatusCode != 200 || hand.ConversationID != conv || hand.State != kefu.StateWaiting || hand.Reply.Route != kefu.RouteHandoff {
		t.Fatalf("hand-off on the channel: %d %s", r.StatusCode, body)
	}
	ds, _ := s.store.Deliveries(context.Background(), kefu.DeliveryFilter{Target: kefu.TargetChannel, TargetID: ch})
	if len(ds) != 2 {
		t.Fatalf("%d replies enqueued for the channel, want 2", len(ds))
	}
	// A rotated secret: the old one no longer signs.
	var rotated api.ChannelSecret
	call(t, "POST", base+"/v1/channels/"+ch+"/rotate", admin, nil, &rotated)
	if r, _ := channelPost(t, base, ch, secret, now, msg("m10", "hi")); r.StatusCode != 401 || rotated.Secret == secret {
		t.Fatalf("the old secret after rotation: %d", r.StatusCode)
	}
}

// Agents act only on conversations of their KBs: elsewhere they are
// forbidden (the route's KB) or find nothing (a conversation of another
// KB), and nothing changes.
func TestAgentActionsAcrossKBs(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	_, base := serve(t, s.config())
	kb := s.llmKB(t, "agents", newFakeLLM(t, warrantyTokens, 0, false))
	var other kefu.Answer
	query := s.newKey(t, kefu.ScopeQuery, "")
	call(t, "POST", base+"/v1/kbs/"+kb+"/ask", query, map[string]string{"question": "I want to file a complaint"}, &other)
	if other.State != kefu.StateWaiting {
		t.Fatalf("setup: %+v", other)
	}
	shopAgent := s.newKey(t, kefu.ScopeAgent, "shop")
	anyAgent := s.newKey(t, kefu.ScopeAgent, "")
	post := func(key, kbName, action string, body any) (int, string) {
		r := call(t, "POST", base+"/v1/kbs/"+kbName+"/conversations/"+other.ConversationID+"/"+action, key, body, nil)
		return r.StatusCode, bodyOf(r)
	}
	for _, c := range []struct {
		key, kb, action string
		body            any
		status          int
	}{
		{shopAgent, kb, "claim", nil, 403},    // the key's KB is shop
		{anyAgent, "shop", "claim", nil, 404}, // the conversation is not shop's
		{anyAgent, "shop", "reply", map[string]string{"text": "hi"}, 404},
		{anyAgent, kb, "transfer", nil, 400}, // no such action
		{anyAgent, kb, "reply", nil, 400},    // a reply needs text
		{anyAgent, kb, "note", map[string]string{"text": strings.Repeat("x", 20000)}, 413},
		{query, kb, "claim", nil, 403}, // a query key is no agent
	} {
		if code, body := post(c.key, c.kb, c.action, c.body); code != c.status {
			t.Errorf("%s on %s: %d %s, want %d", c.action, c.kb, code, body, c.status)
		}
	}
	conv, err := s.store.Conversation(ctx, kb, other.ConversationID)
	if err != nil || conv.State != kefu.StateWaiting || conv.Assignee != "" || conv.Messages != 3 {
		t.Fatalf("refused actions changed the conversation: %+v %v", conv, err)
	}
	if code, body := post(anyAgent, kb, "claim", map[string]string{"agent": "Bob"}); code != 200 {
		t.Fatalf("claim: %d %s", code, body)
	}
	if code, _ := post(anyAgent, kb, "claim", map[string]string{"agent": "Carol"}); code != 409 {
		t.Fatalf("a claimed conversation claimed again: %d", code)
	}
	if code, _ := post(anyAgent, kb, "claim", map[string]any{"agent": "Carol", "force": true}); code != 200 {
		t.Fatalf("a forced claim: %d", code)
	}
}

// A public key asks and chats on its KB from its origins and does nothing
// else; its visitors have rate limits of their own, so that many visitors
// are served where one shared key's limit refused most of them.
func TestPublicKeys(t *testing.T) {
	s := getStack(t)
	var logs strings.Builder
	var logMu sync.Mutex
	cfg := s.config()
	cfg.Logger = slogTo(&logs, &logMu)
	cfg.Rate, cfg.Burst = 20, 40 // kefu serve's defaults
	_, base := serve(t, cfg)
	// Made through the API, as a running server's keys are: the server
	// reads the new origin at once.
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	var made api.NewKeyResponse
	if r := call(t, "POST", base+"/v1/keys", admin, map[string]any{"scope": "public", "kb": "shop", "origins": []string{widgetOrigin}}, &made); r.StatusCode != 201 {
		t.Fatalf("public key: %d %s", r.StatusCode, bodyOf(r))
	}
	t.Cleanup(func() { s.store.DeleteKey(context.Background(), made.ID) })
	public := made.Secret
	for _, bad := range []map[string]any{{"scope": "public", "kb": "shop"}, {"scope": "public", "origins": []string{widgetOrigin}},
		{"scope": "public", "kb": "shop", "origins": []string{"https://shop.example/widget"}}, {"scope": "query", "origins": []string{widgetOrigin}}} {
		if r := call(t, "POST", base+"/v1/keys", admin, bad, nil); r.StatusCode != 400 {
			t.Errorf("key %v: %d %s", bad, r.StatusCode, bodyOf(r))
		}
	}
	h := http.Header{"Origin": {widgetOrigin}}
	ask := map[string]string{"question": refundQ}
	var ans kefu.Answer
	if r := callHeaders(t, "POST", base+"/v1/kbs/shop/ask", public, ask, h, &ans); r.StatusCode != 200 || ans.Route != kefu.RouteFAQ || ans.ConversationID == "" {
		t.Fatalf("ask from the widget's origin: %d %s", r.StatusCode, bodyOf(r))
	}
	if r := callHeaders(t, "POST", base+"/v1/kbs/shop/ask", public, map[string]string{"question": refundQ, "conversation_id": ans.ConversationID}, h, nil); r.StatusCode != 200 {
		t.Fatalf("continuing its conversation: %d %s", r.StatusCode, bodyOf(r))
	}
	refusals := []struct {
		name, method, path string
		body               any
		h                  http.Header
		status             int
	}{
		{"no origin", "POST", "/v1/kbs/shop/ask", ask, nil, 403},
		{"another origin", "POST", "/v1/kbs/shop/ask", ask, http.Header{"Origin": {"https://evil.example"}}, 403},
		{"search", "POST", "/v1/kbs/shop/search", map[string]string{"query": "refund"}, h, 403},
		{"settings", "GET", "/v1/kbs/shop", nil, h, 403},
		{"completions", "POST", "/v1/chat/completions", map[string]any{"model": "shop", "messages": []map[string]string{{"role": "user", "content": "hi"}}}, h, 403},
		{"embeddings", "POST", "/v1/embeddings", map[string]string{"model": "x", "input": "hi"}, h, 403},
		{"a conversation it did not start", "POST", "/v1/kbs/shop/ask", map[string]string{"question": refundQ, "conversation_id": "c-1"}, h, 404},
		{"a conversation id it made up", "POST", "/v1/kbs/shop/ask", map[string]string{"question": refundQ, "conversation_id": "mine-123"}, h, 404},
		{"the queue", "GET", "/v1/conversations", nil, h, 403},
	}
	for _, c := range refusals {
		if r := callHeaders(t, c.method, base+c.path, public, c.body, c.h, nil); r.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.StatusCode, bodyOf(r), c.status)
		}
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "https://evil.example") {
		t.Errorf("the refused origin was not logged:\n%s", logs.String())
	}
	logMu.Unlock()

	// CORS: the widget's origin is allowed without --cors-origins; another
	// is not, and is logged with the flag that would allow it.
	pre := func(origin string) string {
		req, _ := http.NewRequest("OPTIONS", base+"/v1/kbs/shop/ask", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	if got := pre(widgetOrigin); got != widgetOrigin {
		t.Errorf("preflight from the public key's origin: allow %q", got)
	}
	if got := pre("https://other.example"); got != "" {
		t.Errorf("preflight from another origin: allow %q", got)
	}
	logMu.Lock()
	if l := logs.String(); !strings.Contains(l, "CORS") || !strings.Contains(l, "--cors-origins https://other.example") {
		t.Errorf("the CORS refusal was not logged with its flag:\n%s", l)
	}
	logMu.Unlock()

	// 16 visitors (16 loopback addresses) asking 9 times each: a public
	// key serves them all; one query key shared by them refuses most.
	burst := func(key string) (ok, limited int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for v := range 16 {
			client := clientFrom(fmt.Sprintf("127.0.0.%d", 10+v))
			wg.Go(func() {
				for range 9 {
					b, _ := json.Marshal(map[string]string{"question": refundQ})
					req, _ := http.NewRequest("POST", base+"/v1/kbs/shop/ask", bytes.NewReader(b))
					req.Header.Set("Authorization", "Bearer "+key)
					req.Header.Set("Origin", widgetOrigin)
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					if resp.StatusCode == 429 {
						limited++
					} else if resp.StatusCode == 200 {
						ok++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return ok, limited
	}
	if ok, limited := burst(public); limited != 0 || ok != 144 {
		t.Errorf("a public key's 16 visitors: %d answered, %d limited", ok, limited)
	}
	shared := s.newKey(t, kefu.ScopeQuery, "shop")
	if _, limited := burst(shared); limited < 50 {
		t.Errorf("one shared query key limited only %d of 144 (the baseline the public key is measured against)", limited)
	}
	// One visitor alone runs out of its own bucket.
	client := clientFrom("127.0.0.99")
	limited := 0
	for range 30 {
		b, _ := json.Marshal(map[string]string{"question": refundQ})
		req, _ := http.NewRequest("POST", base+"/v1/kbs/shop/ask", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+public)
		req.Header.Set("Origin", widgetOrigin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "" {
			limited++
		}
	}
	if limited == 0 {
		t.Error("one visitor asked 30 times at once and was never limited")
	}
}

// Request ids reach the answer log, the stored turn, the LLM call (a
// header) and the webhook event.
func TestRequestIDsEndToEnd(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	llm := newFakeLLM(t, warrantyTokens, 0, false)
	kb := s.llmKB(t, "reqids", llm)
	sub := fmt.Sprint("wh_reqids_", time.Now().UnixNano()) // its delivery log outlives it
	if err := s.store.PutSubscription(ctx, &kefu.Subscription{ID: sub, URL: "http://127.0.0.1:9/", KB: kb, Events: kefu.EventTypes, Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteSubscription(ctx, sub) })
	_, base := serve(t, s.config())
	key := s.newKey(t, kefu.ScopeQuery, "")
	var ans kefu.Answer
	r := callHeaders(t, "POST", base+"/v1/kbs/"+kb+"/ask", key, map[string]string{"question": "How long is the kettle warranty?"}, http.Header{"X-Request-ID": {"req-e2e-1"}}, &ans)
	if r.StatusCode != 200 || r.Header.Get("X-Request-ID") != "req-e2e-1" || ans.Route != kefu.RouteGenerated {
		t.Fatalf("ask: %d %+v", r.StatusCode, ans)
	}
	llm.mu.Lock()
	ids := append([]string(nil), llm.requestIDs...)
	llm.mu.Unlock()
	if len(ids) != 1 || ids[0] != "req-e2e-1" {
		t.Errorf("the LLM saw request ids %q", ids)
	}
	if rec, err := s.store.AnswerRecord(ctx, kb, ans.ID); err != nil || rec.RequestID != "req-e2e-1" {
		t.Errorf("answer log: %+v %v", rec, err)
	}
	msgs, _ := s.store.Messages(ctx, kb, ans.ConversationID, 0, 0)
	if len(msgs) != 2 || msgs[0].RequestID != "req-e2e-1" || msgs[1].RequestID != "req-e2e-1" {
		t.Errorf("stored turn %+v", msgs)
	}
	ds, _ := s.store.Deliveries(ctx, kefu.DeliveryFilter{Target: kefu.TargetSubscription, TargetID: sub})
	if len(ds) != 2 {
		t.Fatalf("%d deliveries", len(ds))
	}
	for _, d := range ds {
		if ev, err := s.store.Event(ctx, d.EventID); err != nil || ev.RequestID != "req-e2e-1" {
			t.Errorf("event %+v %v", ev, err)
		}
	}
}

// Feedback is listed with its question and answer; unanswered questions
// are grouped, and a group becomes an FAQ entry that answers at once, or a
// phrasing of an existing entry; reviewed questions leave the open list.
func TestFeedbackAndUnansweredActions(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	_, base := serve(t, s.config())
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	kb := fmt.Sprint("faqs-", time.Now().UnixNano()%1e6)
	if err := s.store.CreateKB(ctx, &kefu.KB{Name: kb, Model: s.emb.ModelID(), Dim: s.emb.Model().Dim, Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteKB(ctx, kb) })
	sheet := "question,answer\nHow do I reset my password?,Open Settings and choose Reset password.\nWhere is my invoice?,Invoices are under Billing.\n"
	waitJob(t, base, admin, uploadText(t, base, admin, kb, "help.csv", sheet).ID)
	askq := func(q string) kefu.Answer {
		var a kefu.Answer
		if r := call(t, "POST", base+"/v1/kbs/"+kb+"/ask", admin, map[string]string{"question": q}, &a); r.StatusCode != 200 {
			t.Fatalf("ask %q: %d %s", q, r.StatusCode, bodyOf(r))
		}
		return a
	}
	odd := []string{"Do you ship to Mars?", "do you ship to mars", "Can you ship to Mars?", "What is the boiling point of tea?"}
	var ids []string
	for _, q := range odd {
		a := askq(q)
		if a.Route != kefu.RouteUnknown && a.Route != kefu.RouteDisclaimer {
			t.Fatalf("%q answered %s", q, a.Route)
		}
		ids = append(ids, a.ID)
	}
	var groups struct{ Groups []api.UnansweredGroup }
	call(t, "GET", base+"/v1/kbs/"+kb+"/unanswered?group=true", admin, nil, &groups)
	if r := call(t, "GET", base+"/v1/kbs/"+kb+"/unanswered?group=yes", admin, nil, nil); r.StatusCode != 400 || !strings.Contains(bodyOf(r), "group must be true or false") {
		t.Errorf("group=yes: %d %s", r.StatusCode, bodyOf(r))
	}
	if len(groups.Groups) != 2 || groups.Groups[0].Count != 1 || groups.Groups[1].Count != 3 || groups.Groups[1].Question != "Can you ship to Mars?" {
		t.Fatalf("groups %+v", groups.Groups)
	}
	mars := groups.Groups[1].AnswerIDs
	var res api.UnansweredResult
	if r := call(t, "POST", base+"/v1/kbs/"+kb+"/unanswered/actions", admin, map[string]any{
		"action": "add_faq", "answer_ids": mars, "question": "Do you ship to Mars?", "answer": "No, we ship on Earth only.",
	}, &res); r.StatusCode != 200 || res.Reviewed != 3 || res.Job == nil || res.Job.Done != 1 {
		t.Fatalf("add_faq: %d %s", r.StatusCode, bodyOf(r))
	}
	if a := askq("Do you ship to Mars?"); a.Route != kefu.RouteFAQ || a.Text != "No, we ship on Earth only." {
		t.Fatalf("the new entry did not answer: %+v", a)
	}
	call(t, "GET", base+"/v1/kbs/"+kb+"/unanswered?group=true", admin, nil, &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].AnswerIDs[0] != ids[3] {
		t.Fatalf("open groups after the addition: %+v", groups.Groups)
	}
	// A phrasing of an existing entry of the team's sheet.
	chunks, _ := s.store.Chunks(ctx, kb, "help.csv")
	var reset string
	for _, c := range chunks {
		if c.Questions[0] == "How do I reset my password?" {
			reset = c.ID
		}
	}
	login := askq("I forgot my login secret")
	if r := call(t, "POST", base+"/v1/kbs/"+kb+"/unanswered/actions", admin, map[string]any{
		"action": "add_phrasing", "answer_ids": []string{login.ID}, "doc_id": "help.csv", "chunk_id": reset,
	}, &res); r.StatusCode != 200 {
		t.Fatalf("add_phrasing: %d %s", r.StatusCode, bodyOf(r))
	}
	if a := askq("I forgot my login secret"); a.Route != kefu.RouteFAQ || a.Text != "Open Settings and choose Reset password." {
		t.Fatalf("the phrasing did not answer: %+v", a)
	}
	// The sheet was ingested again: the entry is a new chunk, which has
	// the phrasing already.
	chunks, _ = s.store.Chunks(ctx, kb, "help.csv")
	for _, c := range chunks {
		if c.Questions[0] == "How do I reset my password?" {
			reset = c.ID
			if !slices.Contains(c.Questions, "I forgot my login secret") {
				t.Fatalf("the entry's phrasings %q", c.Questions)
			}
		}
	}
	if r := call(t, "POST", base+"/v1/kbs/"+kb+"/unanswered/actions", admin, map[string]any{
		"action": "add_phrasing", "answer_ids": []string{login.ID}, "doc_id": "help.csv", "chunk_id": reset,
	}, nil); r.StatusCode != 409 {
		t.Fatalf("the same phrasing twice: %d %s", r.StatusCode, bodyOf(r))
	}
	if r := call(t, "POST", base+"/v1/kbs/"+kb+"/unanswered/actions", admin, map[string]any{"action": "dismiss", "answer_ids": []string{ids[3]}}, nil); r.StatusCode != 200 {
		t.Fatalf("dismiss: %d", r.StatusCode)
	}
	var open struct{ Questions []kefu.AnswerRecord }
	call(t, "GET", base+"/v1/kbs/"+kb+"/unanswered", admin, nil, &open)
	if len(open.Questions) != 0 {
		t.Fatalf("open questions left: %+v", open.Questions)
	}
	var dismissed struct{ Questions []kefu.AnswerRecord }
	call(t, "GET", base+"/v1/kbs/"+kb+"/unanswered?state=dismissed", admin, nil, &dismissed)
	if len(dismissed.Questions) != 1 || dismissed.Questions[0].Review.By != t.Name() {
		t.Fatalf("dismissed %+v", dismissed.Questions)
	}
	// Feedback, listed and exported with what it judges.
	good := askq("Where is my invoice?")
	call(t, "POST", base+"/v1/kbs/"+kb+"/answers/"+good.ID+"/feedback", admin, map[string]any{"vote": -1, "comment": "not there"}, nil)
	r := call(t, "GET", base+"/v1/kbs/"+kb+"/feedback?vote=-1&format=jsonl", admin, nil, nil)
	var fb kefu.FeedbackRecord
	if err := json.Unmarshal([]byte(strings.TrimSpace(bodyOf(r))), &fb); err != nil || fb.Question != "Where is my invoice?" || fb.Answer != good.Text || fb.Comment != "not there" || fb.ConversationID != good.ConversationID {
		t.Fatalf("feedback export %s: %v", bodyOf(r), err)
	}
}

// signHeader signs body as a channel would, written here with the standard
// library rather than the server's signature package: HMAC-SHA256 over
// "t.body".
func signHeader(secret string, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// slogTo is a logger writing text lines to b under mu.
func slogTo(b *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{b, mu}, nil))
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// clientFrom is an HTTP client whose connections come from a loopback
// address of its own: one visitor's IP.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}
