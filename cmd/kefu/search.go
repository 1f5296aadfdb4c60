package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

func runSearch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	var c common
	c.register(fs)
	kb := fs.String("kb", "", "knowledge base (required)")
	k := fs.Int("k", 5, "number of hits")
	mode := fs.String("mode", "hybrid", "hybrid, bm25 or dense")
	asJSON := fs.Bool("json", false, `print {"hits":[...]} as JSON`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu search --kb NAME [--k N] [--json] QUERY")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	query := strings.Join(pos, " ")
	if *kb == "" {
		return missing(fs, "--kb is required: the knowledge base to search")
	}
	if query == "" {
		return missing(fs, "the query is missing: give it after the flags")
	}
	a, err := newApp(c)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.store.KB(ctx, *kb); err != nil {
		return err
	}
	var e kefu.Embedder
	if kefu.SearchMode(*mode) != kefu.ModeBM25 {
		emb, err := a.embedder(ctx, *kb)
		if err != nil {
			return err
		}
		e = emb
	}
	r, err := a.retriever(e).Retrieve(ctx, *kb, kefu.Query{Text: query, K: *k, Mode: kefu.SearchMode(*mode)})
	if err != nil {
		return err
	}
	resp := api.NewSearchResponse(r)
	if *asJSON {
		return printJSON(resp)
	}
	fmt.Printf("%d hits, confidence %.2f, %.1f ms\n", len(resp.Hits), resp.Confidence, resp.TookMS)
	for i, h := range resp.Hits {
		title := h.Title
		if len(h.Questions) > 0 {
			title = h.Questions[0]
		}
		fmt.Printf("\n%d. %s  [%s]\n   score %.4f  keyword %.3f (#%d)  vector %.3f (#%d)\n   %s\n",
			i+1, title, h.DocID, h.Score, h.KeywordScore, h.KeywordRank, h.VectorScore, h.VectorRank, snippet(h.Text, 160))
	}
	return nil
}

// snippet shortens s to about n runes on one line.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
