package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/api"
)

// LoadResult is one route's throughput and latency under a fixed number of
// concurrent connections.
type LoadResult struct {
	Route    string  `json:"route"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	QPS      float64 `json:"qps"`
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	P99MS    float64 `json:"p99_ms"`
}

// HTTPBench is the result of `kefu bench http`.
type HTTPBench struct {
	Model     string       `json:"model"`
	KBs       []string     `json:"kbs"`
	Chunks    int          `json:"chunks"`
	Conns     int          `json:"conns"`
	DurationS float64      `json:"duration_s"` // per route
	Procs     int          `json:"procs"`
	SetupS    float64      `json:"setup_s"` // ingesting the demo
	Results   []LoadResult `json:"results"`
	Notes     string       `json:"notes"`
}

// benchEnv is a kefu server on a loopback port over a temporary data dir.
type benchEnv struct {
	a    *app
	srv  *api.Server
	base string
	e    kefu.Embedder
	dir  string
	done chan struct{}
}

// startBenchServer opens a temporary data directory, loads the model,
// lets prepare fill it, and serves the API in dev mode without rate limits
// and without the answer cache (every ask does the work).
func startBenchServer(ctx context.Context, model, ortLib string, prepare func(a *app, e kefu.Embedder) error) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "kefu-bench-http-")
	if err != nil {
		return nil, err
	}
	a, err := newApp(common{dataDir: dir, model: model, ortLib: ortLib, logLevel: "error"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	env := &benchEnv{a: a, dir: dir, done: make(chan struct{})}
	e, err := a.embedder(ctx, "")
	if err != nil {
		env.close()
		return nil, err
	}
	env.e = e
	if err := prepare(a, e); err != nil {
		env.close()
		return nil, err
	}
	r := a.retriever(e)
	ans, err := a.answerer(r, answer.Options{CacheSize: -1})
	if err != nil {
		env.close()
		return nil, err
	}
	env.srv = api.New(api.Config{Store: a.store, Retriever: r, Answerer: ans, Ingester: a.ingester(e), Embedder: e,
		Keys: a.store, AnswerLog: a.store, Logger: a.log, DevMode: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		env.close()
		return nil, err
	}
	env.base = "http://" + ln.Addr().String()
	go func() {
		defer close(env.done)
		env.srv.Serve(ln)
	}()
	return env, nil
}

func (env *benchEnv) close() {
	if env.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		env.srv.Shutdown(ctx)
		cancel()
		<-env.done
	}
	env.a.close()
	os.RemoveAll(env.dir)
}

func benchHTTPCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench http", flag.ContinueOnError)
	model := fs.String("model", "", "embedding model (default: the best available, use-lite-en here)")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	conns := fs.Int("conns", 16, "concurrent connections")
	dur := fs.Duration("duration", 10*time.Second, "time per route")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	shared, err := sharedDir()
	if err != nil {
		return err
	}
	demo := filepath.Join(shared, "data", "demo")
	questions, err := faqQuestions(filepath.Join(demo, "shop_faq.csv"))
	if err != nil {
		return err
	}
	t0 := time.Now()
	env, err := startBenchServer(ctx, *model, *ortLib, func(a *app, e kefu.Embedder) error {
		if !*asJSON {
			fmt.Fprintln(os.Stderr, "ingesting the demo knowledge bases…")
		}
		if err := a.seedDemo(ctx, demo, e); err != nil {
			return err
		}
		return a.store.Flush()
	})
	if err != nil {
		return err
	}
	defer env.close()
	rep := &HTTPBench{Model: env.e.ModelID(), KBs: []string{"shop", "help"}, Conns: *conns, DurationS: dur.Seconds(),
		Procs: runtime.GOMAXPROCS(0), SetupS: time.Since(t0).Seconds(),
		Notes: "server and load generator share this machine's cores; keep-alive connections; dev mode, no rate limit, answer cache off; " +
			"queries: the shop FAQ's questions, alternately on the shop and help KBs"}
	for _, kb := range rep.KBs {
		st, err := env.a.store.Stats(ctx, kb)
		if err != nil {
			return err
		}
		rep.Chunks += st.Chunks
	}
	for _, rt := range []struct{ route, field string }{{"search", "query"}, {"ask", "question"}} {
		res, err := loadRoute(ctx, env.base, rt.route, rt.field, questions, *conns, *dur)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, *res)
	}
	return printResult(*asJSON, rep, func() {
		fmt.Printf("HTTP API, %d connections, %.0f s per route, demo KBs (%d chunks), model %s, %d procs\n", rep.Conns, rep.DurationS, rep.Chunks, rep.Model, rep.Procs)
		for _, r := range rep.Results {
			fmt.Printf("  POST /v1/kbs/{kb}/%-6s %7.1f req/s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  (%d requests, %d errors)\n", r.Route, r.QPS, r.P50MS, r.P90MS, r.P99MS, r.Requests, r.Errors)
		}
	})
}

// faqQuestions reads the questions of an FAQ CSV (first column).
func faqQuestions(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var qs []string
	for _, r := range recs[1:] {
		qs = append(qs, r[0])
	}
	return qs, nil
}

// loadRoute posts questions to /v1/kbs/{kb}/{route} from conns goroutines
// for dur, after one second of warm-up.
func loadRoute(ctx context.Context, base, route, field string, questions []string, conns int, dur time.Duration) (*LoadResult, error) {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var (
		mu       sync.Mutex
		lat      []float64
		errs     int
		measured atomic.Bool
		next     atomic.Int64
	)
	stop := time.Now().Add(time.Second + dur)
	go func() {
		time.Sleep(time.Second)
		measured.Store(true)
	}()
	var wg sync.WaitGroup
	var firstErr error
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []float64
			localErrs := 0
			for time.Now().Before(stop) && ctx.Err() == nil {
				i := next.Add(1)
				kb := "shop"
				if i%2 == 1 {
					kb = "help"
				}
				body, _ := json.Marshal(map[string]string{field: questions[int(i)%len(questions)]})
				t0 := time.Now()
				resp, err := client.Post(base+"/v1/kbs/"+kb+"/"+route, "application/json", bytes.NewReader(body))
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				if !measured.Load() {
					continue
				}
				if !ok {
					localErrs++
					if err == nil {
						err = fmt.Errorf("%s: status %d", route, resp.StatusCode)
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				local = append(local, ms(d))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErrs
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		return nil, fmt.Errorf("bench %s: no request succeeded: %v", route, firstErr)
	}
	return &LoadResult{Route: route, Requests: len(lat), Errors: errs, QPS: float64(len(lat)) / dur.Seconds(),
		P50MS: pct(lat, 50), P90MS: pct(lat, 90), P99MS: pct(lat, 99)}, nil
}

// WSBench is the result of `kefu bench ws`.
type WSBench struct {
	Conns          int     `json:"conns"`          // idle connections asked for
	Held           int     `json:"held"`           // connections the server held at once
	DialS          float64 `json:"dial_s"`         // time to open them all
	BytesPerConn   float64 `json:"bytes_per_conn"` // server heap in use + goroutine stacks, per idle connection
	HeapPerConn    float64 `json:"heap_per_conn"`  // of which heap
	StackPerConn   float64 `json:"stack_per_conn"` // of which stacks
	RSSPerConn     float64 `json:"rss_per_conn"`   // resident memory growth of the server process, per connection
	GoroutinesConn float64 `json:"goroutines_per_conn"`
	MemoryNote     string  `json:"memory_note"`

	Asks          int     `json:"asks"`
	Streams       int     `json:"streams"` // sockets asking concurrently
	TokensPerAsk  int     `json:"tokens_per_ask"`
	TokenInterval float64 `json:"token_interval_ms"`
	Tokens        int     `json:"tokens_measured"`
	AddedP50MS    float64 `json:"added_p50_ms"` // client arrival - LLM send, per token
	AddedP99MS    float64 `json:"added_p99_ms"`
	AddedMaxMS    float64 `json:"added_max_ms"`
	FirstP50MS    float64 `json:"first_token_added_p50_ms"`
	FirstP99MS    float64 `json:"first_token_added_p99_ms"`
	LatencyNote   string  `json:"latency_note"`
}

func benchWSCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench ws", flag.ContinueOnError)
	model := fs.String("model", "", "embedding model (default: the best available)")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so")
	conns := fs.Int("conns", 10000, "idle WebSocket connections to hold")
	asks := fs.Int("asks", 200, "streamed answers timed")
	streams := fs.Int("streams", 8, "sockets asking at the same time")
	tokens := fs.Int("tokens", 20, "tokens per LLM answer")
	interval := fs.Duration("token-interval", 20*time.Millisecond, "time between the fake LLM's tokens")
	asJSON := fs.Bool("json", false, "print JSON")
	dial := fs.String("dial", "", "internal: run as the client process holding the connections to this URL")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	raiseFileLimit()
	if *dial != "" {
		return holdConnections(*dial, *conns)
	}
	llm := newBenchLLM(*tokens, *interval)
	defer llm.close()
	env, err := startBenchServer(ctx, *model, *ortLib, func(a *app, e kefu.Embedder) error {
		kb, err := a.ensureKB(ctx, "bench", e, nil)
		if err != nil {
			return err
		}
		kb.Settings.Threshold, kb.Settings.Floor = 0.05, 0.01
		kb.Settings.LLM = &kefu.LLMSettings{BaseURL: llm.url, Model: "bench", MaxTokens: 512, ContextTokens: 8192}
		if err := a.store.UpdateKB(ctx, kb); err != nil {
			return err
		}
		_, err = a.ingester(e).Ingest(ctx, "bench", []kefu.Upload{{Name: "kettle.md", Size: int64(len(benchDoc)), Open: readerOf([]byte(benchDoc))}}, nil)
		return err
	})
	if err != nil {
		return err
	}
	defer env.close()
	rep := &WSBench{Conns: *conns, Asks: *asks, Streams: *streams, TokensPerAsk: *tokens, TokenInterval: ms(*interval),
		MemoryNote: "runtime.MemStats of the server process (HeapInuse + StackInuse) after runtime.GC, before and after the client process " +
			"opened the connections and 11 s later (fasthttp's idle upgrade workers gone); the clients run in a child process",
		LatencyNote: "a local fake OpenAI-compatible LLM streams tokens at fixed intervals; per token, the time from its flush by the LLM to its arrival " +
			"at a WebSocket client in this process (same clock), while the idle connections are held"}
	wsBase := "ws" + strings.TrimPrefix(env.base, "http") + "/v1/kbs/bench/chat"

	// Idle connections, held by a child process.
	before := serverMem()
	t0 := time.Now()
	child := exec.CommandContext(ctx, os.Args[0], "bench", "ws", "--dial", wsBase, "--conns", strconv.Itoa(*conns))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("bench ws: the client process failed: %v", err)
	}
	opened, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	for i := 0; i < 200 && env.srv.Chats() < opened; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	rep.DialS = time.Since(t0).Seconds()
	rep.Held = env.srv.Chats()
	if !*asJSON {
		fmt.Fprintf(os.Stderr, "holding %d connections; measuring memory in 11 s…\n", rep.Held)
	}
	time.Sleep(11 * time.Second)
	after := serverMem()
	if rep.Held > 0 {
		n := float64(rep.Held)
		rep.HeapPerConn = float64(after.heap-before.heap) / n
		rep.StackPerConn = float64(after.stack-before.stack) / n
		rep.BytesPerConn = rep.HeapPerConn + rep.StackPerConn
		rep.RSSPerConn = float64(after.rss-before.rss) / n
		rep.GoroutinesConn = float64(after.goroutines-before.goroutines) / n
	}

	// Streamed answers while the idle connections are held.
	added, first, err := streamLatency(wsBase, llm, *asks, *streams)
	if err != nil {
		return err
	}
	rep.Tokens = len(added)
	rep.AddedP50MS, rep.AddedP99MS, rep.AddedMaxMS = pct(added, 50), pct(added, 99), pct(added, 100)
	rep.FirstP50MS, rep.FirstP99MS = pct(first, 50), pct(first, 99)
	return printResult(*asJSON, rep, func() {
		fmt.Printf("WebSocket chat: %d idle connections held (asked %d), opened in %.1f s\n", rep.Held, rep.Conns, rep.DialS)
		fmt.Printf("  per idle connection: %.1f KB (heap %.1f KB + stacks %.1f KB), RSS %.1f KB, %.2f goroutines\n",
			rep.BytesPerConn/1024, rep.HeapPerConn/1024, rep.StackPerConn/1024, rep.RSSPerConn/1024, rep.GoroutinesConn)
		fmt.Printf("  streamed answers: %d asks on %d sockets, %d tokens %.0f ms apart: added latency per token p50 %.2f ms, p99 %.2f ms, max %.2f ms; first token p50 %.2f ms, p99 %.2f ms\n",
			rep.Asks, rep.Streams, rep.TokensPerAsk, rep.TokenInterval, rep.AddedP50MS, rep.AddedP99MS, rep.AddedMaxMS, rep.FirstP50MS, rep.FirstP99MS)
	})
}

// benchDoc is the passage the streamed answers cite.
const benchDoc = `# Warranty

Every kefu kettle has a warranty of two years from the day of delivery.
The warranty covers defects of the heating element and the lid hinge.
`

type memSample struct{ heap, stack, rss, goroutines int64 }

func serverMem() memSample {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSample{heap: int64(m.HeapInuse), stack: int64(m.StackInuse), rss: rssBytes(), goroutines: int64(runtime.NumGoroutine())}
}

// rssBytes reads the process's resident set size from /proc.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// raiseFileLimit lifts the soft limit on open files to the hard one: each
// connection is a file descriptor.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// holdConnections is the client process of `kefu bench ws`: it opens n
// WebSocket connections, says "ready N" on standard output, and holds them
// (answering pings) until its standard input closes.
func holdConnections(url string, n int) error {
	d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 256, WriteBufferSize: 256}
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, _, err := d.Dial(url, nil)
				if err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "bench ws client: dial: %v\n", err)
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	held := 0
	for _, c := range conns {
		if c != nil {
			held++
			go func() { // answers pings; ends when the connection does
				for {
					if _, _, err := c.NextReader(); err != nil {
						return
					}
				}
			}()
		}
	}
	fmt.Printf("ready %d\n", held)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return nil
}

// benchLLM is a local OpenAI-compatible chat API that streams tokens at
// fixed intervals and records when it flushed each one, by ask.
type benchLLM struct {
	srv      *http.Server
	url      string
	tokens   int
	interval time.Duration

	mu    sync.Mutex
	sends map[string][]tokenTime // ask marker → tokens sent
}

// tokenTime is the text length streamed so far and when.
type tokenTime struct {
	cum int
	at  time.Time
}

func newBenchLLM(tokens int, interval time.Duration) *benchLLM {
	l := &benchLLM{tokens: tokens, interval: interval, sends: map[string][]tokenTime{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l.url = "http://" + ln.Addr().String() + "/v1"
	l.srv = &http.Server{Handler: http.HandlerFunc(l.serve)}
	go l.srv.Serve(ln)
	return l
}

func (l *benchLLM) close() { l.srv.Close() }

// words of the streamed answers: each token begins with a space, so the
// answerer's citation filter passes it on at once.
var benchWords = strings.Fields("the kettle warranty lasts two years from delivery and covers the heating element and the lid hinge against defects")

func (l *benchLLM) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	marker := ""
	if i := bytes.Index(body, []byte("ask-")); i >= 0 {
		j := i + 4
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			j++
		}
		marker = string(body[i:j])
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	write := func(content, finish string) {
		fr := "null"
		if finish != "" {
			fr = strconv.Quote(finish)
		}
		fmt.Fprintf(w, "data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":%s}]}\n\n", strconv.Quote(content), fr)
		fl.Flush()
	}
	var sent []tokenTime
	cum := 0
	next := time.Now()
	for i := 0; i < l.tokens; i++ {
		tok := " " + benchWords[i%len(benchWords)]
		if i == 0 {
			tok = "Answer"
		}
		if i == l.tokens-1 {
			tok = " [1]."
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		write(tok, "")
		cum += len(tok)
		sent = append(sent, tokenTime{cum, time.Now()})
		next = next.Add(l.interval)
		if r.Context().Err() != nil {
			return
		}
	}
	write("", "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
	l.mu.Lock()
	l.sends[marker] = sent
	l.mu.Unlock()
}

// streamLatency asks n questions over streams sockets and compares each
// delta's arrival with the LLM's flush of the token that completed it.
func streamLatency(url string, llm *benchLLM, n, streams int) (added, first []float64, err error) {
	type arrival struct {
		marker string
		recv   []tokenTime
	}
	var (
		mu       sync.Mutex
		arrivals []arrival
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			defer c.Close()
			for {
				i := next.Add(1)
				if int(i) > n {
					return
				}
				marker := "ask-" + strconv.FormatInt(i, 10)
				q := map[string]string{"type": "ask", "id": marker, "question": "How long is the kettle warranty? (" + marker + ")"}
				if err := c.WriteJSON(q); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				var recv []tokenTime
				cum := 0
				for {
					c.SetReadDeadline(time.Now().Add(60 * time.Second))
					_, data, err := c.ReadMessage()
					at := time.Now()
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					var m struct{ Type, Text, Code, Message string }
					json.Unmarshal(data, &m)
					if m.Type == "delta" {
						cum += len(m.Text)
						recv = append(recv, tokenTime{cum, at})
					}
					if m.Type == "error" {
						mu.Lock()
						firstErr = fmt.Errorf("ask: %s: %s", m.Code, m.Message)
						mu.Unlock()
						return
					}
					if m.Type == "done" || m.Type == "handoff" {
						break
					}
				}
				mu.Lock()
				arrivals = append(arrivals, arrival{marker, recv})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil && len(arrivals) == 0 {
		return nil, nil, firstErr
	}
	llm.mu.Lock()
	defer llm.mu.Unlock()
	for _, a := range arrivals {
		sent := llm.sends[a.marker]
		j := 0
		for k, s := range sent {
			for j < len(a.recv) && a.recv[j].cum < s.cum {
				j++
			}
			if j == len(a.recv) {
				break
			}
			d := ms(a.recv[j].at.Sub(s.at))
			added = append(added, d)
			if k == 0 {
				first = append(first, d)
			}
		}
	}
	if len(added) == 0 {
		return nil, nil, fmt.Errorf("bench ws: no token matched (did the answers take the LLM route?)")
	}
	return added, first, nil
}
