package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/contrib/v3/websocket"
	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// The WebSocket chat protocol (GET /v1/kbs/{kb}/chat), JSON text messages:
//
//	client: {"type":"ask","id":"c1","question":"…","conversation_id":"…"?,"user":"…"?,"metadata":{…}?}
//	        {"type":"cancel","id":"c1"}
//	        {"type":"join","conversation_id":"…","after":12?}   watch a conversation (after a reconnect)
//	server: {"type":"delta","id":"c1","text":"…"}             pieces of the answer text
//	        {"type":"citations","id":"c1","citations":[…]}
//	        {"type":"done","id":"c1","answer":{…}}             the full Answer
//	        {"type":"handoff","id":"c1","answer":{…}}          instead of done for route handoff
//	        {"type":"error","id":"c1","code":"…","message":"…"}
//	        {"type":"message","conversation_id":"…","message":{…}}   an agent's reply (a kefu.Message)
//	        {"type":"state","conversation_id":"…","state":"agent","assignee":"…"}
//
// A socket watches each conversation it asked in (and each it joined, up to
// maxWatchedPerWS): an agent's replies and changes of who has the
// conversation arrive as message and state events. Join first sends the
// agent replies after "after" (a message seq), so a reconnecting client
// misses nothing. Each ask gets a request id of its own: the socket's, a
// dot and the ask's number on the socket.
//
// Several asks may be in flight on one socket (MaxAsksInFlight), each with
// its own id. "cancel" stops that answer and its LLM request, and is
// answered by an error with code "canceled". The server pings every
// Config.PingInterval and closes a peer that has not answered within
// another; a peer that does not read what it is sent is disconnected once
// Config.ChatQueue messages or ChatQueueBytes are waiting for it. On shutdown the
// server lets answers in flight finish, then sends a close frame (1001).

// Limits of one chat socket.
const (
	MaxAsksInFlight  = 4
	DefaultChatQueue = 1024    // messages waiting for a slow peer
	ChatQueueBytes   = 4 << 20 // bytes waiting for a slow peer
	maxChatMessage   = 16 << 10
	maxAskID         = 128
	chatWriteWait    = 10 * time.Second
)

// CodeCanceled is the error code of an ask the client cancelled.
const CodeCanceled = "canceled"

// ChatRequest is a client message of the chat protocol.
type ChatRequest struct {
	Type           string            `json:"type"`
	ID             string            `json:"id"`
	Question       string            `json:"question,omitempty"`
	ConversationID string            `json:"conversation_id,omitempty"`
	User           string            `json:"user,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	After          uint64            `json:"after,omitempty"` // join: replay agent messages after this seq
}

type chatMessage struct {
	Type           string        `json:"type"`
	ConversationID string        `json:"conversation_id"`
	Message        *kefu.Message `json:"message"`
}

type chatState struct {
	Type string `json:"type"`
	StateEvent
}

type chatDelta struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Text string `json:"text"`
}

type chatCitations struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Citations []kefu.Citation `json:"citations"`
}

type chatDone struct {
	Type   string       `json:"type"`
	ID     string       `json:"id"`
	Answer *kefu.Answer `json:"answer"`
}

type chatError struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Locals the upgrader passes on: it copies string-keyed locals only.
const (
	localChatPrincipal = "kefu.principal"
	localChatRequestID = "kefu.request_id"
)

// writeBuffers are shared by all sockets: an idle socket holds none.
var writeBuffers = &sync.Pool{}

func (s *Server) chatHandler() fiber.Handler {
	up := websocket.New(s.serveChat, websocket.Config{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		WriteBufferPool: writeBuffers,
	})
	return func(c fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return kefu.Errorf(kefu.EINVALID, "this route speaks the WebSocket protocol: send an Upgrade request")
		}
		// A public key's origin was checked against its own origins.
		if !principalOf(c).public() && !s.originAllowed(c) {
			s.corsRefused(c.Get(fiber.HeaderOrigin))
			return kefu.Errorf(kefu.EFORBIDDEN, "origin %q may not open a chat: add it to --cors-origins (or to a public key's origins)", c.Get(fiber.HeaderOrigin))
		}
		if s.cfg.Answerer == nil {
			return unavailable("answerer")
		}
		if _, err := s.cfg.Store.KB(c.Context(), c.Params("kb")); err != nil {
			return err
		}
		c.Locals(localChatPrincipal, principalOf(c))
		c.Locals(localChatRequestID, requestID(c))
		return up(c)
	}
}

// originAllowed lets a browser open a chat from the server's own pages,
// the CORS origins and the public keys' origins; clients that send no
// Origin are not browsers.
func (s *Server) originAllowed(c fiber.Ctx) bool {
	o := c.Get(fiber.HeaderOrigin)
	return o == "" || sameOrigin(c) || s.originOK(c.Context(), o)
}

// chat is one WebSocket chat connection.
type chat struct {
	s     *Server
	conn  *websocket.Conn
	p     *principal
	kb    string
	reqID string // the upgrade's request id

	ctx    context.Context // ends with the connection
	cancel context.CancelFunc
	asks   sync.WaitGroup // asks in flight

	mu       sync.Mutex
	inflight map[string]context.CancelFunc
	asked    int               // asks started
	draining bool              // shutting down: no new asks
	closed   bool              // nothing more is sent
	watches  map[string]func() // conversation id → stop watching; nil until the first
	queue    [][]byte
	queued   int // bytes in queue
	writing  bool
	wrote    chan struct{} // closed when the running writer stops

	// connMu guards conn against the pinger and shutdown once the handler
	// has returned (the upgrader then recycles conn).
	connMu sync.Mutex
	gone   bool
}

// withConn runs fn on the connection unless the handler has returned.
func (ch *chat) withConn(fn func(c *websocket.Conn)) {
	ch.connMu.Lock()
	defer ch.connMu.Unlock()
	if !ch.gone {
		fn(ch.conn)
	}
}

func (s *Server) serveChat(conn *websocket.Conn) {
	// Fiber v3's websocket leaves a hijacked connection open when the
	// handler returns: closing it is the handler's, after the clean-up below.
	defer conn.Close()
	p, _ := conn.Locals(localChatPrincipal).(*principal)
	if p == nil {
		return
	}
	reqID, _ := conn.Locals(localChatRequestID).(string)
	ch := &chat{s: s, conn: conn, p: p, kb: conn.Params("kb"), reqID: reqID}
	ch.ctx, ch.cancel = context.WithCancel(s.base)
	if !s.chats.add(ch) {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		ch.cancel()
		return
	}
	start := time.Now()
	defer func() {
		ch.cancel()
		ch.asks.Wait()
		ch.mu.Lock()
		ch.closed = true
		watches := ch.watches
		ch.watches = nil
		ch.mu.Unlock()
		for _, stop := range watches {
			stop()
		}
		ch.waitWriter()
		s.chats.remove(ch)
		ch.connMu.Lock()
		ch.gone = true
		ch.connMu.Unlock()
		s.log.Info("chat closed", "kb", ch.kb, "key_id", p.keyID, "asks", ch.asked, "seconds", time.Since(start).Seconds())
	}()
	conn.SetReadLimit(maxChatMessage)
	wait := 2 * s.cfg.PingInterval
	conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		ch.handle(data)
	}
}

func (ch *chat) fail(id, code, msg string) {
	ch.send(chatError{Type: "error", ID: id, Code: code, Message: msg})
}

func (ch *chat) handle(data []byte) {
	var m ChatRequest
	if err := json.Unmarshal(data, &m); err != nil {
		ch.fail("", kefu.EINVALID, "messages are JSON objects with a \"type\": ask or cancel")
		return
	}
	switch m.Type {
	case "ask":
		ch.ask(m)
	case "cancel":
		ch.mu.Lock()
		cancel := ch.inflight[m.ID]
		ch.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case "join":
		ch.join(m)
	default:
		ch.fail(m.ID, kefu.EINVALID, "unknown message type "+strconvQuote(m.Type)+": use ask, cancel or join")
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (ch *chat) ask(m ChatRequest) {
	if m.ID == "" || len(m.ID) > maxAskID {
		ch.fail(m.ID, kefu.EINVALID, "an ask needs an \"id\" of 1 to 128 bytes")
		return
	}
	if wait, ok := ch.takeToken(m.ConversationID); !ok {
		ch.fail(m.ID, kefu.ERATELIMIT, "too many requests: retry in "+wait.Round(100*time.Millisecond).String())
		return
	}
	if err := ch.s.checkConversation(ch.ctx, ch.p, ch.kb, m.ConversationID); err != nil {
		ch.fail(m.ID, kefu.ErrorCode(err), kefu.ErrorMessage(err))
		return
	}
	ch.mu.Lock()
	switch {
	case ch.draining || ch.closed:
		ch.mu.Unlock()
		ch.fail(m.ID, kefu.EUNAVAILABLE, "the server is shutting down")
		return
	case ch.inflight[m.ID] != nil:
		ch.mu.Unlock()
		ch.fail(m.ID, kefu.EINVALID, "an ask with this id is in flight")
		return
	case len(ch.inflight) >= MaxAsksInFlight:
		ch.mu.Unlock()
		ch.fail(m.ID, kefu.ERATELIMIT, "too many asks in flight on this socket")
		return
	}
	if ch.inflight == nil {
		ch.inflight = map[string]context.CancelFunc{}
	}
	ch.asked++
	ctx, cancel := context.WithCancel(kefu.WithRequestID(ch.ctx, ch.reqID+"."+strconv.Itoa(ch.asked)))
	ch.inflight[m.ID] = cancel
	ch.asks.Add(1)
	ch.mu.Unlock()
	go ch.run(ctx, cancel, m)
}

// run answers one ask, streaming it to the socket.
func (ch *chat) run(ctx context.Context, cancel context.CancelFunc, m ChatRequest) {
	defer func() {
		ch.mu.Lock()
		delete(ch.inflight, m.ID)
		ch.mu.Unlock()
		cancel()
		ch.asks.Done()
	}()
	req := kefu.AskRequest{KB: ch.kb, Question: m.Question, ConversationID: m.ConversationID, Channel: kefu.ChannelWebSocket,
		EndUser: m.User, KeyID: ch.p.keyID, Metadata: m.Metadata}
	ans, err := ch.s.cfg.Answerer.Ask(ctx, req, func(d string) {
		ch.send(chatDelta{Type: "delta", ID: m.ID, Text: d})
	})
	switch {
	case ch.ctx.Err() != nil: // the socket is gone
		return
	case ctx.Err() != nil:
		ch.fail(m.ID, CodeCanceled, "the ask was cancelled")
		return
	case err != nil:
		ch.fail(m.ID, kefu.ErrorCode(err), kefu.ErrorMessage(err))
		return
	}
	ch.send(chatCitations{Type: "citations", ID: m.ID, Citations: ans.Citations})
	typ := "done"
	if ans.Route == kefu.RouteHandoff {
		typ = "handoff"
	}
	ch.watch(ans.ConversationID)
	ch.send(chatDone{Type: typ, ID: m.ID, Answer: ans})
}

// takeToken spends a rate-limit token for an ask: the key's, or for a
// public key its own, its visitor's IP's and its conversation's.
func (ch *chat) takeToken(conversation string) (time.Duration, bool) {
	s := ch.s
	if !ch.p.public() {
		who := ch.p.keyID
		if who == "" {
			who = "ip:" + ch.conn.IP()
		}
		return s.limits.take(who)
	}
	if wait, ok := s.publicLimits.take(ch.p.keyID); !ok {
		return wait, ok
	}
	if wait, ok := s.visitorLimits.take(ch.p.keyID + " ip:" + ch.conn.IP()); !ok {
		return wait, ok
	}
	if conversation != "" {
		return s.visitorLimits.take(ch.p.keyID + " conv:" + conversation)
	}
	return 0, true
}

// watch sends the socket a conversation's agent replies and state changes
// from now on; it reports whether the socket watches it.
func (ch *chat) watch(conv string) bool {
	d := ch.s.cfg.Desk
	if d == nil || conv == "" {
		return false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, ok := ch.watches[conv]; ok {
		return true
	}
	if ch.closed || len(ch.watches) >= maxWatchedPerWS {
		return false
	}
	if ch.watches == nil {
		ch.watches = map[string]func(){}
	}
	ch.watches[conv] = d.Watch(ch.kb, conv, func(ev kefu.LiveEvent) {
		switch {
		case ev.Kind == "state":
			ch.send(chatState{Type: "state", StateEvent: stateOf(ev.Conversation)})
		case forCustomer(ev.Message):
			ch.send(chatMessage{Type: "message", ConversationID: conv, Message: ev.Message})
		}
	})
	return true
}

// join watches a conversation the socket may read, after sending the agent
// replies it missed (after m.After) and who has the conversation now.
func (ch *chat) join(m ChatRequest) {
	d := ch.s.cfg.Desk
	if d == nil {
		ch.fail(m.ID, kefu.EUNAVAILABLE, "this server keeps no conversations")
		return
	}
	conv, err := d.Conversation(ch.ctx, ch.kb, m.ConversationID)
	if err == nil && !canRead(ch.p, conv) {
		err = kefu.Errorf(kefu.ENOTFOUND, "conversation %q not found", m.ConversationID)
	}
	if err != nil {
		ch.fail(m.ID, kefu.ErrorCode(err), kefu.ErrorMessage(err))
		return
	}
	if !ch.watch(conv.ID) {
		ch.fail(m.ID, kefu.ETOOLARGE, fmt.Sprintf("a socket watches at most %d conversations", maxWatchedPerWS))
		return
	}
	msgs, err := d.Messages(ch.ctx, ch.kb, conv.ID, m.After, maxMessagesShown)
	if err != nil {
		ch.fail(m.ID, kefu.ErrorCode(err), kefu.ErrorMessage(err))
		return
	}
	for i := range msgs {
		if forCustomer(&msgs[i]) {
			ch.send(chatMessage{Type: "message", ConversationID: conv.ID, Message: &msgs[i]})
		}
	}
	ch.send(chatState{Type: "state", StateEvent: stateOf(conv)})
}

// send queues a message for the socket's writer, which runs only while
// there is something to write. A peer that lets the queue fill is
// disconnected.
func (ch *chat) send(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		return false
	}
	if len(ch.queue) >= ch.s.cfg.ChatQueue || ch.queued+len(b) > ChatQueueBytes {
		ch.closed = true
		n := len(ch.queue)
		ch.mu.Unlock()
		ch.s.log.Warn("websocket peer does not read: disconnecting", "kb", ch.kb, "key_id", ch.p.keyID, "queued", n)
		ch.abort()
		return false
	}
	ch.queue = append(ch.queue, b)
	ch.queued += len(b)
	if !ch.writing {
		ch.writing = true
		ch.wrote = make(chan struct{})
		go ch.writeLoop(ch.wrote)
	}
	ch.mu.Unlock()
	return true
}

func (ch *chat) writeLoop(done chan struct{}) {
	defer close(done)
	for {
		ch.mu.Lock()
		if ch.closed || len(ch.queue) == 0 {
			ch.writing = false
			ch.queue, ch.queued = nil, 0
			ch.mu.Unlock()
			return
		}
		b := ch.queue[0]
		ch.queue[0] = nil
		ch.queue = ch.queue[1:]
		ch.queued -= len(b)
		ch.mu.Unlock()
		ch.conn.SetWriteDeadline(time.Now().Add(chatWriteWait))
		if err := ch.conn.WriteMessage(websocket.TextMessage, b); err != nil {
			ch.mu.Lock()
			ch.closed = true
			ch.mu.Unlock()
			ch.abort()
		}
	}
}

// waitWriter returns when no writer runs.
func (ch *chat) waitWriter() {
	for {
		ch.mu.Lock()
		if !ch.writing {
			ch.mu.Unlock()
			return
		}
		done := ch.wrote
		ch.mu.Unlock()
		<-done
	}
}

// abort cancels the socket's asks and ends its reads and writes at once;
// the handler then closes the connection. (Close on a connection fasthttp
// hijacked does nothing: fasthttp closes it when the handler returns.)
func (ch *chat) abort() {
	ch.cancel()
	ch.conn.NetConn().SetDeadline(time.Now())
}

// goAway lets the socket's asks finish until ctx ends (then cancels them),
// sends what they produced, and closes the socket with 1001.
func (ch *chat) goAway(ctx context.Context) {
	ch.mu.Lock()
	ch.draining = true
	ch.mu.Unlock()
	done := make(chan struct{})
	go func() {
		ch.asks.Wait()
		ch.waitWriter()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		ch.cancel()
		<-done
	}
	ch.withConn(func(c *websocket.Conn) {
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		c.NetConn().SetReadDeadline(time.Now().Add(2 * time.Second))
	})
}

// chatHub keeps the open chats: it pings them and closes them on shutdown.
type chatHub struct {
	s       *Server
	mu      sync.Mutex
	chats   map[*chat]struct{}
	closing bool
	pinging bool
	wake    chan struct{} // the last chat left, or shutdown
	empty   chan struct{} // closed when closing and no chat is left
}

func newChatHub(s *Server) *chatHub {
	return &chatHub{s: s, chats: map[*chat]struct{}{}, wake: make(chan struct{}, 1), empty: make(chan struct{})}
}

func (h *chatHub) add(ch *chat) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.chats[ch] = struct{}{}
	h.s.metrics.wsConns.Inc()
	if !h.pinging {
		h.pinging = true
		h.s.bg.Add(1)
		go h.pingLoop()
	}
	return true
}

func (h *chatHub) remove(ch *chat) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.chats[ch]; !ok {
		return
	}
	delete(h.chats, ch)
	h.s.metrics.wsConns.Dec()
	if len(h.chats) == 0 {
		select {
		case h.wake <- struct{}{}:
		default:
		}
		if h.closing {
			close(h.empty)
		}
	}
}

// pingLoop pings every chat each PingInterval, 16 at a time so that a
// stuck peer delays no one much; it ends when no chat is left.
func (h *chatHub) pingLoop() {
	defer h.s.bg.Done()
	t := time.NewTicker(h.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.wake:
		}
		h.mu.Lock()
		if len(h.chats) == 0 || h.closing {
			h.pinging = false
			h.mu.Unlock()
			return
		}
		all := make([]*chat, 0, len(h.chats))
		for ch := range h.chats {
			all = append(all, ch)
		}
		h.mu.Unlock()
		work := make(chan *chat)
		var wg sync.WaitGroup
		for range min(16, len(all)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ch := range work {
					ch.withConn(func(c *websocket.Conn) { c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)) })
				}
			}()
		}
		for _, ch := range all {
			work <- ch
		}
		close(work)
		wg.Wait()
	}
}

// shutdown closes every chat (see chat.goAway) and waits until they are
// gone or ctx ends.
func (h *chatHub) shutdown(ctx context.Context) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return
	}
	h.closing = true
	all := make([]*chat, 0, len(h.chats))
	for ch := range h.chats {
		all = append(all, ch)
	}
	if len(h.chats) == 0 {
		close(h.empty)
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	var wg sync.WaitGroup
	for _, ch := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch.goAway(ctx)
		}()
	}
	wg.Wait()
	select {
	case <-h.empty:
	case <-ctx.Done():
	}
}

// Chats returns the number of open WebSocket chats.
func (s *Server) Chats() int {
	s.chats.mu.Lock()
	defer s.chats.mu.Unlock()
	return len(s.chats.chats)
}
