package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

// keyManager creates, lists and deletes API keys: in the data directory,
// or through a running server's API.
type keyManager interface {
	create(ctx context.Context, req api.KeyRequest) (secret string, k *kefu.Key, err error)
	list(ctx context.Context) ([]*kefu.Key, error)
	remove(ctx context.Context, id string) error
}

// runKeys manages API keys: create prints the secret once, on its own line
// of standard output; only its sha256 is stored.
func runKeys(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	var c common
	c.register(fs)
	var srv remote
	srv.register(fs)
	scope := fs.String("scope", "", "create: admin, ingest, agent, query or public (required)")
	kb := fs.String("kb", "", "create: restrict the key to this knowledge base (required for public)")
	name := fs.String("name", "", "create: what the key is for (for an agent key, the agent's name in conversations)")
	origins := fs.String("origins", "", "create: a public key's web origins, comma-separated (https://shop.example.com)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu keys create --scope admin|ingest|agent|query|public [--kb NAME] [--name TEXT] [--origins URL,...] | list | delete ID  [--server URL]")
		fmt.Fprintln(fs.Output(), "Scopes nest: admin includes all; ingest and agent include query; query includes public. While kefu serve runs (it holds the data directory), add --server URL and an admin key in KEFU_API_KEY.")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return missing(fs, "no subcommand: create, list or delete")
	case pos[0] == "create" && *scope == "":
		return missing(fs, "--scope is required: admin, ingest, agent, query or public")
	case pos[0] == "create" && len(pos) == 1:
	case pos[0] == "list" && len(pos) == 1:
	case pos[0] == "delete" && len(pos) == 2:
	case pos[0] == "delete":
		return missing(fs, "delete needs one key id (see 'kefu keys list')")
	case pos[0] == "create" || pos[0] == "list":
		return missing(fs, "%s takes no argument", pos[0])
	default:
		return missing(fs, "unknown subcommand %q: use create, list or delete", pos[0])
	}
	var m keyManager = &srv
	if srv.url == "" {
		a, err := newApp(c)
		if kefu.ErrorCode(err) == kefu.ECONFLICT {
			return srv.lockedHint(err, c.dataDir, strings.Join(append([]string{"keys"}, args...), " "))
		}
		if err != nil {
			return err
		}
		defer a.close()
		m = localKeys{a}
	}
	switch pos[0] {
	case "create":
		var ogs []string
		for _, o := range strings.Split(*origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				ogs = append(ogs, o)
			}
		}
		secret, k, err := m.create(ctx, api.KeyRequest{Scope: kefu.Scope(*scope), KB: *kb, Name: *name, Origins: ogs})
		if err != nil {
			return err
		}
		where := "every knowledge base"
		if k.KB != "" {
			where = "knowledge base " + k.KB
		}
		fmt.Fprintf(os.Stderr, "created key %s (scope %s, %s); the secret below is shown once:\n", k.ID, k.Scope, where)
		fmt.Println(secret)
	case "list":
		keys, err := m.list(ctx)
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
		if err := m.remove(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Printf("deleted key %s\n", pos[1])
	}
	return nil
}

// localKeys manages the keys of the data directory.
type localKeys struct{ a *app }

func (l localKeys) create(ctx context.Context, req api.KeyRequest) (string, *kefu.Key, error) {
	if req.KB != "" {
		if _, err := l.a.store.KB(ctx, req.KB); err != nil {
			return "", nil, err
		}
	}
	secret, k, err := api.NewKey(req.Scope, req.KB, req.Name, req.Origins...)
	if err != nil {
		return "", nil, err
	}
	return secret, k, l.a.local.CreateKey(ctx, k)
}

func (l localKeys) list(ctx context.Context) ([]*kefu.Key, error) { return l.a.local.Keys(ctx) }

func (l localKeys) remove(ctx context.Context, id string) error { return l.a.local.DeleteKey(ctx, id) }

// The server's keys, through POST, GET and DELETE /v1/keys.

func (r *remote) create(ctx context.Context, req api.KeyRequest) (string, *kefu.Key, error) {
	var res api.NewKeyResponse
	if err := r.do(ctx, http.MethodPost, "/v1/keys", req, &res); err != nil {
		return "", nil, err
	}
	if res.Key == nil || res.Secret == "" {
		return "", nil, kefu.Errorf(kefu.EUNAVAILABLE, "%s answered no key", r.url)
	}
	return res.Secret, res.Key, nil
}

func (r *remote) list(ctx context.Context) ([]*kefu.Key, error) {
	var res struct {
		Keys []*kefu.Key `json:"keys"`
	}
	err := r.do(ctx, http.MethodGet, "/v1/keys", nil, &res)
	return res.Keys, err
}

func (r *remote) remove(ctx context.Context, id string) error {
	return r.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, nil)
}
