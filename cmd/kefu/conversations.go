package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/desk"
)

// runConversations lists, shows, exports and purges stored conversations,
// reading the data directory (the server must be stopped; while it runs,
// its API serves the same: GET /v1/conversations, /v1/conversations/export,
// /v1/kbs/KB/conversations/ID).
func runConversations(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("conversations", flag.ContinueOnError)
	var c common
	c.register(fs)
	kb := fs.String("kb", "", "knowledge base (default: every KB; required for show)")
	state := fs.String("state", "", "list, export: bot, waiting, agent, resolved or closed")
	route := fs.String("route", "", "list, export: holding an answer of this route (handoff, unknown…)")
	channel := fs.String("channel", "", "list, export: started on this channel")
	endUser := fs.String("end-user", "", "list, export: of this end user")
	since := fs.String("since", "", "list, export: updated at or after (RFC 3339 or a duration ago: 24h)")
	until := fs.String("until", "", "list, export: updated before (RFC 3339 or a duration ago)")
	limit := fs.Int("limit", 50, "list: conversations shown; export: 0 is all")
	out := fs.String("out", "", "export: write JSONL here instead of standard output")
	asJSON := fs.Bool("json", false, "list, show: print JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu conversations list [filters] | show --kb NAME ID | export [filters] [--out FILE] | purge")
		fmt.Fprintln(fs.Output(), "Reads the data directory: stop the server first, or use its API (GET /v1/conversations…).")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && (pos[0] == "list" || pos[0] == "export" || pos[0] == "purge"):
	case len(pos) == 2 && pos[0] == "show" && *kb != "":
	default:
		fs.Usage()
		return errUsage
	}
	f := kefu.ConversationFilter{State: kefu.ConversationState(*state), Route: kefu.Route(*route), Channel: *channel, EndUser: *endUser, Limit: *limit}
	if f.State != "" && !kefu.ValidState(f.State) {
		return kefu.Errorf(kefu.EINVALID, "state %q: use bot, waiting, agent, resolved or closed", f.State)
	}
	if f.Since, err = when(*since); err != nil {
		return err
	}
	if f.Until, err = when(*until); err != nil {
		return err
	}
	a, err := newApp(c)
	if kefu.ErrorCode(err) == kefu.ECONFLICT {
		return kefu.Errorf(kefu.ECONFLICT, "%s; while it runs, use its API with an agent or admin key: GET /v1/conversations, GET /v1/conversations/export, GET /v1/kbs/KB/conversations/ID", kefu.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	defer a.close()
	var kbs []string
	if *kb != "" {
		if _, err := a.store.KB(ctx, *kb); err != nil {
			return err
		}
		kbs = []string{*kb}
	} else {
		all, err := a.store.KBs(ctx)
		if err != nil {
			return err
		}
		for _, k := range all {
			kbs = append(kbs, k.Name)
		}
	}
	switch pos[0] {
	case "list":
		return listConversations(ctx, a, kbs, f, *asJSON)
	case "show":
		return showConversation(ctx, a, *kb, pos[1], *asJSON)
	case "export":
		return exportConversations(ctx, a, kbs, f, *limit, *out)
	default:
		n, err := desk.Purge(ctx, a.local, a.store, time.Now(), a.log)
		for k, v := range n {
			fmt.Printf("%s: %d conversations purged\n", k, v)
		}
		return err
	}
}

// when reads a time: RFC 3339, or a duration ago ("24h").
func when(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, kefu.Errorf(kefu.EINVALID, "time %q: use RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (24h)", s)
}

func listConversations(ctx context.Context, a *app, kbs []string, f kefu.ConversationFilter, asJSON bool) error {
	var all []*kefu.Conversation
	for _, kb := range kbs {
		convs, err := a.local.Conversations(ctx, kb, f)
		if err != nil {
			return err
		}
		all = append(all, convs...)
	}
	if len(all) > f.Limit && f.Limit > 0 {
		all = all[:f.Limit]
	}
	if asJSON {
		if all == nil {
			all = []*kefu.Conversation{}
		}
		return printJSON(all)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KB\tID\tSTATE\tCHANNEL\tEND USER\tMESSAGES\tTRIGGER\tASSIGNEE\tUPDATED")
	for _, c := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.KB, c.ID, c.State, c.Channel, dash(c.EndUser), c.Messages,
			dash(c.Trigger), dash(c.Assignee), c.UpdatedAt.Local().Format("2006-01-02 15:04:05"))
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func showConversation(ctx context.Context, a *app, kb, id string, asJSON bool) error {
	conv, err := a.local.Conversation(ctx, kb, id)
	if err != nil {
		return err
	}
	msgs, err := a.local.Messages(ctx, kb, id, 0, 0)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(api.ConversationView{Conversation: conv, Messages: msgs})
	}
	fmt.Printf("conversation %s in %s: %s, channel %s", conv.ID, conv.KB, conv.State, conv.Channel)
	if conv.EndUser != "" {
		fmt.Printf(", end user %s", conv.EndUser)
	}
	if conv.Assignee != "" {
		fmt.Printf(", agent %s", conv.Assignee)
	}
	fmt.Println()
	for _, m := range msgs {
		who := string(m.Role)
		switch {
		case m.Role == kefu.RoleEvent:
			fmt.Printf("%s  -- %s → %s %s\n", m.At.Local().Format("15:04:05"), m.Event, m.State, m.Author)
			continue
		case m.Author != "":
			who += " " + m.Author
		case m.Answer != nil:
			who += fmt.Sprintf(" (%s %.2f)", m.Answer.Route, m.Answer.Confidence)
		}
		fmt.Printf("%s  %s: %s\n", m.At.Local().Format("15:04:05"), who, strings.ReplaceAll(m.Text, "\n", "\n    "))
	}
	return nil
}

func exportConversations(ctx context.Context, a *app, kbs []string, f kefu.ConversationFilter, limit int, out string) error {
	var w io.Writer = os.Stdout
	if out != "" {
		file, err := os.Create(out)
		if err != nil {
			return kefu.Errorf(kefu.EINVALID, "export: %w", err)
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriter(w)
	if limit <= 0 {
		limit = 1 << 30
	}
	f.Limit = 1000
	n, err := api.ExportConversations(ctx, a.local, kbs, f, limit, func(line api.ConversationExport) error {
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		bw.Write(b)
		return bw.WriteByte('\n')
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	fmt.Fprintf(os.Stderr, "exported %d conversations\n", n)
	return err
}
