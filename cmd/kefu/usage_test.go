package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A command line that lacks a required flag or argument says which, with
// the command's synopsis, not every flag's default.
func TestMissingArguments(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		run  func(context.Context, []string) error
		args []string
		want string
	}{
		{runSearch, []string{"where is my parcel"}, "--kb is required"},
		{runSearch, []string{"--kb", "shop"}, "the query is missing"},
		{runAsk, []string{"where is my parcel"}, "--kb is required"},
		{runIngest, []string{"docs/"}, "--kb is required"},
		{runIngest, []string{"--kb", "shop"}, "no file or folder given"},
		{runIngest, []string{"--kb", "shop", "--id", "x", "a.md", "b.md"}, "--id names one document"},
		{runKeys, []string{"create"}, "--scope is required"},
		{runKeys, []string{"delete"}, "delete needs one key id"},
		{runKeys, nil, "no subcommand"},
		{runKB, []string{"show"}, "show needs one knowledge base name"},
		{runKB, []string{"rename", "a"}, `unknown subcommand "rename"`},
		{runEval, nil, "give --dataset DIR"},
		{runEval, []string{"--kb", "shop"}, "--kb needs --questions FILE"},
		{runEval, []string{"--kb", "shop", "--self-calibrate", "--server", "http://127.0.0.1:1", "--mode", "bm25"}, "--mode: the server evaluates every mode"},
	} {
		_, stderr, err := capture(t, func() error { return c.run(ctx, c.args) })
		var ue *usageError
		if !errors.As(err, &ue) || !errors.Is(err, errUsage) || !strings.HasPrefix(ue.msg, c.want) {
			t.Errorf("%q: %v, want a usage error starting %q", c.args, err, c.want)
			continue
		}
		if stderr != "" {
			t.Errorf("%q printed %q before the error", c.args, stderr)
		}
		var b strings.Builder
		printUsageError(&b, ue)
		got := b.String()
		if !strings.Contains(got, c.want) || !strings.Contains(got, "usage: kefu "+ue.cmd) || strings.Contains(got, "-data-dir") {
			t.Errorf("%q prints:\n%s", c.args, got)
		}
	}
}
