package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-dev/kefu"
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

// HTTPReport is the result of HTTP.
type HTTPReport struct {
	Model     kefu.ModelID `json:"model"`
	KBs       []string     `json:"kbs"`
	Chunks    int          `json:"chunks"`
	Conns     int          `json:"conns"`
	DurationS float64      `json:"duration_s"` // per route
	Procs     int          `json:"procs"`
	SetupS    float64      `json:"setup_s"` // ingesting the demo
	Results   []LoadResult `json:"results"`
	Notes     string       `json:"notes"`
}

// HTTPOptions configure HTTP. Zero fields take the defaults.
type HTTPOptions struct {
	Model    string        // embedding model; "" is the best available
	ORTLib   string        // ONNX Runtime library; "" looks it up
	Conns    int           // concurrent connections, default 16
	Duration time.Duration // time per route, default 10 s
	Log      io.Writer     // told what is being set up; nil: nothing
}

// HTTP serves the demo knowledge bases and loads the search and ask routes
// with the shop FAQ's questions from o.Conns keep-alive connections, one
// route after the other.
func HTTP(ctx context.Context, o HTTPOptions) (*HTTPReport, error) {
	def(&o.Conns, 16)
	def(&o.Duration, 10*time.Second)
	dir, err := sharedDir()
	if err != nil {
		return nil, err
	}
	demoDir := filepath.Join(dir, "data", "demo")
	questions, err := faqQuestions(filepath.Join(demoDir, "shop_faq.csv"))
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	s, err := startServer(ctx, o.Model, o.ORTLib, func(s *server) error {
		if o.Log != nil {
			fmt.Fprintln(o.Log, "ingesting the demo knowledge bases…")
		}
		return s.seedDemo(ctx, demoDir, o.Log)
	})
	if err != nil {
		return nil, err
	}
	defer s.close()
	rep := &HTTPReport{Model: s.e.ModelID(), KBs: []string{"shop", "help"}, Conns: o.Conns, DurationS: o.Duration.Seconds(),
		Procs: runtime.GOMAXPROCS(0), SetupS: time.Since(t0).Seconds(),
		Notes: "server and load generator share this machine's cores; keep-alive connections; dev mode, no rate limit, answer cache off; " +
			"queries: the shop FAQ's questions, alternately on the shop and help KBs"}
	for _, kb := range rep.KBs {
		st, err := s.store.Stats(ctx, kb)
		if err != nil {
			return nil, err
		}
		rep.Chunks += st.Chunks
	}
	for _, rt := range []struct{ route, field string }{{"search", "query"}, {"ask", "question"}} {
		res, err := loadRoute(ctx, s.base, rt.route, rt.field, questions, o.Conns, o.Duration)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, *res)
	}
	return rep, nil
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
