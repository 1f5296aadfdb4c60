package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index/vector"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/models"
)

var benches = map[string]func(ctx context.Context, args []string) error{
	"embed":  benchEmbedCmd,
	"vector": benchVectorCmd,
	"hnsw":   benchHNSWCmd,
	"search": benchSearchCmd,
	"ingest": benchIngestCmd,
	"http":   benchHTTPCmd,
	"ws":     benchWSCmd,
}

func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 || benches[args[0]] == nil {
		fmt.Fprintf(os.Stderr, "usage: kefu bench <%s> [flags]\n", strings.Join(slices.Sorted(maps.Keys(benches)), "|"))
		return errUsage
	}
	return benches[args[0]](ctx, args[1:])
}

func printResult(asJSON bool, v any, human func()) error {
	if asJSON {
		return printJSON(v)
	}
	human()
	return nil
}

// printJSON writes v to standard output as indented JSON, with <, > and &
// as they are.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// sharedDir finds ../shared (or $KEFU_SHARED) for benchmark data.
func sharedDir() (string, error) {
	if d := testenv.SharedDir(); d != "" {
		return d, nil
	}
	for _, d := range []string{"../shared", "shared"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
	}
	return "", kefu.Errorf(kefu.ENOTFOUND, "benchmark data: ../shared not found (set KEFU_SHARED)")
}

func benchEmbedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench embed", flag.ContinueOnError)
	model := fs.String("model", "minilm-l6-shape", "model name or folder")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	n := fs.Int("texts", 512, "texts to embed")
	rounds := fs.Int("rounds", 2, "rounds per way; the fastest counts")
	minTok := fs.Int("min-tokens", 8, "shortest text, in the model's tokens (the longest fills the model)")
	sessions := fs.Int("sessions", 0, "engine sessions (default one per core)")
	threads := fs.Int("threads", 0, "intra-op threads per engine session (default 1)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
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
	texts, err := benchTexts(ctx, tok, *minTok, spec.MaxTokens-2, *n)
	if err != nil {
		return err
	}
	rep, err := embed.RunBench(ctx, spec, texts, embed.BenchOptions{ORTLib: *ortLib, Rounds: *rounds,
		Engine: embed.Options{Sessions: *sessions, IntraOpThreads: *threads}})
	if err != nil {
		return err
	}
	return printResult(*asJSON, rep, func() {
		fmt.Printf("model %s, %d texts (%d tokens), %d cores\n", rep.Model, rep.Texts, rep.Tokens, rep.Cores)
		fmt.Printf("  engine (%d sessions x %d threads, sorted, %d-token batches): %7.1f texts/s %8.0f tokens/s\n", rep.EngineSessions, rep.EngineThreads, rep.EngineBatchTokens, rep.EngineTextsPerS, rep.EngineTokensPerS)
		fmt.Printf("  padded batches of %d in input order:                        %7.1f texts/s %8.0f tokens/s\n", rep.PaddedBatch, rep.PaddedTextsPerS, rep.PaddedTokensPerS)
		fmt.Printf("  one text per run:                                           %7.1f texts/s %8.0f tokens/s\n", rep.SingleTextsPerS, rep.SingleTokensPerS)
		fmt.Printf("  engine vs padded %.2fx, vs one-by-one %.2fx; time outside ORT %.1f%%\n", rep.RatioVsPadded, rep.RatioVsSingle, 100*rep.OutsideORTShare)
	})
}

// benchTexts takes n texts from the demo docs and the SciFact abstracts,
// with lengths in the model's tokens spread evenly on a log scale from
// minTok (8 by default) to maxTok (embed.MixedLengthTexts): the mix of short questions, FAQ entries
// and full chunks an ingest and a query stream bring.
func benchTexts(ctx context.Context, tok *embed.Tokenizer, minTok, maxTok, n int) ([]string, error) {
	shared, err := sharedDir()
	if err != nil {
		return nil, err
	}
	var docs []string
	add := func(name string, data []byte) {
		parsed, err := ingest.Parse(ctx, name, data, ingest.DefaultLimits())
		if err != nil {
			return
		}
		for _, d := range parsed {
			var b strings.Builder
			for _, blk := range d.Blocks {
				b.WriteString(blk.Text)
				b.WriteString("\n")
			}
			for _, f := range d.FAQs {
				b.WriteString(strings.Join(f.Questions, " ") + " " + f.Answer + "\n")
			}
			docs = append(docs, b.String())
		}
	}
	ups, _ := ingest.Walk(filepath.Join(shared, "data", "demo"))
	for _, u := range ups {
		rc, err := u.Open()
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, 8<<20))
		rc.Close()
		if err == nil {
			add(u.Name, data)
		}
	}
	corpus, err := os.ReadFile(filepath.Join(shared, "data", "eval", "scifact", "corpus.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(corpus) > 2<<20 {
		corpus = corpus[:2<<20]
		if i := bytes.LastIndexByte(corpus, '\n'); i > 0 {
			corpus = corpus[:i+1]
		}
	}
	add("scifact.jsonl", corpus)
	// Alternate the two sources so both contribute to every length.
	rng := rand.New(rand.NewPCG(42, 1))
	rng.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	texts := embed.MixedLengthTexts(tok, docs, n, min(max(minTok, 1), maxTok), maxTok)
	if len(texts) < n {
		return nil, kefu.Errorf(kefu.EINVALID, "bench: only %d texts of the lengths wanted", len(texts))
	}
	return texts, nil
}

func benchVectorCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench vector", flag.ContinueOnError)
	n := fs.Int("n", 100_000, "vectors")
	dim := fs.Int("dim", 384, "dimensions")
	noChromem := fs.Bool("no-chromem", false, "leave out the chromem-go baseline")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rep, err := vector.BenchVector(ctx, vector.BenchVectorOptions{N: *n, Dim: *dim, SkipChromem: *noChromem})
	if err != nil {
		return err
	}
	return printResult(*asJSON, rep, func() {
		fmt.Printf("kernel %s, %d x %d float32\n", rep.Kernel, rep.N, rep.Dim)
		fmt.Printf("  dot: %.1f ns (naive loop %.1f ns): %.1fx\n", rep.DotNs, rep.DotNaiveNs, rep.DotSpeedupVsNaive)
		fmt.Printf("  exact scan: %.2f ms = %.1f GB/s of %.1f GB/s memory read bandwidth (%.0f%%)\n", rep.ScanMs, rep.ScanGBs, rep.MemReadGBs, 100*rep.ScanBandwidthShare)
		if rep.ChromemMs > 0 {
			fmt.Printf("  chromem-go: %.2f ms: exact scan %.1fx faster\n", rep.ChromemMs, rep.ScanSpeedupVsChromem)
		}
		fmt.Printf("  int8 + rescoring: %.2f ms, %.1fx float32, recall@10 %.4f\n", rep.Int8Ms, rep.Int8SpeedupVsF32, rep.Int8RecallAt10)
		fmt.Printf("  load %.1f ms for %d MB\n", rep.LoadMs, rep.FileBytes>>20)
	})
}

func benchHNSWCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench hnsw", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "vectors")
	dim := fs.Int("dim", 384, "dimensions")
	ef := fs.Int("ef", 0, "ef at search (0: default)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rep, err := vector.BenchHNSW(ctx, vector.BenchHNSWOptions{N: *n, Dim: *dim, EfSearch: *ef})
	if err != nil {
		return err
	}
	return printResult(*asJSON, rep, func() {
		fmt.Printf("HNSW %d x %d (M %d, efConstruction %d, ef %d)\n", rep.N, rep.Dim, rep.M, rep.EfConstruction, rep.EfSearch)
		fmt.Printf("  recall@10 %.4f, p50 %.3f ms, p99 %.3f ms (exact scan %.2f ms)\n", rep.RecallAt10, rep.P50Ms, rep.P99Ms, rep.ExactMs)
		fmt.Printf("  build %.1f s on %d goroutines, memory %d MB\n", rep.BuildS, rep.Workers, rep.MemoryBytes>>20)
	})
}

func benchSearchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench search", flag.ContinueOnError)
	n := fs.Int("chunks", 100_000, "chunks in the benchmark KB")
	dim := fs.Int("dim", 384, "vector dimensions")
	q := fs.Int("queries", 500, "queries timed")
	procs := fs.Int("procs", 1, "GOMAXPROCS while timing (1: one core)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed searches to this file")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	shared, err := sharedDir()
	if err != nil {
		return err
	}
	progress := func(s string) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\r%s   ", s)
		}
	}
	rep, err := benchSearch(ctx, shared, *n, *dim, *q, *procs, *cpuProfile, progress)
	if err != nil {
		return err
	}
	return printResult(*asJSON, rep, func() {
		fmt.Printf("\nhybrid search on %d chunks (%d dims), %d queries, embedding excluded:\n", rep.Chunks, rep.Dim, rep.Queries)
		fmt.Printf("  p50 %.2f ms, p90 %.2f ms, p99 %.2f ms (keyword p50 %.2f ms, vector p50 %.2f ms)\n", rep.P50MS, rep.P90MS, rep.P99MS, rep.KeywordP50, rep.VectorP50)
		fmt.Printf("  build %.1f s; reopening the store (vectors loaded, no re-embedding) %.2f s\n", rep.BuildS, rep.StartupS)
	})
}

// IngestBench is the result of `kefu bench ingest`.
type IngestBench struct {
	Parse      map[string]*ingest.ParseBench `json:"parse"`      // per corpus, embedding excluded
	ParseMBs   map[string]float64            `json:"parse_mb_s"` // per corpus
	E2E        *kefu.Job                     `json:"e2e_job"`
	E2EDocs    int                           `json:"e2e_docs"`
	E2ES       float64                       `json:"e2e_s"`
	E2EDocsS   float64                       `json:"e2e_docs_per_s"`
	ParseS     float64                       `json:"e2e_parse_chunk_s"`
	ParseShare float64                       `json:"parse_chunk_share"` // of end-to-end time
	Model      string                        `json:"model"`
}

func benchIngestCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	model := fs.String("model", "minilm-l6-shape", "model for the end-to-end run")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	e2eDocs := fs.Int("e2e-docs", 300, "SciFact documents in the end-to-end run (with the demo folder)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rep, err := benchIngest(ctx, *model, *ortLib, *e2eDocs)
	if err != nil {
		return err
	}
	return printResult(*asJSON, rep, func() {
		for _, name := range []string{"demo", "scifact"} {
			p := rep.Parse[name]
			fmt.Printf("parse+chunk %-8s %6d files %7.1f MB %6d docs %7d chunks: %6.1f MB/s\n", name, p.Files, float64(p.Bytes)/1e6, p.Docs, p.Chunks, rep.ParseMBs[name])
		}
		fmt.Printf("end to end (%s, demo + %d SciFact docs): %d docs in %.1f s = %.1f docs/s; parse+chunk %.1f%% of it\n",
			rep.Model, *e2eDocs, rep.E2EDocs, rep.E2ES, rep.E2EDocsS, 100*rep.ParseShare)
	})
}
