package qdrant

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
	"github.com/kefu-dev/kefu/index/storetest"
)

// backends are the Qdrants the suite runs against: the in-process one
// always, a real one when KEFU_QDRANT_URL names it (make test-qdrant).
func backends(t *testing.T) map[string]func(t *testing.T) Options {
	out := map[string]func(t *testing.T) Options{"inprocess": func(t *testing.T) Options {
		srv, err := qdranttest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		o, _ := ParseURL(srv.URL())
		return o
	}}
	if u := os.Getenv("KEFU_QDRANT_URL"); u != "" {
		out["real"] = func(t *testing.T) Options {
			o, err := ParseURL(u)
			if err != nil {
				t.Fatal(err)
			}
			o.Prefix = fmt.Sprintf("kefutest%d", prefixes.Add(1)+time.Now().UnixNano()%1e6)
			t.Cleanup(func() { dropPrefix(t, o) })
			return o
		}
	} else {
		t.Log("KEFU_QDRANT_URL is not set: SKIPPING the suite against a real Qdrant (make test-qdrant runs it); the in-process Qdrant runs it")
		fmt.Fprintln(os.Stderr, "index/qdrant: KEFU_QDRANT_URL not set, the suite against a REAL Qdrant is SKIPPED (see make test-qdrant)")
	}
	return out
}

var prefixes atomic.Int64

// dropPrefix deletes the collections a test made on a real server.
func dropPrefix(t *testing.T, o Options) {
	c, err := qdrant.NewClient(&qdrant.Config{Host: o.Host, Port: o.Port, APIKey: o.APIKey, UseTLS: o.TLS, SkipCompatibilityCheck: true})
	if err != nil {
		return
	}
	defer c.Close()
	names, _ := c.ListCollections(context.Background())
	for _, n := range names {
		if strings.HasPrefix(n, o.Prefix+"_") {
			c.DeleteCollection(context.Background(), n)
		}
	}
}

func openOpts(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The Store contract, as the embedded store passes it.
func TestStoreContract(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) func() kefu.Store {
				o := mk(t)
				return func() kefu.Store { return openOpts(t, o) }
			})
		})
	}
}
