package archive

import (
	"context"
	"errors"
	"io"

	"github.com/kefu-dev/kefu"
)

// ImportOptions configure Import.
type ImportOptions struct {
	// Name is the KB to create; "" is the archived KB's name.
	Name string
	// Model is the model the importing deployment embeds with: an archive
	// embedded with another is refused (EMODEL) unless Reembed is set.
	// "" accepts any model.
	Model kefu.ModelID
	// Reembed, when set, embeds an archive made with another model than
	// Reembed's again with it; Model is then Reembed's.
	Reembed kefu.Embedder
	Read    ReadOptions
	// Progress, when set, is told what has been imported after each batch.
	Progress func(Counts)
}

// Result is what an import did.
type Result = kefu.ImportResult

// importingNote is a KB's description while it is imported: a KB left with
// it (the process was killed) is incomplete.
const importingNote = "IMPORT IN PROGRESS — incomplete until the import ends; delete this KB if no import is running"

// Import reads the archive r into st as a new KB, in one streaming pass.
// Every entry is checked before it is used, and a failure of any kind
// (corruption, a store error, cancellation) deletes the KB again, so an
// import leaves the whole KB or none. The name must be free: an existing
// KB is never replaced (ECONFLICT). While the import runs the KB exists
// under its name with a description that says so; a process killed then
// leaves it so, to be deleted.
func Import(ctx context.Context, st kefu.Store, r io.Reader, opts ImportOptions) (res *Result, err error) {
	ar, err := NewReader(r, opts.Read)
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	m := ar.Manifest()
	name := opts.Name
	if name == "" {
		name = m.KB.Name
	}
	if !kefu.ValidKBName(name) {
		return nil, kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q: use 1-63 lower-case letters, digits, '-' or '_'", name)
	}
	model := opts.Model
	if opts.Reembed != nil {
		model = opts.Reembed.ModelID()
	}
	reembed := model != "" && m.KB.Model != model
	if reembed && opts.Reembed == nil {
		return nil, kefu.Errorf(kefu.EMODEL, "the archive of %q was embedded with %s, this kefu embeds with %s: import it with re-embedding (--reembed) or run kefu with --model %s",
			m.KB.Name, m.KB.Model, model, m.KB.Model.Name())
	}
	if _, err := st.KB(ctx, name); err == nil {
		return nil, kefu.Errorf(kefu.ECONFLICT, "knowledge base %q already exists: import under another name (--as NAME) or delete it first", name)
	} else if kefu.ErrorCode(err) != kefu.ENOTFOUND {
		return nil, err
	}

	kb := &kefu.KB{Name: name, Description: importingNote, Model: m.KB.Model, Dim: m.KB.Dim, Settings: m.KB.Settings}
	if err := st.CreateKB(ctx, kb); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			// Undone even when ctx was cancelled: nothing half-imported stays.
			if derr := st.DeleteKB(context.WithoutCancel(ctx), name); derr != nil {
				err = errors.Join(err, kefu.Errorf(kefu.EINTERNAL, "the incomplete knowledge base %q could not be deleted: %w", name, derr))
			}
		}
	}()
	res = &Result{}
	sources, _ := st.(kefu.SourceStore)
	reports, _ := st.(kefu.ReportStore)
	for {
		if err := ctx.Err(); err != nil {
			return nil, kefu.Errorf(kefu.ETIMEOUT, "import of %q stopped: %w", name, err)
		}
		p, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if p.Reports != nil {
			if reports == nil {
				res.SkippedReports += len(p.Reports)
				continue
			}
			if err := reports.PutReport(ctx, name, p.Reports); err != nil {
				return nil, err
			}
			continue
		}
		ups := make([]kefu.DocumentUpdate, len(p.Docs))
		for i, d := range p.Docs {
			d.Document.KB = name
			ups[i] = kefu.DocumentUpdate{Doc: d.Document, Chunks: d.Chunks, Vectors: d.Vectors}
		}
		if err := st.PutDocuments(ctx, ups); err != nil {
			return nil, err
		}
		for _, d := range p.Docs {
			if d.Source == nil {
				continue
			}
			if sources == nil {
				res.SkippedSources++
				continue
			}
			if err := sources.PutSource(ctx, name, d.Document.ID, d.Source); err != nil {
				return nil, err
			}
		}
		if opts.Progress != nil {
			opts.Progress(ar.Counts())
		}
	}
	if reembed {
		e := opts.Reembed
		dim := e.Model().Dim
		if dim == 0 {
			v, err := e.EmbedPassages(ctx, []string{"dimension"})
			if err != nil {
				return nil, err
			}
			dim = len(v[0])
		}
		if err := st.Reembed(ctx, name, model, dim, e.EmbedPassages); err != nil {
			return nil, err
		}
		res.Reembedded = true
	}
	kb, err = st.KB(ctx, name)
	if err != nil {
		return nil, err
	}
	kb.Description = m.KB.Description
	if err := st.UpdateKB(ctx, kb); err != nil {
		return nil, err
	}
	res.KB, res.Counts, res.Unpacked = kb, ar.Counts(), ar.Unpacked()
	return res, nil
}
