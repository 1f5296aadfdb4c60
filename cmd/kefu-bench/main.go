// Command kefu-bench measures kefu's speed; BENCHMARKS.md gives each
// figure with the command that reproduces it.
//
//	kefu-bench embed   [--model minilm-l6-shape] [--texts 512] [--rounds 2] [--node [--paired N]]   the embedding engine vs the plain integration
//	kefu-bench vector  [--n 100000] [--dim 384]                            kernels, exact and int8 scans, chromem-go
//	kefu-bench hnsw    [--n 1000000] [--dim 384] [--ef N] [--data real] [--coder]   HNSW recall and latency
//	kefu-bench search  [--chunks 100000] [--procs 1] [--store URL|inprocess] hybrid search latency
//	kefu-bench ingest  [--model minilm-l6-shape]                           parse+chunk and end-to-end ingest
//	kefu-bench http    [--conns 16] [--duration 10s]                       the HTTP API under load
//	kefu-bench ws      [--conns 10000]                                     idle and streaming WebSocket chats
//	kefu-bench conversations [--duration 5s] [--asks 1000]                 turn writes per second, latency added to an ask
//	kefu-bench outbox  [--events 5000]                                     webhook outbox throughput
//	kefu-bench backup  [--chunks 100000] [--dim 384]                       KB export and import (archives)
//
// Every command takes --json. `make bench` builds bin/kefu-bench; it is a
// binary of its own so that bin/kefu ships none of the harnesses (a load
// generator, a fake LLM, chromem-go as a baseline). This package parses
// flags and prints; the measurements are internal/bench.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index/vector"
	"github.com/kefu-dev/kefu/internal/bench"
	"github.com/kefu-dev/kefu/models"
)

var benches = map[string]func(ctx context.Context, args []string) error{
	"embed":  embedCmd,
	"vector": vectorCmd,
	"hnsw":   hnswCmd,
	"search": searchCmd,
	"ingest": ingestCmd,
	"http":   httpCmd,
	"ws":     wsCmd,

	"conversations": conversationsCmd,
	"outbox":        outboxCmd,
	"backup":        backupCmd,
}

var errUsage = errors.New("usage")

func main() {
	if len(os.Args) < 2 || benches[os.Args[1]] == nil {
		fmt.Fprintf(os.Stderr, "usage: kefu-bench <%s> [flags]\n", strings.Join(slices.Sorted(maps.Keys(benches)), "|"))
		os.Exit(2)
	}
	if ks := vector.Kernels(); len(ks) == 1 {
		fmt.Fprintf(os.Stderr, "kefu-bench: WARNING: the vector kernels are the generic Go ones (%s): this binary was built without GOEXPERIMENT=simd or the CPU lacks AVX2; its figures are not comparable with BENCHMARKS.md\n", ks[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := benches[os.Args[1]](ctx, os.Args[2:])
	stop()
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "kefu-bench %s: %s\n", os.Args[1], kefu.ErrorMessage(err))
		if kefu.ErrorCode(err) == kefu.EINTERNAL {
			fmt.Fprintf(os.Stderr, "  (%v)\n", err)
		}
		os.Exit(1)
	}
}

// parse parses a benchmark's flags; benchmarks take no arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// output writes the report as indented JSON, or calls human.
func output(asJSON bool, v any, human func()) error {
	if !asJSON {
		human()
		return nil
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// logTo is where a benchmark says what it is doing: stderr, unless the
// output is JSON.
func logTo(asJSON bool) io.Writer {
	if asJSON {
		return nil
	}
	return os.Stderr
}

func embedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	model := fs.String("model", "minilm-l6-shape", "model name or folder")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	n := fs.Int("texts", 512, "texts to embed")
	rounds := fs.Int("rounds", 2, "rounds per way; the fastest counts")
	minTok := fs.Int("min-tokens", 8, "shortest text, in the model's tokens (the longest fills the model)")
	sessions := fs.Int("sessions", 0, "engine sessions (default one per core)")
	threads := fs.Int("threads", 0, "intra-op threads per engine session (default 1)")
	batchTokens := fs.Int("batch-tokens", 0, "engine batch budget: rows × longest row, in tokens (default embed.DefaultBatchTokens)")
	node := fs.Bool("node", false, "also run the Node.js baseline (onnxruntime-node, length-sorted batches; make bench installs its packages)")
	nodeScript := fs.String("node-script", bench.DefaultNodeScript(), "the Node.js baseline's script")
	paired := fs.Int("paired", 0, "with --node, then time the engine and the baseline's fastest layout in turn this many times (median ratio)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	spec, err := models.Resolve(*model, models.ResolveOptions{})
	if err != nil {
		return err
	}
	tok, err := embed.LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		return err
	}
	texts, err := bench.Texts(ctx, tok, *minTok, spec.MaxTokens-2, *n)
	if err != nil {
		return err
	}
	eo := bench.EmbedOptions{ORTLib: *ortLib, Rounds: *rounds, Engine: embed.Options{Sessions: *sessions, IntraOpThreads: *threads, BatchTokens: *batchTokens}}
	if *node {
		eo.NodeScript, eo.Paired = *nodeScript, *paired
	}
	rep, err := bench.Embed(ctx, spec, texts, eo)
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("model %s, %d texts (%d tokens), %d cores\n", rep.Model, rep.Texts, rep.Tokens, rep.Cores)
		fmt.Printf("  engine (%d sessions x %d threads, sorted, %d-token batches): %7.1f texts/s %8.0f tokens/s\n", rep.EngineSessions, rep.EngineThreads, rep.EngineBatchTokens, rep.EngineTextsPerS, rep.EngineTokensPerS)
		fmt.Printf("  padded batches of %d in input order:                        %7.1f texts/s %8.0f tokens/s\n", rep.PaddedBatch, rep.PaddedTextsPerS, rep.PaddedTokensPerS)
		fmt.Printf("  one text per run:                                           %7.1f texts/s %8.0f tokens/s\n", rep.SingleTextsPerS, rep.SingleTokensPerS)
		fmt.Printf("  engine vs padded %.2fx, vs one-by-one %.2fx; time outside ORT %.1f%%\n", rep.RatioVsPadded, rep.RatioVsSingle, 100*rep.OutsideORTShare)
		if nd := rep.Node; nd != nil {
			fmt.Printf("  onnxruntime-node, length-sorted batches of %d, %s: %7.1f texts/s (tokenising excluded); engine %.2fx; max |diff| %.2g\n",
				nd.Batch, nd.Layout, nd.TextsPerS, nd.RatioEngineVsNode, nd.MaxAbsDiff)
			fmt.Printf("  CPU time: engine %.2f s, onnxruntime-node %.2f s (batches of %d, %s): engine %.2fx\n", rep.EngineCPUSeconds, nd.CPUSeconds, nd.CPUBatch, nd.CPULayout, nd.RatioEngineVsNodeCPU)
			if len(nd.Pairs) > 0 {
				fmt.Printf("  paired rounds (engine, then onnxruntime-node's fastest layout alone), %d: median engine %.2fx with the baseline's tokenising\n", len(nd.Pairs), nd.PairedRatio)
			}
			if tk := nd.Tokenize; tk != nil {
				fmt.Printf("  tokenizers.js on the same texts: %.3f s (%d of %d texts get the engine's ids); with it, engine %.2fx\n", tk.Seconds, tk.TextsAgreeing, rep.Texts, nd.RatioWithTokenizing)
			}
		}
	})
}

func vectorCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("vector", flag.ContinueOnError)
	n := fs.Int("n", 100_000, "vectors")
	dim := fs.Int("dim", 384, "dimensions")
	noChromem := fs.Bool("no-chromem", false, "leave out the chromem-go baseline")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := bench.Vector(ctx, bench.VectorOptions{N: *n, Dim: *dim, SkipChromem: *noChromem})
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("kernel %s, %d x %d float32\n", rep.Kernel, rep.N, rep.Dim)
		fmt.Printf("  dot: %.1f ns (naive loop %.1f ns): %.1fx\n", rep.DotNs, rep.DotNaiveNs, rep.DotSpeedupVsNaive)
		fmt.Printf("  read bandwidth, best pass: 1 stream %.1f, 2 %.1f, 4 %.1f, 8 %.1f GB/s\n", rep.MemReadStreamsGBs[1], rep.MemReadStreamsGBs[2], rep.MemReadStreamsGBs[4], rep.MemReadStreamsGBs[8])
		fmt.Printf("  exact scan: %.2f ms = %.1f GB/s median, %.1f GB/s best, of %.1f GB/s read bandwidth (best %.0f%%, median %.0f%%)\n",
			rep.ScanMs, rep.ScanGBs, rep.ScanBestGBs, rep.MemReadGBs, 100*rep.ScanBandwidthShare, 100*rep.ScanMedianShare)
		if rep.ChromemMs > 0 {
			fmt.Printf("  chromem-go: %.2f ms: exact scan %.1fx faster\n", rep.ChromemMs, rep.ScanSpeedupVsChromem)
		}
		fmt.Printf("  int8 + rescoring: %.2f ms, %.1fx float32, recall@10 %.4f\n", rep.Int8Ms, rep.Int8SpeedupVsF32, rep.Int8RecallAt10)
		if rep.Int8PrevKernel != "" {
			fmt.Printf("  int8 with the %s kernel: %.2f ms (%s %.2fx)\n", rep.Int8PrevKernel, rep.Int8PrevMs, rep.Kernel, rep.Int8SpeedupVsPrev)
		}
		fmt.Printf("  load %.1f ms for %d MB\n", rep.LoadMs, rep.FileBytes>>20)
	})
}

func hnswCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hnsw", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "vectors")
	dim := fs.Int("dim", 384, "dimensions")
	ef := fs.Int("ef", 0, "ef at search (0: default)")
	sweep := fs.String("ef-sweep", "", "more ef values to measure, comma-separated")
	data := fs.String("data", "clusters", "clusters (synthetic) or real (sentences of ../shared embedded with --model, cached in .cache/kefu-bench)")
	model := fs.String("model", "use-lite-en", "embedding model of --data real")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	queries := fs.Int("queries", 0, "queries (default 200; with --data real every SciFact claim, 1,109)")
	coder := fs.Bool("coder", false, "also measure github.com/coder/hnsw on the same vectors")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	var efs []int
	for f := range strings.SplitSeq(*sweep, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return kefu.Errorf(kefu.EINVALID, "--ef-sweep: %q is not a positive number", f)
		}
		efs = append(efs, v)
	}
	o := bench.HNSWOptions{N: *n, Dim: *dim, EfSearch: *ef, EfSweep: efs, Data: *data, Queries: *queries, Coder: *coder,
		Real: bench.RealOptions{Model: *model, ORTLib: *ortLib, Log: logTo(*asJSON)}}
	if *data == "real" && !flagSet(fs, "n") {
		o.N = 0 // all of them
	}
	rep, err := bench.HNSW(ctx, o)
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("HNSW %d x %d (M %d, efConstruction %d, ef %d): %s\n", rep.N, rep.Dim, rep.M, rep.EfConstruction, rep.EfSearch, rep.Data)
		for _, p := range rep.Sweep {
			fmt.Printf("  ef %4d: recall@10 %.4f, p50 %.3f ms, p99 %.3f ms (CPU %.3f / %.3f ms)\n", p.EfSearch, p.RecallAt10, p.P50Ms, p.P99Ms, p.CPUP50Ms, p.CPUP99Ms)
		}
		fmt.Printf("  ef %4d: recall@10 %.4f, p50 %.3f ms, p99 %.3f ms (exact scan %.2f ms)\n", rep.EfSearch, rep.RecallAt10, rep.P50Ms, rep.P99Ms, rep.ExactMs)
		fmt.Printf("  build %.1f s on %d goroutines, memory %d MB (graph %d MB)\n", rep.BuildS, rep.Workers, rep.MemoryBytes>>20, rep.GraphBytes>>20)
		if c := rep.Coder; c != nil {
			fmt.Printf("github.com/coder/hnsw %s (M %d): build %.1f s on 1 goroutine, graph heap %d MB\n", c.Version, c.M, c.BuildS, c.HeapBytes>>20)
			for _, p := range c.Sweep {
				fmt.Printf("  ef %4d: recall@10 %.4f, p50 %.3f ms, p99 %.3f ms (CPU %.3f / %.3f ms)\n", p.EfSearch, p.RecallAt10, p.P50Ms, p.P99Ms, p.CPUP50Ms, p.CPUP99Ms)
			}
		}
	})
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func searchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	n := fs.Int("chunks", 100_000, "chunks in the benchmark KB")
	dim := fs.Int("dim", 384, "vector dimensions")
	q := fs.Int("queries", 500, "queries timed")
	procs := fs.Int("procs", 1, "GOMAXPROCS while timing (1: one core)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed searches to this file")
	store := fs.String("store", "", "also time the same searches on this store: qdrant://HOST:PORT, or inprocess (the tests' in-process Qdrant)")
	dir := fs.String("dir", "", "keep the embedded store in this folder (a later run adds only the chunks it lacks, or just opens it and measures)")
	vmode := fs.String("vector-mode", "auto", "the embedded store's vector search: auto (as the product: flat, int8, then HNSW past 200k vectors), flat, int8 or hnsw")
	repeat := fs.Bool("repeat", false, "ask the timed searches a second time and report that pass apart (what first-time terms cost)")
	asJSON := fs.Bool("json", false, "print JSON")
	queriesOut := fs.String("queries-out", "", "write the timed searches' texts to this file, one a line (a query's newlines become spaces), and stop")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *queriesOut != "" {
		qs, err := bench.SearchQueries(*q)
		if err != nil {
			return err
		}
		for i := range qs {
			qs[i] = strings.Join(strings.Fields(qs[i]), " ")
		}
		return os.WriteFile(*queriesOut, []byte(strings.Join(qs, "\n")+"\n"), 0o644)
	}
	progress := func(s string) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\r%s   ", s)
		}
	}
	rep, err := bench.Search(ctx, bench.SearchOptions{Chunks: *n, Dim: *dim, Queries: *q, Procs: *procs, CPUProfile: *cpuProfile, Store: *store, Dir: *dir, VectorMode: *vmode, Repeat: *repeat, Progress: progress})
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("\nhybrid search on %d chunks (%d dims), %d queries, embedding excluded:\n", rep.Chunks, rep.Dim, rep.Queries)
		fmt.Printf("  p50 %.2f ms, p90 %.2f ms, p99 %.2f ms (keyword p50 %.2f ms, vector p50 %.2f ms); CPU time p50 %.2f ms, p99 %.2f ms\n", rep.P50MS, rep.P90MS, rep.P99MS, rep.KeywordP50, rep.VectorP50, rep.CPUP50MS, rep.CPUP99MS)
		fmt.Printf("  build %.1f s, %.1f s CPU (%d chunks added); reopening the store (vectors loaded, no re-embedding) %.2f s, %.2f s CPU; vectors: %s (graph ready %.1f s later)\n", rep.BuildS, rep.BuildCPUS, rep.Built, rep.StartupS, rep.StartupCPUS, rep.VectorMode, rep.GraphWaitS)
		if p := rep.Repeat; p != nil {
			fmt.Printf("  asked again: p50 %.2f ms, p99 %.2f ms, CPU p99 %.2f ms; keyword p50 %.2f ms, p99 %.2f ms (first pass: keyword p99 %.2f ms)\n", p.P50MS, p.P99MS, p.CPUP99MS, p.KeywordP50, p.KeywordP99, rep.KeywordP99)
			for _, x := range p.Slowest {
				fmt.Printf("    first pass %.1f ms (keyword %.1f), asked again %.1f ms (keyword %.1f): %.50q\n", x.FirstMS, x.KeywordMS, x.SecondMS, x.Keyword2, x.Query)
			}
		}
		if rep.DiskBytes > 0 {
			fmt.Printf("  on disk %d MB; RSS %d MB before opening (the benchmark's corpus), %d MB opened, %d MB after the searches (peak %d MB); Go heap %d MB\n", rep.DiskBytes>>20, rep.RSSBaseBytes>>20, rep.RSSOpenBytes>>20, rep.RSSAfterBytes>>20, rep.HWMBytes>>20, rep.HeapBytes>>20)
		}
		if o := rep.Other; o != nil {
			fmt.Printf("on %s: p50 %.2f ms (+%.2f ms over the embedded store), p90 %.2f ms, p99 %.2f ms; CPU time p50 %.2f ms (%.2f× the embedded store's); first search %.1f ms, first after a write %.1f ms (embedded %.1f ms); build %.1f s\n",
				o.Backend, o.P50MS, rep.AddedP50MS, o.P90MS, o.P99MS, o.CPUP50MS, o.CPUP50MS/rep.CPUP50MS, o.FirstMS, o.AfterWriteMS, rep.AfterWriteMS, o.BuildS)
		}
		if p := rep.Paired; p != nil {
			fmt.Printf("side by side (each query on both stores): p50 %.2f ms against %.2f ms embedded (+%.2f ms; median difference per query %.2f ms), p99 %.2f against %.2f ms\n",
				p.OtherP50MS, p.EmbeddedP50MS, p.AddedP50MS, p.MedianAddedMS, p.OtherP99MS, p.EmbeddedP99MS)
		}
	})
}

func ingestCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	model := fs.String("model", "minilm-l6-shape", "model for the end-to-end run")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	e2eDocs := fs.Int("e2e-docs", 300, "SciFact documents in the end-to-end run (with the demo folder)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := bench.Ingest(ctx, *model, *ortLib, *e2eDocs)
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		for _, name := range []string{"demo", "scifact"} {
			p := rep.Parse[name]
			fmt.Printf("parse+chunk %-8s %6d files %7.1f MB %6d docs %7d chunks: %6.1f MB/s\n", name, p.Files, float64(p.Bytes)/1e6, p.Docs, p.Chunks, rep.ParseMBs[name])
		}
		fmt.Printf("end to end (%s, demo + %d SciFact docs): %d docs in %.1f s = %.1f docs/s; parse+chunk %.1f%% of it\n",
			rep.Model, *e2eDocs, rep.E2EDocs, rep.E2ES, rep.E2EDocsS, 100*rep.ParseShare)
	})
}

func httpCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	model := fs.String("model", "", "embedding model (default: the best available, use-lite-en here)")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	conns := fs.Int("conns", 16, "concurrent connections")
	dur := fs.Duration("duration", 10*time.Second, "time per route")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := bench.HTTP(ctx, bench.HTTPOptions{Model: *model, ORTLib: *ortLib, Conns: *conns, Duration: *dur, Log: logTo(*asJSON)})
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("HTTP API, %d connections, %.0f s per route, demo KBs (%d chunks), model %s, %d procs\n", rep.Conns, rep.DurationS, rep.Chunks, rep.Model, rep.Procs)
		for _, r := range rep.Results {
			fmt.Printf("  POST /v1/kbs/{kb}/%-6s %7.1f req/s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  (%d requests, %d errors)\n", r.Route, r.QPS, r.P50MS, r.P90MS, r.P99MS, r.Requests, r.Errors)
		}
	})
}

func wsCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ws", flag.ContinueOnError)
	model := fs.String("model", "", "embedding model (default: the best available)")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	conns := fs.Int("conns", 10000, "idle WebSocket connections to hold")
	asks := fs.Int("asks", 200, "streamed answers timed")
	streams := fs.Int("streams", 8, "sockets asking at the same time")
	tokens := fs.Int("tokens", 20, "tokens per LLM answer")
	interval := fs.Duration("token-interval", 20*time.Millisecond, "time between the fake LLM's tokens")
	asJSON := fs.Bool("json", false, "print JSON")
	dial := fs.String("dial", "", "internal: run as the client process holding the connections to this URL")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dial != "" {
		bench.RaiseFileLimit()
		return bench.HoldConnections(*dial, *conns)
	}
	o := bench.WSOptions{Model: *model, ORTLib: *ortLib, Conns: *conns, Asks: *asks, Streams: *streams, Tokens: *tokens,
		TokenInterval: *interval, Client: []string{os.Args[0], "ws"}, Log: logTo(*asJSON)}
	rep, err := bench.WS(ctx, o)
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("WebSocket chat: %d idle connections held (asked %d), opened in %.1f s\n", rep.Held, rep.Conns, rep.DialS)
		fmt.Printf("  per idle connection: %.1f KB (heap %.1f KB + stacks %.1f KB), RSS %.1f KB, %.2f goroutines\n",
			rep.BytesPerConn/1024, rep.HeapPerConn/1024, rep.StackPerConn/1024, rep.RSSPerConn/1024, rep.GoroutinesConn)
		fmt.Printf("  streamed answers: %d asks on %d sockets, %d tokens %.0f ms apart: added latency per token p50 %.2f ms, p99 %.2f ms, max %.2f ms; first token p50 %.2f ms, p99 %.2f ms\n",
			rep.Asks, rep.Streams, rep.TokensPerAsk, rep.TokenInterval, rep.AddedP50MS, rep.AddedP99MS, rep.AddedMaxMS, rep.FirstP50MS, rep.FirstP99MS)
	})
}

func conversationsCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("conversations", flag.ContinueOnError)
	model := fs.String("model", "", "embedding model (default: the best available)")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	dur := fs.Duration("duration", 5*time.Second, "time per number of writers")
	asks := fs.Int("asks", 1000, "asks timed per way")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := bench.Conversations(ctx, bench.ConversationsOptions{Model: *model, ORTLib: *ortLib, Duration: *dur, Asks: *asks, Log: logTo(*asJSON)})
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("one bbolt commit here: p50 %.2f ms, p99 %.2f ms\n", rep.FsyncP50MS, rep.FsyncP99MS)
		for _, w := range rep.Writes {
			fmt.Printf("  turn writes, %2d writers, webhooks %-5v: %7.0f turns/s  p50 %.2f ms  p99 %.2f ms\n", w.Writers, w.WithWebhooks, w.TurnsPerS, w.P50MS, w.P99MS)
		}
		fmt.Printf("asks (%d each, %s): answerer alone p50 %.2f / p99 %.2f ms; with stored turns p50 %.2f / p99 %.2f ms; added p50 %+.2f, p99 %+.2f, mean %+.2f ms\n",
			rep.Asks, rep.Model, rep.BaseP50MS, rep.BaseP99MS, rep.DeskP50MS, rep.DeskP99MS, rep.AddedP50MS, rep.AddedP99MS, rep.AddedMeanMS)
	})
}

func outboxCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("outbox", flag.ContinueOnError)
	events := fs.Int("events", 5000, "events enqueued and delivered")
	workers := fs.Int("workers", 0, "concurrent attempts (default: the dispatcher's, 16)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := bench.Outbox(ctx, bench.OutboxOptions{Events: *events, Workers: *workers})
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("webhook outbox, %d events: enqueued %.0f/s (one per transaction, 8 writers); delivered %.0f/s with %d workers (%.1f s); %d recorded delivered\n",
			rep.Events, rep.EnqueuePerS, rep.DeliveredPer, rep.Workers, rep.DeliverS, rep.Delivered)
	})
}

func backupCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	n := fs.Int("chunks", 100_000, "chunks in the KB")
	dim := fs.Int("dim", 384, "vector dimensions")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	progress := func(s string) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\r%s   ", s)
		}
	}
	rep, err := bench.Archive(ctx, bench.ArchiveOptions{Chunks: *n, Dim: *dim, Progress: progress})
	if err != nil {
		return err
	}
	return output(*asJSON, rep, func() {
		fmt.Printf("\nKB archive of %d chunks (%d dims), %d documents with %.1f MB of sources:\n", rep.Chunks, rep.Dim, rep.Documents, float64(rep.SourceBytes)/1e6)
		fmt.Printf("  archive %.1f MB, unpacked %.1f MB (vectors %.1f MB): compression %.2f×\n", float64(rep.ArchiveBytes)/1e6, float64(rep.UnpackedBytes)/1e6, float64(rep.VectorBytes)/1e6, rep.Ratio)
		fmt.Printf("  export %.1f s (%.0f MB/s unpacked, heap +%.0f MB); import %.1f s (%.0f MB/s, heap +%.0f MB)\n", rep.ExportS, rep.ExportMBs, rep.ExportHeapMB, rep.ImportS, rep.ImportMBs, rep.ImportHeapMB)
		fmt.Printf("  writing the same KB directly took %.1f s (heap +%.0f MB): the import takes %.2f× that\n", rep.BuildS, rep.BuildHeapMB, rep.ImportVsBuild)
	})
}
