package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
)

// With the KBs in Qdrant (`--store qdrant://…`), conversations, the answer
// log, feedback and the webhook outbox live in the node's data directory:
// an ask stores its conversation there, a vote finds its answer, an ingest
// enqueues document.ingested, and deleting the KB deletes what the node
// kept of it. The in-process Qdrant stands in for a server (qdranttest's
// doc comment says what it cannot prove).
func TestDeskWithQdrantStore(t *testing.T) {
	srv, err := qdranttest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	a, err := newApp(common{dataDir: t.TempDir(), store: srv.URL() + "?prefix=desk", logLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	e := hashEmbedder{}
	if err := a.local.PutSubscription(ctx, &kefu.Subscription{ID: "docs", URL: "http://127.0.0.1:1/", Events: []kefu.EventType{kefu.EventDocumentIngested}, Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := a.store.CreateKB(ctx, &kefu.KB{Name: "shop", Model: e.ModelID(), Dim: hashDim, Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	faq := "question,answer\nHow do I request a refund?,Open your order and press Refund; the money is back within 7 days.\n"
	up := kefu.Upload{Name: "faq.csv", Size: int64(len(faq)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(faq)), nil }}
	if job, err := ingestWithProgress(ctx, a.ingester(e), "shop", []kefu.Upload{up}, nil); err != nil || len(job.Failed) > 0 {
		t.Fatalf("ingest: %v %+v", err, job)
	}
	ds, err := a.local.Deliveries(ctx, kefu.DeliveryFilter{KB: "shop"})
	if err != nil || len(ds) != 1 || ds[0].EventType != kefu.EventDocumentIngested {
		t.Fatalf("document.ingested deliveries %+v %v", ds, err)
	}

	d, _, err := a.desk(a.retriever(e), answer.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := d.Ask(ctx, kefu.AskRequest{KB: "shop", Question: "How do I request a refund?", Channel: kefu.ChannelAPI}, nil)
	if err != nil {
		t.Fatalf("ask with the KBs in Qdrant: %v", err)
	}
	if ans.ConversationID == "" {
		t.Fatalf("no conversation: %+v", ans)
	}
	msgs, err := a.local.Messages(ctx, "shop", ans.ConversationID, 0, 0)
	if err != nil || len(msgs) != 2 || msgs[1].ID != ans.ID {
		t.Fatalf("stored turn %+v %v", msgs, err)
	}
	if rec, err := a.local.AnswerRecord(ctx, "shop", ans.ID); err != nil || rec.ConversationID != ans.ConversationID {
		t.Fatalf("answer log %+v %v", rec, err)
	}
	if err := d.Feedback(ctx, "shop", kefu.Feedback{AnswerID: ans.ID, Vote: 1}); err != nil {
		t.Fatalf("feedback: %v", err)
	}
	if fb, err := a.local.FeedbackList(ctx, "shop", 0, 10); err != nil || len(fb) != 1 {
		t.Fatalf("feedback list %+v %v", fb, err)
	}
	// A KB with nothing on this node yet lists nothing rather than failing.
	if err := a.store.CreateKB(ctx, &kefu.KB{Name: "empty", Model: e.ModelID(), Dim: hashDim, Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	if cs, err := a.local.Conversations(ctx, "empty", kefu.ConversationFilter{}); err != nil || len(cs) != 0 {
		t.Fatalf("conversations of a new KB: %v %v", cs, err)
	}
	if n, err := d.Purge(ctx); err != nil || len(n) != 0 {
		t.Fatalf("purge: %v %v", n, err)
	}

	if err := a.store.DeleteKB(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.local.Conversation(ctx, "shop", ans.ConversationID); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatalf("conversation of a deleted KB: %v", err)
	}
	if _, err := a.local.AnswerRecord(ctx, "shop", ans.ID); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatalf("answer of a deleted KB: %v", err)
	}
}
