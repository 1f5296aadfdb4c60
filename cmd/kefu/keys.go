package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

// runKeys manages API keys: create prints the secret once, on its own line
// of standard output; only its sha256 is stored.
func runKeys(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	var c common
	c.register(fs)
	scope := fs.String("scope", "", "create: admin, ingest, agent, query or public (required)")
	kb := fs.String("kb", "", "create: restrict the key to this knowledge base (required for public)")
	name := fs.String("name", "", "create: what the key is for (for an agent key, the agent's name in conversations)")
	origins := fs.String("origins", "", "create: a public key's web origins, comma-separated (https://shop.example.com)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu keys create --scope admin|ingest|agent|query|public [--kb NAME] [--name TEXT] [--origins URL,...] | list | delete ID")
		fmt.Fprintln(fs.Output(), "Scopes nest: admin includes all; ingest and agent include query; query includes public. Run with the server stopped (it holds the data directory).")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	switch {
	case pos[0] == "create" && len(pos) == 1 && *scope != "":
	case pos[0] == "list" && len(pos) == 1:
	case pos[0] == "delete" && len(pos) == 2:
	default:
		fs.Usage()
		return errUsage
	}
	a, err := newApp(c)
	if kefu.ErrorCode(err) == kefu.ECONFLICT {
		return kefu.Errorf(kefu.ECONFLICT, "%s; while it runs, manage keys through its API with an admin key: POST /v1/keys {\"scope\",\"kb\"}, GET /v1/keys, DELETE /v1/keys/ID", kefu.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	defer a.close()
	switch pos[0] {
	case "create":
		if *kb != "" {
			if _, err := a.store.KB(ctx, *kb); err != nil {
				return err
			}
		}
		var ogs []string
		for _, o := range strings.Split(*origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				ogs = append(ogs, o)
			}
		}
		secret, k, err := api.NewKey(kefu.Scope(*scope), *kb, *name, ogs...)
		if err != nil {
			return err
		}
		if err := a.local.CreateKey(ctx, k); err != nil {
			return err
		}
		where := "every knowledge base"
		if k.KB != "" {
			where = "knowledge base " + k.KB
		}
		fmt.Fprintf(os.Stderr, "created key %s (scope %s, %s); the secret below is shown once:\n", k.ID, k.Scope, where)
		fmt.Println(secret)
	case "list":
		keys, err := a.local.Keys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSCOPE\tKB\tNAME\tCREATED")
		for _, k := range keys {
			kbName := k.KB
			if kbName == "" {
				kbName = "*"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Scope, kbName, k.Name, k.CreatedAt.Format("2006-01-02 15:04"))
		}
		return w.Flush()
	case "delete":
		if err := a.local.DeleteKey(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Printf("deleted key %s\n", pos[1])
	}
	return nil
}
