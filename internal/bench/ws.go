package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/models"
)

// WSReport is the result of WS.
type WSReport struct {
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

// WSOptions configure WS. Zero fields take the defaults.
type WSOptions struct {
	Model         string        // embedding model; "" is the best available
	ORTLib        string        // ONNX Runtime library; "" looks it up
	Conns         int           // idle connections to hold, default 10000
	Asks          int           // streamed answers timed, default 200
	Streams       int           // sockets asking at the same time, default 8
	Tokens        int           // tokens per LLM answer, default 20
	TokenInterval time.Duration // between the fake LLM's tokens, default 20 ms
	// Client is the command that runs HoldConnections in a child process
	// (the binary and its subcommand); WS adds --dial URL --conns N.
	Client []string
	Log    io.Writer // told what is happening; nil: nothing
}

// WS holds o.Conns idle WebSocket chats, opened by a child process, and
// measures the server's memory per connection; then it streams answers
// from a fake LLM over o.Streams more sockets and measures the latency the
// server adds to each token.
func WS(ctx context.Context, o WSOptions) (*WSReport, error) {
	def(&o.Conns, 10000)
	def(&o.Asks, 200)
	def(&o.Streams, 8)
	def(&o.Tokens, 20)
	def(&o.TokenInterval, 20*time.Millisecond)
	RaiseFileLimit()
	llm := newFakeLLM(o.Tokens, o.TokenInterval)
	defer llm.close()
	s, err := startServer(ctx, o.Model, o.ORTLib, func(s *server) error {
		kb, err := models.EnsureKB(ctx, s.store, "bench", s.e, nil)
		if err != nil {
			return err
		}
		kb.Settings.Threshold, kb.Settings.Floor = 0.05, 0.01
		kb.Settings.LLM = &kefu.LLMSettings{BaseURL: llm.url, Model: "bench", MaxTokens: 512, ContextTokens: 8192}
		if err := s.store.UpdateKB(ctx, kb); err != nil {
			return err
		}
		_, err = s.ing.Ingest(ctx, "bench", []kefu.Upload{{Name: "kettle.md", Size: int64(len(wsDoc)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(wsDoc)), nil }}}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer s.close()
	rep := &WSReport{Conns: o.Conns, Asks: o.Asks, Streams: o.Streams, TokensPerAsk: o.Tokens, TokenInterval: ms(o.TokenInterval),
		MemoryNote: "runtime.MemStats of the server process (HeapInuse + StackInuse) after runtime.GC, before and after the client process " +
			"opened the connections and 11 s later (fasthttp's idle upgrade workers gone); the clients run in a child process",
		LatencyNote: "a local fake OpenAI-compatible LLM streams tokens at fixed intervals; per token, the time from its flush by the LLM to its arrival " +
			"at a WebSocket client in this process (same clock), while the idle connections are held"}
	wsBase := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/kbs/bench/chat"

	// Idle connections, held by a child process.
	if len(o.Client) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "bench ws: no client command")
	}
	before := serverMem()
	t0 := time.Now()
	args := append(append([]string(nil), o.Client[1:]...), "--dial", wsBase, "--conns", strconv.Itoa(o.Conns))
	child := exec.CommandContext(ctx, o.Client[0], args...)
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("bench ws: the client process failed: %v", err)
	}
	opened, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	for i := 0; i < 200 && s.srv.Chats() < opened; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	rep.DialS = time.Since(t0).Seconds()
	rep.Held = s.srv.Chats()
	if o.Log != nil {
		fmt.Fprintf(o.Log, "holding %d connections; measuring memory in 11 s…\n", rep.Held)
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
	added, first, err := streamLatency(wsBase, llm, o.Asks, o.Streams)
	if err != nil {
		return nil, err
	}
	rep.Tokens = len(added)
	rep.AddedP50MS, rep.AddedP99MS, rep.AddedMaxMS = pct(added, 50), pct(added, 99), pct(added, 100)
	rep.FirstP50MS, rep.FirstP99MS = pct(first, 50), pct(first, 99)
	return rep, nil
}

// wsDoc is the passage the streamed answers cite.
const wsDoc = `# Warranty

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

// RaiseFileLimit lifts the soft limit on open files to the hard one: each
// connection is a file descriptor.
func RaiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// HoldConnections is the client process of WS: it opens n
// WebSocket connections, says "ready N" on standard output, and holds them
// (answering pings) until its standard input closes.
func HoldConnections(url string, n int) error {
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

// streamLatency asks n questions over streams sockets and compares each
// delta's arrival with the LLM's flush of the token that completed it.
func streamLatency(url string, llm *fakeLLM, n, streams int) (added, first []float64, err error) {
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
