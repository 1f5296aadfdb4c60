package qdrant

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/index/qdrant/qdranttest"
	"github.com/kefu-dev/kefu/index/storetest"
)

func inProcess(t *testing.T) (*qdranttest.Server, *Store) {
	t.Helper()
	srv, err := qdranttest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	o, _ := ParseURL(srv.URL())
	o.Retries = 2
	s := openOpts(t, o)
	t.Cleanup(func() { s.Close() })
	return srv, s
}

func TestParseURL(t *testing.T) {
	o, err := ParseURL("qdrants://q.example:7000?prefix=team1&timeout=3s&retries=5")
	if err != nil || o.Host != "q.example" || o.Port != 7000 || !o.TLS || o.Prefix != "team1" || o.Timeout != 3*time.Second || o.Retries != 5 {
		t.Errorf("ParseURL = %+v, %v", o, err)
	}
	for _, bad := range []string{"http://x:6334", "qdrant://", "qdrant://x:port", "qdrant://x?timeout=soon", "qdrant://x?retries=-1"} {
		if _, err := ParseURL(bad); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A Qdrant that is down gives an error that names it and maps to 503;
// a call that fails once for want of Qdrant is retried and succeeds.
func TestUnavailableAndRetries(t *testing.T) {
	srv, s := inProcess(t)
	ctx := context.Background()
	storetest.NewKB(t, s, "kb")
	storetest.Put(t, s, "kb", "d", storetest.Passages("orchids need little water"))

	storetest.Search(t, s, "kb", "orchids", nil) // loads the analyzer
	before := srv.Calls("QueryBatch")
	srv.FailNext("QueryBatch", codes.Unavailable)
	if c := storetest.Search(t, s, "kb", "orchids", nil); len(c.Keyword) != 1 {
		t.Fatalf("after one transient failure: %v", c.Keyword)
	}
	if n := srv.Calls("QueryBatch") - before; n != 2 {
		t.Errorf("%d calls for one search with one failure, want 2", n)
	}

	srv.SetDown(true)
	_, err := s.Search(ctx, "kb", kefu.SearchRequest{Query: "orchids", K: 5})
	if kefu.ErrorCode(err) != kefu.EUNAVAILABLE || !strings.Contains(err.Error(), "qdrant") || !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("search with Qdrant down: %v", err)
	}
	if err := s.Health(ctx); kefu.ErrorCode(err) != kefu.EUNAVAILABLE || s.Healthy() {
		t.Errorf("health with Qdrant down: %v (healthy %v)", err, s.Healthy())
	}
	if s.Failures() == 0 {
		t.Error("failures not counted")
	}
	srv.SetDown(false)
	if err := s.Health(ctx); err != nil || !s.Healthy() {
		t.Errorf("health after recovery: %v", err)
	}
	// Not transient: refused at once, no retry.
	before = srv.Calls("QueryBatch")
	srv.FailNext("QueryBatch", codes.InvalidArgument)
	if _, err := s.Search(ctx, "kb", kefu.SearchRequest{Query: "orchids", K: 5}); kefu.ErrorCode(err) != kefu.EINTERNAL {
		t.Errorf("invalid argument: %v", err)
	}
	if n := srv.Calls("QueryBatch") - before; n != 1 {
		t.Errorf("%d calls for a refused search, want 1", n)
	}
	// Opening a store on a Qdrant that is down fails with the same code.
	srv.SetDown(true)
	o, _ := ParseURL(srv.URL())
	o.Retries = 1
	if _, err := Open(ctx, o); kefu.ErrorCode(err) != kefu.EUNAVAILABLE {
		t.Errorf("open with Qdrant down: %v", err)
	}
}

// A write that fails halfway changes nothing a search sees, and the next
// write removes what it left.
func TestWriteFailingHalfway(t *testing.T) {
	srv, s := inProcess(t)
	ctx := context.Background()
	storetest.NewKB(t, s, "kb")
	storetest.Put(t, s, "kb", "d", storetest.Passages("alpha one", "beta two"))
	kb, _ := s.KB(ctx, "kb")
	for _, step := range []string{"Upsert", "SetPayload"} {
		// The chunk upsert lands, then the given step fails for good.
		if step == "Upsert" {
			srv.FailNext("Upsert", codes.OK, codes.InvalidArgument)
		} else {
			srv.FailNext("SetPayload", codes.InvalidArgument)
		}
		cs := storetest.Passages("alpha one", "gamma three")
		err := s.PutDocument(ctx, &kefu.Document{ID: "d", KB: "kb", Source: "d"}, cs, storetest.VecsOf(cs))
		if err == nil {
			t.Fatalf("%s: the write did not fail", step)
		}
		if c := storetest.Search(t, s, "kb", "alpha beta gamma", nil); len(c.Keyword) != 2 || len(c.Vector) != 2 {
			t.Fatalf("%s: after a failed write the search sees kw %v vec %v", step, storetest.KeywordIDs(c), c.Vector)
		} else {
			for _, sc := range c.Keyword {
				if strings.Contains(c.Chunks[sc.ChunkID].Text, "gamma") {
					t.Errorf("%s: a chunk of the failed write is visible", step)
				}
			}
		}
		if got, _ := s.KB(ctx, "kb"); got.Version != kb.Version {
			t.Errorf("%s: version %d after a failed write, want %d", step, got.Version, kb.Version)
		}
	}
	storetest.Put(t, s, "kb", "d", storetest.Passages("alpha one", "delta four"))
	if c := storetest.Search(t, s, "kb", "alpha beta gamma delta", nil); len(c.Keyword) != 2 {
		t.Fatalf("after the next write: %v", storetest.KeywordIDs(c))
	}
	// Once the grace has passed, only the live chunks' points remain.
	time.Sleep(s.opts.RetireGrace + 200*time.Millisecond)
	rec, _ := s.record(ctx, "kb")
	n, err := s.client.Count(ctx, &qdrant.CountPoints{CollectionName: rec.Collection, Exact: ptr(true)})
	if err != nil || n != 2 {
		t.Errorf("%d points in the chunk collection, want 2 (%v)", n, err)
	}
}

// The keyword side through Qdrant ranks and scores as kefu's own index,
// reports the same term statistics and masks, on a small bilingual KB.
func TestKeywordParityWithEmbedded(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			qs := openOpts(t, mk(t))
			defer qs.Close()
			testKeywordParity(t, qs)
		})
	}
}

func testKeywordParity(t *testing.T, qs *Store) {
	es, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	docs := map[string][]kefu.Chunk{
		"faq.csv": {
			{Kind: kefu.KindFAQ, Questions: []string{"怎么申请退款", "退款要多久"}, Text: "在订单页申请售后，三到五天到账。", Lang: "zh"},
			{Kind: kefu.KindFAQ, Questions: []string{"快递多久能到"}, Text: "一般两天到达。", Lang: "zh"},
			{Kind: kefu.KindFAQ, Questions: []string{"如何修改收货地址"}, Text: "发货前可在订单详情修改地址。", Lang: "zh"},
		},
		"guide.md": {
			{Kind: kefu.KindPassage, Title: "Refunds", Headings: []string{"Refunds", "Timing"}, Text: "A refund takes five business days after the parcel arrives.", Lang: "en"},
			{Kind: kefu.KindPassage, Title: "Refunds", Headings: []string{"Refunds", "Fees"}, Text: "Shipping fees are refunded when the parcel was damaged.", Lang: "en"},
			{Kind: kefu.KindPassage, Title: "Shipping", Text: "Parcels travel by courier; tracking numbers arrive by mail within a day.", Lang: "en"},
		},
	}
	for _, s := range []kefu.Store{es, qs} {
		storetest.NewKB(t, s, "kb")
		for id, cs := range docs {
			storetest.Put(t, s, "kb", id, cs)
		}
	}
	for _, q := range []string{"怎么退款", "退款多久到账", "refund parcel damaged", "shiping fees", "修改地址", "tracking number mail"} {
		want := storetest.Search4(t, es, "kb", q)
		got := storetest.Search4(t, qs, "kb", q)
		if len(got.Keyword) != len(want.Keyword) {
			t.Fatalf("%q: %d hits, embedded %d", q, len(got.Keyword), len(want.Keyword))
		}
		for i := range want.Keyword {
			g, w := got.Keyword[i], want.Keyword[i]
			if g.ChunkID != w.ChunkID || math.Abs(g.Score-w.Score) > 1e-5*w.Score || g.HeadMatch != w.HeadMatch || g.BodyMatch != w.BodyMatch || math.Abs(g.Coverage-w.Coverage) > 1e-9 {
				t.Errorf("%q hit %d: %+v, embedded %+v", q, i, g, w)
			}
		}
		if fmt.Sprint(got.QueryTerms) != fmt.Sprint(want.QueryTerms) || got.DocCount != want.DocCount {
			t.Errorf("%q: terms %+v (%d chunks), embedded %+v (%d)", q, got.QueryTerms, got.DocCount, want.QueryTerms, want.DocCount)
		}
	}
}

// Typed errors come back as kefu's, not as gRPC's.
func TestErrorsAreKefus(t *testing.T) {
	_, s := inProcess(t)
	var ke *kefu.Error
	if _, err := s.KB(context.Background(), "nope"); !errors.As(err, &ke) || ke.Code != kefu.ENOTFOUND {
		t.Errorf("missing KB: %v", err)
	}
}

// Points written before keyHit or keyMatch existed (hash, refs, kind and
// fields only) are searched as before: the search asks again for the keys
// they stand for, and finds the same candidates with the same masks and
// coverage; later searches of the collection ask for them at once.
func TestSearchingPointsWithoutHitKey(t *testing.T) {
	for _, key := range []string{keyHit, keyMatch} {
		t.Run(key, func(t *testing.T) {
			srv, s := inProcess(t)
			ctx := context.Background()
			storetest.NewKB(t, s, "kb")
			storetest.Put(t, s, "kb", "d1", storetest.Passages("orchids need little water 兰花浇水", "ferns like shade and water"))
			storetest.Put(t, s, "kb", "d2", storetest.Passages("water the orchids weekly 每周浇水"))
			const query = "orchids water 兰花多久浇一次水"
			want := storetest.Search(t, s, "kb", query, nil)
			if len(want.Keyword) != 3 || len(want.Docs) != 3 || want.Keyword[0].HeadMatch|want.Keyword[0].BodyMatch == 0 {
				t.Fatalf("search: %v, docs %v", want.Keyword, want.Docs)
			}
			rec, err := s.record(ctx, "kb")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.client.DeletePayload(ctx, &qdrant.DeletePayloadPoints{CollectionName: rec.Collection, Wait: ptr(true), Keys: []string{key},
				PointsSelector: qdrant.NewPointsSelectorFilter(&qdrant.Filter{})}); err != nil {
				t.Fatal(err)
			}
			before := srv.Calls("QueryBatch")
			got := storetest.Search(t, s, "kb", query, nil)
			if n := srv.Calls("QueryBatch") - before; n != 2 {
				t.Errorf("%d QueryBatch calls, want 2 (the second for the older keys)", n)
			}
			if fmt.Sprint(got.Keyword) != fmt.Sprint(want.Keyword) || fmt.Sprint(got.Docs) != fmt.Sprint(want.Docs) || len(got.Chunks) != len(want.Chunks) {
				t.Errorf("without %s:\n%v %v\nwith it:\n%v %v", key, got.Keyword, got.Docs, want.Keyword, want.Docs)
			}
			// The node remembers the collection: one call from now on.
			before = srv.Calls("QueryBatch")
			again := storetest.Search(t, s, "kb", query, nil)
			if n := srv.Calls("QueryBatch") - before; n != 1 {
				t.Errorf("searching again: %d QueryBatch calls, want 1", n)
			}
			if fmt.Sprint(again.Keyword) != fmt.Sprint(want.Keyword) || fmt.Sprint(again.Docs) != fmt.Sprint(want.Docs) {
				t.Errorf("searching again without %s:\n%v %v\nwith it:\n%v %v", key, again.Keyword, again.Docs, want.Keyword, want.Docs)
			}
		})
	}
}

// A node searches at the record it read last while it reads the current
// one: after another node's write it finds what that write added, and
// after another node's deletion of the KB it reports the KB gone.
func TestSearchSeesOtherNodesWrites(t *testing.T) {
	srv, a := inProcess(t)
	o, _ := ParseURL(srv.URL())
	b := openOpts(t, o)
	t.Cleanup(func() { b.Close() })
	storetest.NewKB(t, a, "kb")
	storetest.Put(t, a, "kb", "d1", storetest.Passages("orchids need little water"))
	if c := storetest.Search(t, b, "kb", "orchids", nil); len(c.Keyword) != 1 {
		t.Fatalf("node b before the write: %v", c.Keyword)
	}
	storetest.Put(t, a, "kb", "d2", storetest.Passages("orchids like bright shade"))
	c := storetest.Search(t, b, "kb", "orchids", nil)
	if len(c.Keyword) != 2 || len(c.Chunks) != 2 {
		t.Errorf("node b after node a's write: %d hits, %d chunks, want 2", len(c.Keyword), len(c.Chunks))
	}
	if err := a.DeleteKB(context.Background(), "kb"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Search(context.Background(), "kb", kefu.SearchRequest{Query: "orchids", K: 10}); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("node b after node a deleted the KB: %v, want ENOTFOUND", err)
	}
}

// A chunk record read once serves later searches without a call (a
// point's record never changes); a replaced document's chunks are new
// points, read from Qdrant; callers get copies of the cached record.
func TestChunkRecordsCached(t *testing.T) {
	srv, s := inProcess(t)
	storetest.NewKB(t, s, "kb")
	storetest.Put(t, s, "kb", "d1", storetest.Passages("orchids need little water"))
	first := storetest.Search(t, s, "kb", "orchids", nil)
	if len(first.Chunks) != 1 {
		t.Fatalf("first search: %d chunks", len(first.Chunks))
	}
	for _, c := range first.Chunks {
		c.Text = "changed by the caller"
		c.Meta = map[string]string{"x": "y"}
	}
	before := srv.Calls("Get")
	again := storetest.Search(t, s, "kb", "orchids", nil)
	if n := srv.Calls("Get") - before; n != 1 {
		t.Errorf("search again: %d Get calls, want 1 (the KB record only)", n)
	}
	for _, c := range again.Chunks {
		if c.Text != "orchids need little water" || c.Meta["x"] != "" {
			t.Errorf("cached record changed by an earlier caller: %q %v", c.Text, c.Meta)
		}
	}
	storetest.Put(t, s, "kb", "d1", storetest.Passages("orchids need bright shade"))
	c := storetest.Search(t, s, "kb", "orchids", nil)
	if len(c.Chunks) != 1 {
		t.Fatalf("after the replacement: %d chunks", len(c.Chunks))
	}
	for _, ch := range c.Chunks {
		if ch.Text != "orchids need bright shade" {
			t.Errorf("after the replacement: %q", ch.Text)
		}
	}
}
