package models

import (
	"context"
	"fmt"
	"io"

	"github.com/kefu-dev/kefu"
)

// Choose names the embedding model a command runs with: name (the --model
// flag) when set, else the model kb was embedded with when it resolves here
// without a download, else the best model available (Default). kb may be
// "" (a command not tied to one KB).
func Choose(ctx context.Context, kbs kefu.KBReader, name, kb string, opts ResolveOptions) string {
	if name != "" {
		return name
	}
	if kb != "" {
		if k, err := kbs.KB(ctx, kb); err == nil && k.Model != "" {
			offline := opts
			offline.Offline = true
			if _, err := Resolve(k.Model.Name(), offline); err == nil {
				return k.Model.Name()
			}
		}
	}
	return Default(opts)
}

// ResolveFor resolves the model Choose names. When that is not the model
// kb was embedded with (which is not here) and it fails too, the error
// says so: a user who built the KB elsewhere is told which model it needs,
// not only that another one could not be found.
func ResolveFor(ctx context.Context, kbs kefu.KBReader, name, kb string, opts ResolveOptions) (kefu.ModelSpec, error) {
	chosen := Choose(ctx, kbs, name, kb, opts)
	spec, err := Resolve(chosen, opts)
	if err == nil || name != "" || kb == "" {
		return spec, err
	}
	if k, kerr := kbs.KB(ctx, kb); kerr == nil && k.Model != "" && k.Model.Name() != chosen {
		return spec, kefu.Errorf(kefu.ErrorCode(err), "knowledge base %q was embedded with %s, which is not found here (put it in ./models/%s, set %s, or pass --model); the best model otherwise, %s, failed too: %s",
			kb, k.Model, k.Model.Name(), EnvShared, chosen, kefu.ErrorMessage(err))
	}
	return spec, err
}

// EnsureKB returns the KB called name, creating it with e's model when it
// does not exist, and re-embedding it (SyncKB) when it was embedded with
// another. out, when not nil, is told what was done.
func EnsureKB(ctx context.Context, st kefu.Store, name string, e kefu.Embedder, out io.Writer) (*kefu.KB, error) {
	kb, err := st.KB(ctx, name)
	if err == nil {
		return kb, SyncKB(ctx, st, kb, e, out)
	}
	if kefu.ErrorCode(err) != kefu.ENOTFOUND {
		return nil, err
	}
	kb = &kefu.KB{Name: name, Model: e.ModelID(), Dim: e.Model().Dim, Settings: kefu.DefaultSettings()}
	if err := st.CreateKB(ctx, kb); err != nil {
		return nil, err
	}
	if out != nil {
		fmt.Fprintf(out, "created knowledge base %q (model %s)\n", name, e.ModelID())
	}
	return kb, nil
}

// SyncKB is the re-embedding policy: a KB embedded with another model than
// e's (another name or other weights) has every vector replaced by e's,
// atomically, and records e's model; kefu serve does this at start for
// every KB, so one process serves one model. out, when not nil, is told.
func SyncKB(ctx context.Context, st kefu.Store, kb *kefu.KB, e kefu.Embedder, out io.Writer) error {
	if kb.Model == e.ModelID() {
		return nil
	}
	if out != nil && kb.Model != "" {
		fmt.Fprintf(out, "re-embedding %q: it was embedded with %s, now %s\n", kb.Name, kb.Model, e.ModelID())
	}
	dim := e.Model().Dim
	if dim == 0 {
		v, err := e.EmbedPassages(ctx, []string{"dimension"})
		if err != nil {
			return err
		}
		dim = len(v[0])
	}
	if err := st.Reembed(ctx, kb.Name, e.ModelID(), dim, e.EmbedPassages); err != nil {
		return err
	}
	kb.Model, kb.Dim = e.ModelID(), dim
	return nil
}
