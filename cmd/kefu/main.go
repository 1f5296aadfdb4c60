// Command kefu is the one binary of the kefu knowledge-base service.
//
//	kefu serve  [--addr 127.0.0.1:8080] [--demo DIR]   serve the API and the web console
//	kefu ingest --kb NAME PATH...                      add files or folders to a KB
//	kefu search --kb NAME [--k N] [--json] QUERY       hybrid search
//	kefu ask    --kb NAME [--json] QUESTION            answer a question
//	kefu kb     list|show|create|delete|export|import  manage, back up and move knowledge bases
//	kefu keys   create --scope admin|ingest|agent|query|public [--kb NAME] | list | delete ID
//	kefu conversations list|show|export|purge          stored conversations
//	kefu webhooks list|deliveries|redeliver            webhook subscriptions and the outbox
//	kefu eval   --dataset DIR | --kb NAME --questions FILE
//	kefu models list                                   supported embedding models
//
// Every command takes --data-dir (default $KEFU_DATA_DIR, else ./data),
// --model NAME|DIR and --ort-lib PATH. The benchmarks are another binary,
// kefu-bench (cmd/kefu-bench, built by `make bench`).
//
// This package wires the stages: it parses flags, opens the store, loads
// the models and connects the stages' packages; what a command does
// belongs to them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kefu-dev/kefu"
)

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"serve", "serve the HTTP API and web console", runServe},
		{"ingest", "ingest files or folders into a knowledge base", runIngest},
		{"search", "search a knowledge base", runSearch},
		{"ask", "answer a question from a knowledge base", runAsk},
		{"kb", "list, show, create, delete, export or import knowledge bases", runKB},
		{"keys", "create, list or delete API keys", runKeys},
		{"conversations", "list, show, export or purge stored conversations", runConversations},
		{"webhooks", "list webhooks and deliveries, redeliver dead letters", runWebhooks},
		{"eval", "evaluate retrieval on a labelled dataset", runEval},
		{"bench", "moved to kefu-bench ('make bench' builds bin/kefu-bench)", runBench},
		{"models", "list supported embedding models", runModels},
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kefu <command> [flags] [args]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-13s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'kefu <command> -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			err := c.run(ctx, os.Args[2:])
			var ue *usageError
			if errors.As(err, &ue) {
				printUsageError(os.Stderr, ue)
			} else if err != nil && !errors.Is(err, errUsage) {
				fmt.Fprintf(os.Stderr, "kefu %s: %s\n", c.name, kefu.ErrorMessage(err))
				if kefu.ErrorCode(err) == kefu.EINTERNAL {
					fmt.Fprintf(os.Stderr, "  (%v)\n", err)
				}
			}
			os.Exit(exitCode(err))
		}
	}
	fmt.Fprintf(os.Stderr, "kefu: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

// runBench points to the benchmark binary: the harnesses (a load generator,
// a fake LLM, chromem-go as a baseline) do not ship in the product.
func runBench(ctx context.Context, args []string) error {
	fmt.Fprintln(os.Stderr, "kefu bench moved to its own binary: 'make bench' builds bin/kefu-bench; run 'bin/kefu-bench embed|vector|hnsw|search|ingest|http|ws'")
	return errUsage
}

// printJSON writes v to standard output as indented JSON, with <, > and &
// as they are.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// exitCode maps errors to exit statuses: 2 usage, 3 not found, 4 invalid
// input, 5 unavailable dependency, 1 anything else.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	switch kefu.ErrorCode(err) {
	case kefu.ENOTFOUND:
		return 3
	case kefu.EINVALID, kefu.ETOOLARGE, kefu.EUNSUPPORTED:
		return 4
	case kefu.EUNAVAILABLE, kefu.ETIMEOUT:
		return 5
	}
	return 1
}
