package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

// remote is a running `kefu serve` that a command works through, over its
// API, while the server holds the data directory.
type remote struct {
	url  string // base URL; "" works on the data directory
	key  string // API key, from KEFU_API_KEY (never a flag: flags show in ps)
	http *http.Client
	poll time.Duration // how often a job's progress is read
}

func (r *remote) register(fs *flag.FlagSet) {
	fs.StringVar(&r.url, "server", os.Getenv("KEFU_SERVER"), "work through this running kefu serve's API (http://HOST:PORT) rather than the data directory, which the server holds; the API key comes from $KEFU_API_KEY (env KEFU_SERVER)")
	r.key = os.Getenv("KEFU_API_KEY")
}

// serverURLFile is where `kefu serve` notes its address in the data
// directory, so that a command refused the directory can say where the
// server is.
const serverURLFile = "server.url"

// noteServerURL writes the server's address into the data directory.
func noteServerURL(dataDir, base string) error {
	return atomicfile.WriteFile(filepath.Join(dataDir, serverURLFile), []byte(base+"\n"), 0o644)
}

// localURL is the URL this machine reaches a listener at: a wildcard
// address (0.0.0.0, ::) by loopback.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// lockedHint turns the error of a data directory held by `kefu serve` into
// what to do: run the command through the server with --server.
func (r *remote) lockedHint(err error, dataDir, command string) error {
	base := "http://HOST:PORT"
	if b, rerr := os.ReadFile(filepath.Join(dataDir, serverURLFile)); rerr == nil && strings.HasPrefix(string(b), "http") {
		base = strings.TrimSpace(string(b))
	}
	return kefu.Errorf(kefu.ECONFLICT, "%s (kefu serve holds it, at %s); run the command through the server instead: kefu %s --server %s, with an admin key in KEFU_API_KEY (none in development mode)",
		kefu.ErrorMessage(err), base, command, base)
}

// do sends one API request with a JSON body (nil for none) and decodes
// the JSON answer into out (nil to discard). API errors come back as
// domain errors with the server's code and message.
func (r *remote) do(ctx context.Context, method, path string, body, out any) error {
	u, err := url.Parse(strings.TrimRight(r.url, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return kefu.Errorf(kefu.EINVALID, "--server %q: give the server's URL, e.g. http://127.0.0.1:8080", r.url)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	client := r.http
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	res, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return kefu.Errorf(kefu.EUNAVAILABLE, "cannot reach kefu at %s: %v", r.url, errors.Unwrap(err))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return kefu.Errorf(kefu.EUNAVAILABLE, "reading the answer of %s: %v", r.url, err)
	}
	if res.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return kefu.Errorf(kefu.EUNAVAILABLE, "%s %s answered %s, not the kefu API", method, u.Redacted(), res.Status)
		}
		msg := eb.Error.Message
		if res.StatusCode == http.StatusUnauthorized && r.key == "" {
			msg += " (set KEFU_API_KEY to an admin key)"
		}
		return kefu.Errorf(eb.Error.Code, "%s", msg)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return kefu.Errorf(kefu.EUNAVAILABLE, "%s %s: not the kefu API's answer: %v", method, u.Redacted(), err)
	}
	return nil
}

// evaluate runs `kefu eval --kb` in the server: it starts the job, follows
// its progress on standard error and prints its result; the report stays
// with the KB (and is copied into out when given).
func (r *remote) evaluate(ctx context.Context, kb string, req kefu.EvalRequest, out string, asJSON bool) error {
	body := api.EvalRequestBody{Questions: string(req.Questions), EvalRequest: req}
	kbPath := "/v1/kbs/" + url.PathEscape(kb)
	var job kefu.EvalJob
	if err := r.do(ctx, http.MethodPost, kbPath+"/eval", body, &job); err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(os.Stderr, "evaluation %s started in %s\n", job.ID, r.url)
	}
	poll := r.poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	for job.FinishedAt == nil {
		select {
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "\nstopped following evaluation %s; it goes on in the server (GET %s/eval/jobs/%s)\n", job.ID, kbPath, job.ID)
			return ctx.Err()
		case <-time.After(poll):
		}
		if err := r.do(ctx, http.MethodGet, kbPath+"/eval/jobs/"+url.PathEscape(job.ID), nil, &job); err != nil {
			return err
		}
		if !asJSON && job.Stage != "" {
			fmt.Fprintf(os.Stderr, "\r%s: %d/%d   ", job.Stage, job.Done, job.Total)
		}
	}
	if !asJSON {
		fmt.Fprintln(os.Stderr)
	}
	if job.Error != nil {
		return kefu.Errorf(job.Error.Code, "%s", job.Error.Message)
	}
	if len(req.Questions) == 0 {
		if asJSON {
			var k kefu.KB
			if err := r.do(ctx, http.MethodGet, kbPath, nil, &k); err != nil {
				return err
			}
			return printJSON(k.Settings.Calibration)
		}
		fmt.Printf("%s: %s\n", kb, job.Result)
		return nil
	}
	var summary, html []byte
	if err := r.do(ctx, http.MethodGet, kbPath+"/eval", nil, &summary); err != nil {
		return err
	}
	if out != "" {
		if err := r.do(ctx, http.MethodGet, kbPath+"/eval/report.html", nil, &html); err != nil {
			return err
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		for name, data := range map[string][]byte{kefu.ReportSummary: summary, kefu.ReportHTML: html} {
			if err := atomicfile.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
				return err
			}
		}
		if !asJSON {
			fmt.Fprintf(os.Stderr, "report written to %s (open %s)\n", out, filepath.Join(out, kefu.ReportHTML))
		}
	}
	if asJSON {
		_, err := os.Stdout.Write(append(bytes.TrimRight(summary, "\n"), '\n'))
		return err
	}
	fmt.Printf("%s: %s\nreport: %s%s/eval/report.html (the console's Evaluation page shows it)\n", kb, job.Result, strings.TrimRight(r.url, "/"), kbPath)
	return nil
}
