// Package api serves kefu over HTTP with Fiber: the REST API, server-sent
// events, the WebSocket chat, the OpenAI-compatible endpoints and the web
// console. Errors are JSON with a stable code that maps to the HTTP status.
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/kefu-dev/kefu"
)

// Config wires the server to the stages.
type Config struct {
	Store     kefu.Store
	Retriever kefu.Retriever
	Answerer  kefu.Answerer // nil: ask routes answer 503
	Ingester  kefu.Ingester // nil: upload routes answer 503
	Embedder  kefu.Embedder // nil: embeddings route answers 503
	Logger    *slog.Logger
	// BodyLimit bounds request bodies, uploads included (default 64 MiB).
	BodyLimit int
}

// Server is kefu's HTTP server.
type Server struct {
	cfg Config
	app *fiber.App
	log *slog.Logger
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 64 << 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.app = fiber.New(fiber.Config{
		AppName:               "kefu",
		BodyLimit:             cfg.BodyLimit,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           60 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
	s.app.Use(recover.New())
	s.app.Use(requestid.New())
	s.routes()
	return s
}

// App returns the Fiber app, for tests (app.Test) and embedding.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting connections and waits for open requests, up to
// ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) routes() {
	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	v1 := s.app.Group("/v1")
	v1.Post("/kbs/:kb/search", s.search)
}

func requestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(requestid.ConfigDefault.ContextKey).(string); ok {
		return id
	}
	return ""
}
