package main

import (
	"context"
	"flag"
	"fmt"
	"slices"

	"github.com/kefu-dev/kefu"
)

func runKB(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kb", flag.ContinueOnError)
	var c common
	c.register(fs)
	threshold := fs.Float64("threshold", 0, "create: confident-answer threshold (default 0.85)")
	out := fs.String("o", "", "export: write the archive to this file (default: standard output)")
	as := fs.String("as", "", "import: the new knowledge base's name (default: the archived one's)")
	reembed := fs.Bool("reembed", false, "import: embed an archive made with another model again with this kefu's model")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu kb list | show NAME | create NAME | delete NAME | export NAME [-o FILE] | import FILE|- [--as NAME] [--reembed]")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return missing(fs, "no subcommand: list, show, create, delete, export or import")
	case !slices.Contains([]string{"list", "show", "create", "delete", "export", "import"}, pos[0]):
		return missing(fs, "unknown subcommand %q: use list, show, create, delete, export or import", pos[0])
	case pos[0] == "list" && len(pos) != 1:
		return missing(fs, "list takes no argument")
	case pos[0] == "import" && len(pos) != 2:
		return missing(fs, "import needs one archive file (or - for standard input)")
	case pos[0] != "list" && len(pos) != 2:
		return missing(fs, "%s needs one knowledge base name", pos[0])
	}
	a, err := newApp(c)
	if kefu.ErrorCode(err) == kefu.ECONFLICT && (pos[0] == "export" || pos[0] == "import") {
		return kefu.Errorf(kefu.ECONFLICT, "%s; while it runs, use its API with an admin key: GET /v1/kbs/NAME/export, POST /v1/kbs/import", kefu.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	defer a.close()
	switch pos[0] {
	case "export":
		return a.exportKB(ctx, pos[1], *out)
	case "import":
		return a.importKB(ctx, pos[1], *as, *reembed)
	case "list":
		kbs, err := a.store.KBs(ctx)
		if err != nil {
			return err
		}
		for _, kb := range kbs {
			st, err := a.store.Stats(ctx, kb.Name)
			if err != nil {
				return err
			}
			fmt.Printf("%-20s %5d documents %7d chunks  model %s\n", kb.Name, st.Documents, st.Chunks, kb.Model)
		}
	case "show":
		kb, err := a.store.KB(ctx, pos[1])
		if err != nil {
			return err
		}
		st, err := a.store.Stats(ctx, pos[1])
		if err != nil {
			return err
		}
		return printJSON(struct {
			*kefu.KB
			Stats      kefu.KBStats `json:"stats"`
			Confidence string       `json:"confidence"`
		}{kb.Redacted(), st, kb.Settings.Calibration.Summary()})
	case "create":
		e, err := a.embedder(ctx, "")
		if err != nil {
			return err
		}
		set := kefu.DefaultSettings()
		if *threshold > 0 {
			set.Threshold = *threshold
		}
		kb := &kefu.KB{Name: pos[1], Model: e.ModelID(), Dim: e.Model().Dim, Settings: set}
		if err := a.store.CreateKB(ctx, kb); err != nil {
			return err
		}
		fmt.Printf("created %s (model %s)\n", kb.Name, kb.Model)
	case "delete":
		if err := a.store.DeleteKB(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Printf("deleted %s\n", pos[1])
	}
	return nil
}
