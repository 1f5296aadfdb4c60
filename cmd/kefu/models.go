package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/kefu-dev/kefu/models"
)

func runModels(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 && pos[0] != "list" {
		fmt.Fprintln(fs.Output(), "usage: kefu models list")
		return errUsage
	}
	def := models.Default(models.ResolveOptions{})
	fmt.Printf("%-40s %5s %-7s %-6s %-10s %s\n", "model", "dim", "pooling", "tokens", "languages", "where")
	for _, m := range models.Manifest() {
		where := "download from " + m.Repo
		if s, err := models.Resolve(m.Name, models.ResolveOptions{Offline: true}); err == nil {
			where = s.Dir
		}
		mark := ""
		if m.Name == def {
			mark = " (default)"
		}
		if !m.Pretrained {
			mark += " [random weights: tests and speed only]"
		}
		fmt.Printf("%-40s %5d %-7s %-6d %-10s %s%s\n", m.Name, m.Dim, m.Pooling, m.MaxTokens, strings.Join(m.Languages, ","), where, mark)
	}
	return nil
}
