package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// capture runs f with standard output and error going to pipes, and
// returns what it wrote to each.
func capture(t *testing.T, f func() error) (stdout, stderr string, err error) {
	t.Helper()
	read := func(target **os.File) (func() string, func()) {
		r, w, perr := os.Pipe()
		if perr != nil {
			t.Fatal(perr)
		}
		old := *target
		*target = w
		out := make(chan string)
		go func() {
			b, _ := io.ReadAll(r)
			out <- string(b)
		}()
		return func() string { return <-out }, func() { w.Close(); *target = old }
	}
	outText, outDone := read(&os.Stdout)
	errText, errDone := read(&os.Stderr)
	err = f()
	outDone()
	errDone()
	return outText(), errText(), err
}

// authScope asks the server what a key may do: its scope, "" when refused.
func authScope(t *testing.T, base, key string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a struct{ Scope string }
	_ = json.NewDecoder(res.Body).Decode(&a)
	if res.StatusCode != 200 {
		return ""
	}
	return a.Scope
}

// While `kefu serve` holds the data directory, `kefu keys` and `kefu eval
// --kb` refuse it saying where the server is and how to go through it
// (--server), and with --server they work through the server's API: keys
// created there authenticate and deleted ones no longer do; the evaluation
// runs in the server and its report is the KB's latest.
func TestKeysAndEvalThroughServer(t *testing.T) {
	ort := testenv.RequireORT(t)
	faq := testenv.Shared(t, "data/demo/shop_faq.csv")
	testenv.Model(t, "use-lite-en")
	t.Setenv("KEFU_SHARED", testenv.SharedDir())
	t.Setenv("KEFU_ORT_LIB", ort)
	t.Setenv("KEFU_SERVER", "")
	t.Setenv("KEFU_API_KEY", "")
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	dd := []string{"--data-dir", data, "--model", "use-lite-en", "--log-level", "error"}

	// Before serving: the shop FAQ and an admin key, on the data directory.
	if _, errOut, err := capture(t, func() error {
		return runIngest(ctx, append([]string{"--kb", "shop", "--id", "shop_faq.csv", faq}, dd...))
	}); err != nil {
		t.Fatalf("ingest: %v\n%s", err, errOut)
	}
	adminOut, _, err := capture(t, func() error { return runKeys(ctx, append([]string{"create", "--scope", "admin"}, dd...)) })
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(adminOut)
	base := testenv.StartServe(t, testenv.ServeOptions{DataDir: data, Args: []string{"--model", "use-lite-en"}}).URL

	// The data directory is held: the error says by whom and how.
	_, _, err = capture(t, func() error { return runKeys(ctx, append([]string{"list"}, dd...)) })
	if kefu.ErrorCode(err) != kefu.ECONFLICT || !strings.Contains(kefu.ErrorMessage(err), "--server "+base) || !strings.Contains(kefu.ErrorMessage(err), "KEFU_API_KEY") {
		t.Errorf("keys list on a held data directory: %v", err)
	}
	questions := testenv.ShopQuestions(t)
	_, _, err = capture(t, func() error {
		return runEval(ctx, append([]string{"--kb", "shop", "--questions", questions}, dd...))
	})
	if kefu.ErrorCode(err) != kefu.ECONFLICT || !strings.Contains(kefu.ErrorMessage(err), "--server "+base) {
		t.Errorf("eval on a held data directory: %v", err)
	}

	// Without a key the server refuses, and the error says which to set.
	_, _, err = capture(t, func() error { return runKeys(ctx, []string{"list", "--server", base}) })
	if kefu.ErrorCode(err) != kefu.EUNAUTHORIZED || !strings.Contains(kefu.ErrorMessage(err), "KEFU_API_KEY") {
		t.Errorf("keys list without a key: %v", err)
	}

	// Keys through the server.
	t.Setenv("KEFU_API_KEY", admin)
	out, errOut, err := capture(t, func() error {
		return runKeys(ctx, []string{"create", "--scope", "query", "--kb", "shop", "--name", "widget", "--server", base})
	})
	if err != nil {
		t.Fatalf("keys create --server: %v\n%s", err, errOut)
	}
	widget := strings.TrimSpace(out)
	if got := authScope(t, base, widget); got != "query" {
		t.Fatalf("the created key's scope on the server: %q (key %q; stderr %s)", got, widget, errOut)
	}
	id := strings.Fields(strings.TrimPrefix(errOut, "created key "))[0]
	out, _, err = capture(t, func() error { return runKeys(ctx, []string{"list", "--server", base}) })
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "widget") {
		t.Errorf("keys list --server: %v\n%s", err, out)
	}
	if _, _, err := capture(t, func() error { return runKeys(ctx, []string{"delete", id, "--server", base}) }); err != nil {
		t.Errorf("keys delete --server: %v", err)
	}
	if got := authScope(t, base, widget); got != "" {
		t.Errorf("a deleted key still authenticates, as %q", got)
	}

	// An evaluation through the server: its report is the KB's latest.
	out, errOut, err = capture(t, func() error {
		return runEval(ctx, []string{"--kb", "shop", "--questions", questions, "--json", "--server", base})
	})
	if err != nil {
		t.Fatalf("eval --server: %v\n%s", err, errOut)
	}
	var rep struct {
		Queries int                           `json:"queries"`
		Modes   map[string]map[string]float64 `json:"modes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --server --json printed %q: %v", out, err)
	}
	if rep.Queries != 8 || rep.Modes["hybrid"]["ndcg@10"] <= 0 {
		t.Errorf("report: %d queries, modes %v", rep.Queries, rep.Modes)
	}
	req, _ := http.NewRequest("GET", base+"/v1/kbs/shop/eval", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.TrimSpace(string(stored)) != strings.TrimSpace(out) {
		t.Errorf("GET /v1/kbs/shop/eval: %d, not the report printed", res.StatusCode)
	}

	// A self-calibration through the server.
	out, errOut, err = capture(t, func() error { return runEval(ctx, []string{"--kb", "shop", "--self-calibrate", "--server", base}) })
	if err != nil || !strings.Contains(out, "self-calibrated") {
		t.Errorf("eval --self-calibrate --server: %v\n%s%s", err, out, errOut)
	}
}
