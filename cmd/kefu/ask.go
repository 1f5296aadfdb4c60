package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
)

func runAsk(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	var c common
	c.register(fs)
	kb := fs.String("kb", "", "knowledge base (required)")
	asJSON := fs.Bool("json", false, "print the Answer object as JSON")
	conv := fs.String("conversation", "", "conversation id, for follow-up questions (the answer prints a new one when none is given)")
	llm := llmFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu ask --kb NAME [--json] QUESTION")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	question := strings.Join(pos, " ")
	if *kb == "" {
		return missing(fs, "--kb is required: the knowledge base that answers")
	}
	if question == "" {
		return missing(fs, "the question is missing: give it after the flags")
	}
	a, err := newApp(c)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.store.KB(ctx, *kb); err != nil {
		return err
	}
	e, err := a.embedder(ctx, *kb)
	if err != nil {
		return err
	}
	global, err := llm.settings()
	if err != nil {
		return err
	}
	hosts, err := llm.hosts()
	if err != nil {
		return err
	}
	svc, _, err := a.desk(a.retriever(e), answer.Options{LLM: global, KBHosts: hosts}, nil)
	if err != nil {
		return err
	}
	var onDelta func(string)
	if !*asJSON {
		onDelta = func(s string) { fmt.Print(s) }
	}
	ans, err := svc.Ask(ctx, kefu.AskRequest{KB: *kb, Question: question, ConversationID: *conv, Channel: kefu.ChannelCLI}, onDelta)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(ans)
	}
	fmt.Println()
	if ans.Disclaimer != "" && !strings.Contains(ans.Text, ans.Disclaimer) {
		fmt.Println("\n" + ans.Disclaimer)
	}
	for _, ci := range ans.Citations {
		fmt.Printf("[%d] %s (%s)\n", ci.N, cmp.Or(ci.Title, ci.DocID), ci.DocID)
	}
	fmt.Fprintf(os.Stderr, "route %s, confidence %.2f, %.0f ms, conversation %s (%s)\n", ans.Route, ans.Confidence, ans.Timings.TotalMS, ans.ConversationID, ans.State)
	return nil
}

// llmOptions are the flags of an OpenAI-compatible LLM, and of where the
// LLMs KBs name may be.
type llmOptions struct{ base, model, key, allow *string }

func llmFlags(fs *flag.FlagSet) llmOptions {
	return llmOptions{
		base:  fs.String("llm-base-url", os.Getenv("KEFU_LLM_BASE_URL"), "OpenAI-compatible API base URL, e.g. http://localhost:11434/v1 (env KEFU_LLM_BASE_URL; empty: answer extractively)"),
		model: fs.String("llm-model", os.Getenv("KEFU_LLM_MODEL"), "LLM model name (env KEFU_LLM_MODEL)"),
		key:   fs.String("llm-api-key", "", "LLM API key (env KEFU_LLM_API_KEY; prefer the env)"),
		allow: fs.String("llm-allow-hosts", "", "comma-separated hosts a KB's own LLM base_url may name: host, host:port or *.example.com; default: any public host (never loopback, private or link-local addresses) and the --llm-base-url host"),
	}
}

// settings returns the global LLM, nil when none is configured.
func (o llmOptions) settings() (*kefu.LLMSettings, error) {
	if *o.base == "" {
		return nil, nil
	}
	if _, err := kefu.ParseLLMURL(*o.base); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "--llm-base-url: %s", kefu.ErrorMessage(err))
	}
	key := *o.key
	if key == "" {
		key = os.Getenv("KEFU_LLM_API_KEY")
	}
	return &kefu.LLMSettings{BaseURL: *o.base, Model: *o.model, APIKey: key, Temperature: 0.2, MaxTokens: 512, ContextTokens: 8192}, nil
}

// hosts returns where the LLMs KBs name may be (kefu.LLMHosts).
func (o llmOptions) hosts() (*kefu.LLMHosts, error) {
	allow, err := kefu.ParseAllowHosts(*o.allow)
	if err != nil {
		return nil, err
	}
	return &kefu.LLMHosts{Allow: allow, Global: *o.base}, nil
}
