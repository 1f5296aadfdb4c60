package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/api"
)

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	demo := fs.String("demo", "", "demo folder (shop_faq.csv, help/): its knowledge bases are ingested on first start")
	policy := fs.String("policy", "", "answer policy file (JSON), re-read on SIGHUP")
	llm := llmFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu serve [--addr HOST:PORT] [--demo DIR]")
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
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
	e, err := a.embedder(ctx, "")
	if err != nil {
		return err
	}
	if *demo != "" {
		if err := a.seedDemo(ctx, *demo, e); err != nil {
			return err
		}
	}
	kbs, err := a.store.KBs(ctx)
	if err != nil {
		return err
	}
	for _, kb := range kbs {
		if err := a.syncModel(ctx, kb, e, os.Stderr); err != nil {
			return fmt.Errorf("re-embed %s: %w", kb.Name, err)
		}
	}
	if err := a.store.Flush(); err != nil {
		return err
	}
	r := a.retriever(e)
	ans, err := a.answerer(r, answer.Options{LLM: llm.settings(), PolicyFile: *policy})
	if err != nil {
		return err
	}
	srv := api.New(api.Config{Store: a.store, Retriever: r, Answerer: ans, Ingester: a.ingester(e), Embedder: e, Logger: a.log})

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

	errc := make(chan error, 1)
	go func() { errc <- srv.Listen(*addr) }()
	a.log.Info("kefu serving", "addr", "http://"+*addr, "data_dir", a.dataDir, "model", e.ModelID())
	fmt.Fprintf(os.Stderr, "kefu: serving on http://%s (model %s, data %s)\n", *addr, e.ModelID(), a.dataDir)
	select {
	case err := <-errc:
		return kefu.Errorf(kefu.EUNAVAILABLE, "listen on %s: %w", *addr, err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		a.log.Error("shutdown", "err", err)
	}
	return nil
}

// seedDemo creates and fills the demo knowledge bases on first start:
// shop (the shop FAQ) and help (the help-center docs).
func (a *app) seedDemo(ctx context.Context, dir string, e kefu.Embedder) error {
	for _, d := range []struct{ kb, path string }{{"shop", "shop_faq.csv"}, {"help", "help"}} {
		if _, err := a.store.KB(ctx, d.kb); err == nil {
			continue
		}
		path := filepath.Join(dir, d.path)
		if _, err := os.Stat(path); err != nil {
			return kefu.Errorf(kefu.ENOTFOUND, "demo data %s: %v", path, err)
		}
		if _, err := a.ensureKB(ctx, d.kb, e, os.Stderr); err != nil {
			return err
		}
		ups, _, err := collectUploads([]string{path})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "kefu: ingesting demo knowledge base %q from %s\n", d.kb, path)
		job, err := ingestWithProgress(ctx, a.ingester(e), d.kb, ups, os.Stderr)
		if err != nil {
			return err
		}
		printJobSummary(os.Stderr, job)
	}
	return nil
}
