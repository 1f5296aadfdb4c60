package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/api/web"
	"github.com/kefu-dev/kefu/archive"
	"github.com/kefu-dev/kefu/index/keyword"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/models"
	"github.com/kefu-dev/kefu/retrieve"
	"github.com/kefu-dev/kefu/webhook"
)

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	demo := fs.String("demo", "", "demo folder (shop_faq.csv, help/): its knowledge bases are ingested on first start")
	policy := fs.String("policy", "", "answer policy file (JSON), re-read on SIGHUP")
	rateLimit := fs.Float64("rate", 20, "requests per second per API key (per client IP in development mode); 0 is no limit")
	burst := fs.Int("burst", 40, "requests a key may burst above --rate")
	bodyLimit := fs.Int("body-limit", api.DefaultBodyLimit, "largest JSON request body in bytes")
	uploadLimit := fs.Int("upload-limit", api.DefaultUploadLimit, "largest upload (all files of one request) in bytes")
	maxSpool := fs.Int64("max-spool-bytes", ingest.DefaultMaxSpoolBytes, "bytes of accepted uploads kept on disk (<data-dir>/jobs) until they are ingested, all jobs together; uploads over it get 429")
	importLimit := fs.Int("import-limit", api.DefaultImportLimit, "largest KB archive imported through the API (POST /v1/kbs/import) in bytes")
	corsOrigins := fs.String("cors-origins", "", "comma-separated origins allowed to call the API from browsers (chat widgets), or *; default none (public keys add their own)")
	publicRate := fs.Float64("public-rate", 100, "requests per second per public (widget) key, shared by its visitors")
	visitorRate := fs.Float64("visitor-rate", 1, "requests per second per visitor of a public key (per IP, and per conversation for asks), burst 20")
	askTimeout := fs.Duration("ask-timeout", api.DefaultAskTimeout, "longest a JSON answer (/ask, chat completions without stream) may take, LLM included; past it the client gets 504")
	grace := fs.Duration("shutdown-grace", 15*time.Second, "on SIGTERM, how long answers in flight may finish")
	hookBackoff := fs.Duration("webhook-backoff", 10*time.Second, "webhooks: the wait after a failed delivery, doubled after each further failure up to an hour")
	hookHosts := fs.String("webhook-allow-hosts", os.Getenv("KEFU_WEBHOOK_ALLOW_HOSTS"), "comma-separated internal receivers webhooks and channel replies may also go to: host, host:port, *.example.com, an address or a network like 10.0.0.0/8 (env KEFU_WEBHOOK_ALLOW_HOSTS); default: public addresses only, never loopback, private or link-local ones")
	fs.DurationVar(&c.retryFor, "webhook-retry-for", 25*time.Hour, "webhooks: how long a failing delivery is retried before it goes dead (redeliver it by hand then)")
	llm := llmFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu serve [--addr HOST:PORT] [--demo DIR]")
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	whHosts, err := kefu.ParseWebhookHosts(*hookHosts)
	if err != nil {
		return err
	}
	c.logJSON = true
	if c.logLevel == "warn" {
		c.logLevel = "info"
	}
	a, err := newApp(c)
	if err != nil {
		return err
	}
	defer a.close()

	keys, err := a.local.Keys(ctx)
	if err != nil {
		return err
	}
	dev := len(keys) == 0
	if dev && !api.Loopback(*addr) {
		return kefu.Errorf(kefu.EINVALID, "no API key exists, and without keys kefu only listens on a loopback address (127.0.0.1, ::1, localhost), not %s: "+
			"create one first with 'kefu keys create --scope admin --data-dir %s' (also ingest or query, optionally --kb NAME)", *addr, a.dataDir)
	}
	if dev {
		a.log.Warn("DEVELOPMENT MODE: no API key exists, every route is open to anyone on this machine; create keys with 'kefu keys create' before exposing kefu", "addr", *addr)
		fmt.Fprintf(os.Stderr, "kefu: WARNING: development mode: no API key exists, every route on %s is open without a key\n", *addr)
	}

	e, err := a.embedder(ctx, "")
	if err != nil {
		return err
	}
	metrics := api.NewMetrics()
	oe := metrics.Embedder(e)
	r := a.retriever(oe)
	global, err := llm.settings()
	if err != nil {
		return err
	}
	hosts, err := llm.hosts()
	if err != nil {
		return err
	}
	// The webhook dispatcher and the desk's retention run until shutdown,
	// after the server has stopped and before the store closes. The outbox
	// is this node's, in the data directory.
	disp := webhook.New(webhook.Options{Store: a.local, Hosts: whHosts, Logger: a.log, OnAttempt: metrics.ObserveDelivery, Backoff: *hookBackoff})
	bgCtx, stopBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() {
		stopBg()
		bg.Wait()
	}()
	dsk, ans, err := a.desk(r, answer.Options{LLM: global, KBHosts: hosts, PolicyFile: *policy, Observer: answerObserver{metrics}}, disp.Notify)
	if err != nil {
		return err
	}
	bg.Go(func() { disp.Run(bgCtx) })
	bg.Go(func() { dsk.Run(bgCtx) })
	// Self-calibration: every KB's confidence is fitted from its own
	// content in the background, again whenever the content changes.
	cal := &retrieve.Calibrator{Retriever: r, Store: a.store, Logger: a.log}
	ing := a.ingester(oe)
	ing.OnFinish = func(j kefu.Job) {
		metrics.ObserveJob(j)
		cal.Changed(j.KB)
		disp.Notify() // document.ingested events
	}
	// Accepted uploads are kept in the data directory until ingested; jobs
	// stop before the store closes, and start again at the next start.
	ing.Spool, ing.MaxSpoolBytes, ing.Logger = filepath.Join(a.dataDir, "jobs"), *maxSpool, a.log
	defer ing.Stop()
	var origins []string
	for _, o := range strings.Split(*corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	cfg := api.Config{
		Store: a.store, Retriever: r, Answerer: dsk, Ingester: ing, Embedder: oe,
		Keys: a.local, AnswerLog: a.local, Reports: a.local, Logger: a.log, Metrics: metrics,
		Desk: dsk, Webhooks: a.local, Channels: a.local, Notify: disp.Notify, FAQ: ing,
		PublicRate: *publicRate, PublicBurst: 2 * int(*publicRate), VisitorRate: *visitorRate, VisitorBurst: 20,
		Archiver: archive.Archiver{Store: a.store, Embedder: oe}, ImportLimit: *importLimit,
		Evaluator: &kbEval{a: a, r: r, k: 10},
		DevMode:   dev, Starting: true, BodyLimit: *bodyLimit, UploadLimit: *uploadLimit,
		Rate: *rateLimit, Burst: *burst, CORSOrigins: origins, LLMHosts: hosts, WebhookHosts: whHosts, ShutdownGrace: *grace, Web: web.FS(),
		AskTimeout: *askTimeout,
	}
	srv := api.New(cfg)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := ans.Reload(); err != nil {
				a.log.Error("policy reload failed; keeping the previous policy", "err", err)
			} else {
				a.log.Info("policy reloaded")
			}
		}
	}()

	// Listen at once, so /healthz answers and /readyz says 503 while the
	// demo is ingested and KBs embedded with another model are re-embedded.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		shutdown(srv, a, time.Second)
		return kefu.Errorf(kefu.EUNAVAILABLE, "listen on %s: %w", *addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Commands refused the data directory say where to find the server.
	if err := noteServerURL(a.dataDir, localURL(ln.Addr())); err != nil {
		a.log.Warn("could not note the server's address in the data directory", "err", err)
	}
	a.log.Info("kefu listening", "addr", "http://"+*addr, "data_dir", a.dataDir, "model", e.ModelID(), "dev_mode", dev)
	// The word segmenter's dictionary and the Traditional → Simplified
	// converter load now, not at the first Chinese question.
	if err := keyword.Preload(); err != nil {
		shutdown(srv, a, time.Second)
		return err
	}
	if err := a.prepareKBs(ctx, *demo, e); err != nil {
		shutdown(srv, a, time.Second)
		return err
	}
	if err := ing.Resume(ctx); err != nil {
		shutdown(srv, a, time.Second)
		return err
	}
	srv.SetReady(true)
	// The calibrator stops before the store closes (deferred earlier, so
	// run later): a fit in progress stops at its next question.
	calCtx, calStop := context.WithCancel(ctx)
	calDone := make(chan struct{})
	go func() {
		defer close(calDone)
		cal.Run(calCtx)
	}()
	defer func() {
		calStop()
		<-calDone
	}()
	a.log.Info("kefu ready", "addr", "http://"+*addr)
	fmt.Fprintf(os.Stderr, "kefu: serving on http://%s (model %s, data %s)\n", *addr, e.ModelID(), a.dataDir)
	select {
	case err := <-errc:
		return kefu.Errorf(kefu.EUNAVAILABLE, "serve on %s: %w", *addr, err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "grace", grace.String())
	shutdown(srv, a, *grace)
	return nil
}

func shutdown(srv *api.Server, a *app, grace time.Duration) {
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		a.log.Error("shutdown", "err", err)
	}
}

// prepareKBs seeds the demo KBs on first start and re-embeds the KBs whose
// model is not the server's.
func (a *app) prepareKBs(ctx context.Context, demo string, e kefu.Embedder) error {
	if demo != "" {
		if err := a.demoSeeder(e).Seed(ctx, demo); err != nil {
			return err
		}
	}
	kbs, err := a.store.KBs(ctx)
	if err != nil {
		return err
	}
	for _, kb := range kbs {
		if err := models.SyncKB(ctx, a.store, kb, e, os.Stderr); err != nil {
			return fmt.Errorf("re-embed %s: %w", kb.Name, err)
		}
	}
	return a.local.Flush()
}

// answerObserver forwards the answerer's metrics to the API's Prometheus
// metrics (api may not import answer).
type answerObserver struct{ m *api.Metrics }

func (o answerObserver) ObserveAnswer(ev answer.AnswerEvent) {
	o.m.ObserveAnswer(ev.Route, ev.Cached, ev.Fallback, ev.Total)
}

func (o answerObserver) ObserveLLM(c answer.LLMCall) {
	o.m.ObserveLLM(c.Kind, c.Outcome, c.FirstToken, c.Total, c.PromptTokens, c.CompletionTokens)
}

func (o answerObserver) ObserveBreaker(endpoint, from, to string) {
	o.m.ObserveBreaker(endpoint, from, to)
}
