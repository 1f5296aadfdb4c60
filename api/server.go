// Package api serves kefu over HTTP with Fiber: the REST API, server-sent
// events, the WebSocket chat, the OpenAI-compatible endpoints, metrics and
// the web console. Errors are JSON with a stable code that maps to the HTTP
// status; every route is listed once, with the key scope it needs, in
// Server.table.
//
// It imports the root and internal/text, never another stage: every stage
// comes in through Config as a root interface, wired by cmd/kefu.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/static"

	"github.com/kefu-dev/kefu"
)

// Defaults of Config.
const (
	DefaultBodyLimit   = 1 << 20  // JSON request bodies
	DefaultUploadLimit = 64 << 20 // one multipart upload, all files together
	DefaultImportLimit = 64 << 20 // one KB archive imported through the API
)

// Config wires the server to the stages. Store and Retriever are required;
// a nil optional stage makes its routes answer 503.
type Config struct {
	Store     kefu.Store
	Retriever kefu.Retriever
	Answerer  kefu.Answerer    // ask, chat, chat completions
	Ingester  kefu.Ingester    // uploads, jobs and re-index
	Embedder  kefu.Embedder    // new KBs' model, /v1/embeddings
	Keys      kefu.KeyStore    // API keys; nil means no key exists
	AnswerLog kefu.AnswerLog   // feedback and unanswered questions
	Reports   kefu.ReportStore // each KB's latest evaluation report
	// Desk runs conversations: the conversation, agent and live-event
	// routes, and the channel webhook; nil makes them answer 503. When
	// set, it is also the Answerer.
	Desk     kefu.Desk
	Webhooks kefu.WebhookStore // subscriptions, deliveries
	Channels kefu.ChannelStore // channels of the channel webhook
	// Notify is called after the API enqueued webhook deliveries (a ping,
	// a redelivery), so the dispatcher sends them at once.
	Notify func()
	// FAQ adds unanswered questions to the KB's FAQ; nil makes those
	// actions answer 503.
	FAQ      kefu.FAQEditor
	Archiver kefu.Archiver // KB export and import
	// Evaluator runs evaluations through the API; it needs Reports.
	Evaluator kefu.EvalRunner
	Logger    *slog.Logger
	// Metrics collects the server's metrics; nil makes a new set.
	Metrics *Metrics
	// Web is the console's files, served at "/"; nil serves none.
	Web fs.FS

	// DevMode opens every route without a key. The caller decides it, and
	// must only when no key exists and the server listens on loopback
	// (see Loopback).
	DevMode bool
	// Starting makes /readyz and the /v1 routes answer 503 until
	// SetReady(true): the server can listen while KBs load.
	Starting bool

	BodyLimit   int // JSON request bodies in bytes; default DefaultBodyLimit
	UploadLimit int // one multipart upload in bytes; default DefaultUploadLimit
	ImportLimit int // one KB archive in bytes; default DefaultImportLimit
	// Rate and Burst are each key's token bucket (in dev mode each client
	// IP's): requests per second and the burst allowed. Rate 0 is no limit.
	Rate  float64
	Burst int
	// PublicRate and PublicBurst are each public key's bucket, which all
	// its visitors share; VisitorRate and VisitorBurst each visitor's (per
	// IP, and per conversation for asks), on top. Defaults 100/200 and 1/20;
	// with Rate 0, none applies.
	PublicRate   float64
	PublicBurst  int
	VisitorRate  float64
	VisitorBurst int
	// CORSOrigins are the origins allowed to call the API from a browser
	// (chat widgets); none by default, "*" for any.
	CORSOrigins []string
	// LLMHosts are where a KB's settings.llm.base_url may point; nil allows
	// public hosts only (kefu.LLMHosts).
	LLMHosts *kefu.LLMHosts
	// WebhookHosts are where webhook URLs and channels' outbound URLs may
	// point; nil allows public addresses only (kefu.WebhookHosts).
	WebhookHosts *kefu.WebhookHosts

	// PingInterval is how often WebSocket peers are pinged; a peer that
	// does not answer within another PingInterval is closed. Default 30 s.
	PingInterval time.Duration
	// ChatQueue is how many messages may wait for a WebSocket peer that
	// does not read before it is disconnected. Default DefaultChatQueue.
	ChatQueue int
	// StreamHeartbeat is how often an idle event stream gets a comment
	// line, which also tells when its client has gone. Default 10 s.
	StreamHeartbeat time.Duration
	// AskTimeout bounds a JSON answer (/ask, chat completions without
	// stream) from the question to the answer (--ask-timeout); 0 is
	// DefaultAskTimeout.
	AskTimeout time.Duration
	// ShutdownGrace is how long Shutdown lets answers in flight finish
	// when its context has no deadline. Default 10 s.
	ShutdownGrace time.Duration
}

// Server is kefu's HTTP server.
type Server struct {
	cfg     Config
	app     *fiber.App
	log     *slog.Logger
	metrics *Metrics
	limits  *limiters
	// publicLimits are public keys' buckets, visitorLimits their visitors'.
	publicLimits, visitorLimits *limiters
	origins                     *origins
	ready                       atomic.Bool
	dev                         atomic.Bool     // development mode: no key exists yet
	routes                      map[string]bool // "METHOD pattern" of the table, for metric labels

	base   context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc
	chats  *chatHub
	evals  evalJobs
	// stopping is closed when Shutdown starts: live-event streams, which
	// never end by themselves, end then.
	stopping chan struct{}
	stopOnce sync.Once
	bg       sync.WaitGroup // goroutines outside requests: streams, job watchers
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.UploadLimit <= 0 {
		cfg.UploadLimit = DefaultUploadLimit
	}
	if cfg.ImportLimit <= 0 {
		cfg.ImportLimit = DefaultImportLimit
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.ChatQueue <= 0 {
		cfg.ChatQueue = DefaultChatQueue
	}
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = 10 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if h, ok := cfg.Store.(kefu.HealthChecker); ok {
		cfg.Metrics.StoreHealth(h)
	}
	if cfg.Desk != nil && cfg.Answerer == nil {
		cfg.Answerer = cfg.Desk
	}
	if cfg.Rate > 0 {
		if cfg.PublicRate <= 0 {
			cfg.PublicRate, cfg.PublicBurst = 100, max(cfg.PublicBurst, 200)
		}
		if cfg.VisitorRate <= 0 {
			cfg.VisitorRate, cfg.VisitorBurst = 1, max(cfg.VisitorBurst, 20)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, limits: newLimiters(cfg.Rate, cfg.Burst), routes: map[string]bool{},
		publicLimits: newLimiters(cfg.PublicRate, cfg.PublicBurst), visitorLimits: newLimiters(cfg.VisitorRate, cfg.VisitorBurst),
		origins: newOrigins(cfg.CORSOrigins)}
	s.reloadOrigins(context.Background())
	s.base, s.cancel = context.WithCancel(context.Background())
	s.chats = newChatHub(s)
	s.evals.turn = make(chan struct{}, 1)
	s.stopping = make(chan struct{})
	s.ready.Store(!cfg.Starting)
	s.dev.Store(cfg.DevMode)
	s.app = fiber.New(fiber.Config{
		AppName: "kefu",
		// Values from the request (params, headers) outlive handlers here:
		// in ingest jobs, streams and metric labels. Immutable copies them.
		Immutable:   true,
		JSONEncoder: marshalJSON,
		// Handlers run once the headers are in; Server.body reads the body
		// through the route's limit (body.go). fasthttp applies no limit to
		// a streamed body, so Fiber's BodyLimit is not set.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 s.errorHandler,
		ReadBufferSize:               readBufferSize,
		ReadTimeout:                  60 * time.Second,
		IdleTimeout:                  120 * time.Second,
	})
	s.app.Server().HeaderReceived = headerReceived
	s.app.Use(s.drainBody)
	s.app.Use(s.requestID)
	s.app.Use(s.observe)
	s.app.Use(recover.New()) // inside observe: a panic is counted and logged as a 500
	s.app.Use(s.cors())
	for _, r := range s.table() {
		handlers := []any{}
		if r.scope != "" {
			handlers = append(handlers, s.authorize(r))
		}
		handlers = append(handlers, r.handler)
		s.app.Add([]string{r.method}, r.path, s.guard(r), handlers...)
		s.routes[r.method+" "+r.path] = true
	}
	if cfg.Web != nil {
		s.app.Use("/", static.New("", static.Config{FS: cfg.Web, IndexNames: []string{"index.html"}}))
	}
	return s
}

// readBufferSize is fasthttp's read buffer of a connection, which bounds a
// request's headers (larger ones get a 431) and stays with a connection a
// WebSocket takes over, for the chat's whole life: Fiber v3's default of
// 8 KB made an idle chat cost 21 KB instead of 17 (kefu-bench ws). 4 KB is
// Fiber v2's default.
const readBufferSize = 4096

// route is one entry of the route table: the scope a key needs ("" for a
// public route) and whether the WebSocket's ?access_token= is accepted.
type route struct {
	method, path string
	scope        kefu.Scope
	handler      fiber.Handler
	tokenInQuery bool
}

// table lists every route of the API in one place, with the scope it needs.
// Routes with a :kb parameter also check the key's KB restriction.
func (s *Server) table() []route {
	const (
		get, post, patch, del = fiber.MethodGet, fiber.MethodPost, fiber.MethodPatch, fiber.MethodDelete
		pub, q, in, ag, adm   = kefu.ScopePublic, kefu.ScopeQuery, kefu.ScopeIngest, kefu.ScopeAgent, kefu.ScopeAdmin
	)
	return []route{
		{method: get, path: "/healthz", handler: s.healthz},
		{method: get, path: "/readyz", handler: s.readyz},
		{method: get, path: "/metrics", handler: s.metrics.handler()},
		{method: get, path: "/v1/auth", handler: s.authInfo},

		{method: get, path: "/v1/kbs", scope: q, handler: s.listKBs},
		{method: post, path: "/v1/kbs", scope: adm, handler: s.createKB},
		{method: get, path: "/v1/kbs/:kb", scope: q, handler: s.getKB},
		{method: patch, path: "/v1/kbs/:kb", scope: adm, handler: s.updateKB},
		{method: del, path: "/v1/kbs/:kb", scope: adm, handler: s.deleteKB},
		{method: get, path: "/v1/kbs/:kb/export", scope: adm, handler: s.exportKB},
		{method: post, path: "/v1/kbs/import", scope: adm, handler: s.importKB},

		{method: post, path: "/v1/kbs/:kb/documents", scope: in, handler: s.upload},
		{method: get, path: "/v1/jobs/:id", scope: in, handler: s.getJob},
		{method: get, path: "/v1/kbs/:kb/documents", scope: in, handler: s.listDocuments},
		{method: get, path: "/v1/kbs/:kb/documents/:id", scope: in, handler: s.getDocument},
		{method: del, path: "/v1/kbs/:kb/documents/:id", scope: in, handler: s.deleteDocument},
		{method: post, path: "/v1/kbs/:kb/documents/:id/reindex", scope: in, handler: s.reindex},

		{method: post, path: "/v1/kbs/:kb/search", scope: q, handler: s.search},
		{method: post, path: "/v1/kbs/:kb/ask", scope: pub, handler: s.ask},
		{method: post, path: "/v1/kbs/:kb/answers/:id/feedback", scope: pub, handler: s.feedback},
		{method: get, path: "/v1/kbs/:kb/feedback", scope: in, handler: s.listFeedback},
		{method: get, path: "/v1/kbs/:kb/unanswered", scope: in, handler: s.unanswered},
		{method: post, path: "/v1/kbs/:kb/unanswered/actions", scope: in, handler: s.unansweredAction},
		{method: get, path: "/v1/kbs/:kb/eval", scope: in, handler: s.evalSummary},
		{method: get, path: "/v1/kbs/:kb/eval/report.html", scope: in, handler: s.evalReport},
		{method: post, path: "/v1/kbs/:kb/eval", scope: in, handler: s.startEval},
		{method: get, path: "/v1/kbs/:kb/eval/jobs/:id", scope: in, handler: s.getEvalJob},
		{method: get, path: "/v1/kbs/:kb/chat", scope: pub, handler: s.chatHandler(), tokenInQuery: true},

		{method: get, path: "/v1/conversations", scope: ag, handler: s.listConversations},
		{method: get, path: "/v1/conversations/export", scope: ag, handler: s.exportConversations},
		{method: get, path: "/v1/conversations/events", scope: ag, handler: s.inboxEvents, tokenInQuery: true},
		{method: get, path: "/v1/kbs/:kb/conversations/:id", scope: pub, handler: s.getConversation},
		{method: get, path: "/v1/kbs/:kb/conversations/:id/events", scope: pub, handler: s.conversationEvents, tokenInQuery: true},
		{method: post, path: "/v1/kbs/:kb/conversations/:id/:action", scope: ag, handler: s.act},

		{method: post, path: "/v1/channels/:channel/messages", handler: s.channelMessage},
		{method: get, path: "/v1/channels", scope: adm, handler: s.listChannels},
		{method: post, path: "/v1/channels", scope: adm, handler: s.createChannel},
		{method: get, path: "/v1/channels/:channel", scope: adm, handler: s.getChannel},
		{method: patch, path: "/v1/channels/:channel", scope: adm, handler: s.updateChannel},
		{method: del, path: "/v1/channels/:channel", scope: adm, handler: s.deleteChannel},
		{method: post, path: "/v1/channels/:channel/rotate", scope: adm, handler: s.rotateChannel},

		{method: get, path: "/v1/webhooks", scope: adm, handler: s.listWebhooks},
		{method: post, path: "/v1/webhooks", scope: adm, handler: s.createWebhook},
		{method: get, path: "/v1/webhooks/:id", scope: adm, handler: s.getWebhook},
		{method: patch, path: "/v1/webhooks/:id", scope: adm, handler: s.updateWebhook},
		{method: del, path: "/v1/webhooks/:id", scope: adm, handler: s.deleteWebhook},
		{method: post, path: "/v1/webhooks/:id/rotate", scope: adm, handler: s.rotateWebhook},
		{method: post, path: "/v1/webhooks/:id/ping", scope: adm, handler: s.pingWebhook},
		{method: get, path: "/v1/deliveries", scope: adm, handler: s.listDeliveries},
		{method: get, path: "/v1/deliveries/:id", scope: adm, handler: s.getDelivery},
		{method: post, path: "/v1/deliveries/:id/redeliver", scope: adm, handler: s.redeliver},

		{method: post, path: "/v1/chat/completions", scope: q, handler: s.chatCompletions},
		{method: post, path: "/v1/embeddings", scope: q, handler: s.embeddings},
		{method: get, path: "/v1/models", scope: q, handler: s.models},

		{method: get, path: "/v1/keys", scope: adm, handler: s.listKeys},
		{method: post, path: "/v1/keys", scope: adm, handler: s.createKey},
		{method: del, path: "/v1/keys/:id", scope: adm, handler: s.deleteKey},
	}
}

// App returns the Fiber app, for tests (app.Test) and embedding.
func (s *Server) App() *fiber.App { return s.app }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// SetReady says whether the KBs are loaded and the model is ready; until
// then /readyz and the /v1 routes answer 503.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(lingerListener{ln}, fiber.ListenConfig{DisableStartupMessage: true})
}

// Shutdown stops accepting connections, lets requests and answers in flight
// finish until ctx's deadline (ShutdownGrace when it has none), tells every
// WebSocket chat that the server is going away with a close frame, and
// cancels what is still running at the deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownGrace)
		defer cancel()
	}
	s.ready.Store(false)
	s.stopOnce.Do(func() { close(s.stopping) })
	chatsDone := make(chan struct{})
	go func() {
		s.chats.shutdown(ctx)
		close(chatsDone)
	}()
	err := s.app.ShutdownWithContext(ctx)
	select {
	case <-chatsDone:
	case <-ctx.Done():
	}
	s.cancel() // whatever is left: streams, chats, job watchers
	<-chatsDone
	s.bg.Wait()
	return err
}

func (s *Server) healthz(c fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }

func (s *Server) readyz(c fiber.Ctx) error {
	if !s.ready.Load() {
		return kefu.Errorf(kefu.EUNAVAILABLE, "kefu is starting: loading knowledge bases and the embedding model")
	}
	if h, ok := s.cfg.Store.(kefu.HealthChecker); ok {
		ctx, cancel := context.WithTimeout(c.Context(), storeHealthTimeout)
		defer cancel()
		if err := h.Health(ctx); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// storeHealthTimeout bounds /readyz's check of the KB store's service.
const storeHealthTimeout = 2 * time.Second

// guard refuses /v1 requests while the server starts. It reads no body:
// handlers read theirs through Server.body, after authorize.
func (s *Server) guard(r route) fiber.Handler {
	v1 := strings.HasPrefix(r.path, "/v1/") && r.path != "/v1/auth"
	return func(c fiber.Ctx) error {
		if v1 && !s.ready.Load() {
			return kefu.Errorf(kefu.EUNAVAILABLE, "kefu is starting: loading knowledge bases and the embedding model")
		}
		return c.Next()
	}
}

// requestID takes the client's X-Request-ID when it is short and plain,
// else makes one, and echoes it in the response.
func (s *Server) requestID(c fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !plainID(id) {
		id = newID("req_")
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	c.SetContext(kefu.WithRequestID(c.Context(), id))
	return c.Next()
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

type localKey int

const (
	localRequestID localKey = iota
	localPrincipal
	localBody // the *wireBody of a body being read
)

func requestID(c fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// observe writes one access log line per request and records its latency
// by route pattern.
func (s *Server) observe(c fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	pattern := "other"
	if r := c.Route(); r != nil && s.routes[r.Method+" "+r.Path] {
		pattern = r.Path
	} else if s.cfg.Web != nil && c.Method() == fiber.MethodGet && !strings.HasPrefix(c.Path(), "/v1/") {
		pattern = "console"
	}
	d := time.Since(start)
	s.metrics.observeRequest(c.Method(), pattern, status, d)
	keyID := ""
	if p, ok := c.Locals(localPrincipal).(*principal); ok {
		keyID = p.keyID
	}
	s.log.Info("request", "method", c.Method(), "route", pattern, "path", c.Path(), "status", status,
		"ms", float64(d.Microseconds())/1000, "request_id", requestID(c), "key_id", keyID, "ip", c.IP())
	return nil
}

// marshalJSON encodes responses without HTML escaping: messages such as
// "Bearer <key>" read as written.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decode reads a JSON body into v, through the JSON body limit.
func (s *Server) decode(c fiber.Ctx, v any, shape string) error {
	return s.decodeJSON(c, v, shape, true)
}

// decodeOptional reads a JSON body into v when there is one, through the
// JSON body limit.
func (s *Server) decodeOptional(c fiber.Ctx, v any, shape string) error {
	return s.decodeJSON(c, v, shape, false)
}

func (s *Server) decodeJSON(c fiber.Ctx, v any, shape string, required bool) error {
	r, err := s.body(c, s.jsonLimit())
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if !required {
			return nil
		}
		return kefu.Errorf(kefu.EINVALID, "empty body: send JSON %s", shape)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(err, "", shape)
	}
	return nil
}

func unavailable(what string) error {
	return kefu.Errorf(kefu.EUNAVAILABLE, "this server has no %s", what)
}
