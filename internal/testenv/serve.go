package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The kefu binary of this test binary: built once by BuildKefu, removed by
// Run when the tests end.
var build struct {
	sync.Mutex
	running bool // Run is running the tests
	dir     string
	bin     string
	err     error
}

// Run runs a package's tests and then removes the kefu binary BuildKefu
// built; it returns m.Run's code. A package whose tests build or start kefu
// calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
func Run(m *testing.M) int {
	build.Lock()
	build.running = true
	build.Unlock()
	code := m.Run()
	build.Lock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	build.dir, build.bin, build.err, build.running = "", "", nil, false
	build.Unlock()
	return code
}

// BuildKefu returns the path of the kefu binary built from ./cmd/kefu with
// the test's environment (GOEXPERIMENT, CGO_ENABLED…), built once per test
// binary. It fails the test when the package's TestMain does not call Run,
// which removes the binary.
func BuildKefu(tb testing.TB) string {
	tb.Helper()
	build.Lock()
	defer build.Unlock()
	if !build.running {
		tb.Fatal("testenv.BuildKefu: call testenv.Run from the package's TestMain, so the binary is removed when the tests end")
	}
	if build.bin == "" && build.err == nil {
		build.err = buildKefu()
	}
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.bin
}

func buildKefu() error {
	root := ModuleRoot()
	if root == "" {
		return errors.New("testenv.BuildKefu: module root not found")
	}
	dir, err := os.MkdirTemp("", "kefu-test-bin-")
	if err != nil {
		return err
	}
	build.dir = dir
	bin := filepath.Join(dir, "kefu")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kefu")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/kefu: %v\n%s", err, out)
	}
	build.bin = bin
	return nil
}

// KefuEnv is the environment of kefu child processes: the test's own, with
// the shared folder (models, data) and the ONNX Runtime library.
func KefuEnv() []string {
	return append(os.Environ(), "KEFU_SHARED="+SharedDir(), "KEFU_ORT_LIB="+ORTLib())
}

// RunKefu runs a kefu command (ingest, keys create, eval…) to completion in
// KefuEnv and returns its standard output, failing the test with its output
// when it fails.
func RunKefu(tb testing.TB, args ...string) string {
	tb.Helper()
	RequireORT(tb)
	cmd := exec.Command(BuildKefu(tb), args...)
	cmd.Env = KefuEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("kefu %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// ServeOptions configure StartServe.
type ServeOptions struct {
	// DataDir is the data directory; default a new one in the test's
	// temporary directory.
	DataDir string
	// Args are the flags after `serve --addr ADDR --data-dir DIR`, such as
	// --model tiny-en.
	Args []string
	// Ready bounds the wait for /readyz; default 5 minutes (a loaded
	// machine loads the model slowly).
	Ready time.Duration
}

// DefaultReady is how long StartServe waits for /readyz by default.
const DefaultReady = 5 * time.Minute

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 30 * time.Second

// Serve is a child `kefu serve` process of a test, started by StartServe,
// on a free loopback port. Its methods fail the test they were started by,
// so call them from that test's goroutine.
type Serve struct {
	// URL is the server's base URL, http://127.0.0.1:PORT; a Restart
	// listens on another port and changes it.
	URL string
	// DataDir is the data directory, kept across restarts.
	DataDir string

	tb   testing.TB
	opts ServeOptions
	p    *proc
}

// proc is one run of the process.
type proc struct {
	cmd  *exec.Cmd
	logs SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

// StartServe builds kefu (BuildKefu) and starts `kefu serve` in KefuEnv
// with opts, returning once /readyz answers 200. It fails the test when the
// process exits first or is not ready within opts.Ready. When the test ends
// a process still running is stopped (Stop), and the output of every run is
// logged if the test failed.
func StartServe(tb testing.TB, opts ServeOptions) *Serve {
	tb.Helper()
	RequireORT(tb)
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(tb.TempDir(), "data")
	}
	if opts.Ready <= 0 {
		opts.Ready = DefaultReady
	}
	s := &Serve{DataDir: opts.DataDir, tb: tb, opts: opts}
	s.start()
	return s
}

func (s *Serve) start() {
	s.tb.Helper()
	bin := BuildKefu(s.tb)
	addr := freeAddr(s.tb)
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--data-dir", s.DataDir}, s.opts.Args...)...)
	p.cmd.Env = KefuEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	s.p, s.URL = p, "http://"+addr
	url := s.URL
	s.tb.Cleanup(func() {
		p.stop()
		if s.tb.Failed() {
			s.tb.Logf("kefu serve (%s) output:\n%s", url, p.logs.String())
		}
	})
	for deadline := time.Now().Add(s.opts.Ready); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-p.done:
			s.tb.Fatalf("kefu serve exited before it was ready: %v\n%s", p.err, p.logs.String())
		default:
		}
		if res, err := http.Get(s.URL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("kefu serve not ready after %v\n%s", s.opts.Ready, p.logs.String())
		}
	}
}

// Kill ends the process with SIGKILL, as a crash does (no shutdown, no
// flush), and waits until it is gone.
func (s *Serve) Kill() {
	s.tb.Helper()
	select {
	case <-s.p.done:
		s.tb.Fatalf("kill: kefu serve had already exited: %v", s.p.err)
	default:
	}
	if err := s.p.cmd.Process.Kill(); err != nil {
		s.tb.Fatal(err)
	}
	<-s.p.done
}

// Stop ends the process with SIGTERM, as an operator does, killing it if
// it has not exited 30 s later; it returns the exit status (nil for a
// clean shutdown).
func (s *Serve) Stop() error {
	return s.p.stop()
}

func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("kefu serve did not stop within %v of SIGTERM and was killed", stopGrace)
	}
	return p.err
}

// Restart starts `kefu serve` again on the same data directory, after Kill
// or Stop, with args instead of the first start's flags when any are given,
// and waits until it is ready. URL changes to the new port; Log is the new
// run's.
func (s *Serve) Restart(args ...string) {
	s.tb.Helper()
	select {
	case <-s.p.done:
	default:
		s.tb.Fatal("restart: kefu serve is still running; Kill or Stop it first")
	}
	if len(args) > 0 {
		s.opts.Args = args
	}
	s.start()
}

// Do sends a request to the server (path is below URL) with the headers
// given as name, value pairs (empty values are left out) and returns the
// status and the body, failing the test when no answer comes.
func (s *Serve) Do(method, path string, body io.Reader, header ...string) (int, []byte) {
	s.tb.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		s.tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		s.tb.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, b
}

// Log returns what the current run has written to its standard output and
// error so far.
func (s *Serve) Log() string { return s.p.logs.String() }

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
