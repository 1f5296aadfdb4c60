package ingest

import (
	"context"
	"time"

	"github.com/kefu-dev/kefu"
)

// source is an uploaded file's bytes, kept once its documents are stored so
// they can be re-indexed.
type source struct {
	id, name string
	data     []byte
	kept     bool
}

// pending is a chunked document waiting for its vectors.
type pending struct {
	doc    *kefu.Document
	chunks []kefu.Chunk
	src    *source
	left   time.Duration // of its file's MaxTime, after parsing and chunking
}

// batcher gathers chunked documents and embeds and stores them together:
// the embedder sees large, length-sorted batches and the store commits once
// per batch rather than once per document.
type batcher struct {
	s      *Service
	j      *job
	kb     *kefu.KB
	report func()
	docs   []pending
	chunks int
}

func (b *batcher) add(ctx context.Context, p pending) {
	b.docs = append(b.docs, p)
	b.chunks += len(p.chunks)
	limit := b.s.FlushChunks
	if limit <= 0 {
		limit = 512
	}
	if b.chunks >= limit || len(b.docs) >= limit {
		b.flush(ctx)
	}
}

// flush embeds what the waiting documents need and stores them. When the
// batch cannot be embedded or stored as a whole, each document is handled
// on its own, so one bad document fails alone.
//
// Embedding a batch may take as long as the least time any of its
// documents has left (its file's MaxTime less its parse and chunking);
// when that runs out, each document is tried alone within its own time,
// and one that runs out of it fails with ETOOLARGE.
func (b *batcher) flush(ctx context.Context) {
	docs := b.docs
	b.docs, b.chunks = nil, 0
	if len(docs) == 0 {
		return
	}
	var all []kefu.Chunk
	left := docs[0].left
	for _, d := range docs {
		all = append(all, d.chunks...)
		left = min(left, d.left)
	}
	ectx, cancel := context.WithTimeoutCause(ctx, left, errMaxTime)
	vectors, err := b.s.vectors(ectx, b.j, b.kb, all, b.report)
	cancel()
	if err != nil {
		if len(docs) == 1 || ctx.Err() != nil {
			for _, d := range docs {
				if context.Cause(ectx) == errMaxTime {
					err = maxTimeErr(d.doc.Source, b.s.Limits.withDefaults())
				}
				b.j.fail(d.doc.Source, err)
			}
			return
		}
		for _, d := range docs {
			b.docs, b.chunks = []pending{d}, len(d.chunks)
			b.flush(ctx)
		}
		return
	}
	ups := make([]kefu.DocumentUpdate, len(docs))
	off := 0
	for i, d := range docs {
		ups[i] = kefu.DocumentUpdate{Doc: d.doc, Chunks: d.chunks, Vectors: vectors[off : off+len(d.chunks)]}
		off += len(d.chunks)
	}
	stored := make([]bool, len(docs))
	if err := b.s.Store.PutDocuments(ctx, ups); err == nil {
		for i := range stored {
			stored[i] = true
		}
	} else {
		for i, u := range ups {
			if err := b.s.Store.PutDocument(ctx, u.Doc, u.Chunks, u.Vectors); err != nil {
				b.j.fail(u.Doc.Source, err)
				continue
			}
			stored[i] = true
		}
	}
	n := 0
	ss, keep := b.s.Store.(kefu.SourceStore)
	for i, d := range docs {
		if !stored[i] {
			continue
		}
		n++
		if keep && d.src != nil && !d.src.kept {
			d.src.kept = true
			if err := ss.PutSource(ctx, b.kb.Name, d.src.id, d.src.data); err != nil {
				b.j.fail(d.src.name, kefu.Errorf(kefu.EINTERNAL, "%s: indexed, but its source could not be kept for re-indexing: %w", d.src.name, err))
			}
		}
	}
	b.j.update(func(x *kefu.Job) { x.Done += n })
	b.report()
}
