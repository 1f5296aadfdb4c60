package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/desk"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/demo"
	"github.com/kefu-dev/kefu/models"
	"github.com/kefu-dev/kefu/retrieve"
)

// server is kefu's API on a loopback port over a temporary data directory,
// wired as `kefu serve` wires it (the desk storing every turn), in
// development mode (no key), without rate limits and without the answer
// cache, so every ask does the work.
type server struct {
	store *index.Store
	e     *embed.Engine
	ret   *retrieve.Retriever
	ing   *ingest.Service
	srv   *api.Server
	base  string // http://127.0.0.1:port
	dir   string
	done  chan struct{}
}

// startServer loads the model (models.ResolveFor: model, else the best here),
// lets prepare fill the store, and serves.
func startServer(ctx context.Context, model, ortLib string, prepare func(s *server) error) (_ *server, err error) {
	s := &server{done: make(chan struct{})}
	if s.dir, err = os.MkdirTemp("", "kefu-bench-http-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.store, err = index.Open(s.dir, index.Options{}); err != nil {
		return nil, err
	}
	spec, err := models.ResolveFor(ctx, s.store, model, "", models.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	if s.e, err = embed.New(spec, embed.Options{ORTLib: ortLib}); err != nil {
		return nil, err
	}
	s.ret = &retrieve.Retriever{Index: s.store, KBs: s.store, Embedder: s.e}
	s.ing = &ingest.Service{Store: s.store, Embedder: s.e}
	if err := prepare(s); err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	// As kefu serve wires them: the desk stores each turn and logs the
	// bot's answers.
	bot, err := answer.New(answer.Options{Retriever: s.ret, KBs: s.store, Logger: quiet, CacheSize: -1})
	if err != nil {
		return nil, err
	}
	d, err := desk.New(desk.Options{Store: s.store, Log: s.store, Answerer: bot, KBs: s.store, Channels: s.store, Logger: quiet})
	if err != nil {
		return nil, err
	}
	s.srv = api.New(api.Config{Store: s.store, Retriever: s.ret, Answerer: d, Desk: d, Ingester: s.ing, Embedder: s.e,
		Keys: s.store, AnswerLog: s.store, Reports: s.store, Webhooks: s.store, Channels: s.store, Logger: quiet, DevMode: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.base = "http://" + ln.Addr().String()
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// seedDemo fills the store with the demo knowledge bases, as `kefu serve
// --demo` does on first start; out, when not nil, is told what is done.
func (s *server) seedDemo(ctx context.Context, dir string, out io.Writer) error {
	sd := &demo.Seeder{Store: s.store, Embedder: s.e, Retriever: s.ret, Out: out,
		Ingest: func(ctx context.Context, kb string, ups []kefu.Upload) (*kefu.Job, error) {
			return s.ing.Ingest(ctx, kb, ups, nil)
		}}
	if err := sd.Seed(ctx, dir); err != nil {
		return err
	}
	return s.store.Flush()
}

func (s *server) close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.srv.Shutdown(ctx)
		cancel()
		<-s.done
	}
	if s.e != nil {
		s.e.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	os.RemoveAll(s.dir)
}
