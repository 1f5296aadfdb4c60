package qdrant

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/index/storetest"
)

// The term statistics this node carries across its own writes (no facet
// call) are those a fresh node fetches from Qdrant, and those of kefu's
// own index over the same documents: chunk count, document frequencies
// and the vocabulary's typo corrections, after an add, a replacement, a
// deletion and a settings change.
func TestTermStatisticsFollowWrites(t *testing.T) {
	srv, s := inProcess(t)
	es, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	queries := []string{"refund parcel", "shiping fees", "courier tracking", "退款多久到账"}
	steps := []struct {
		name string
		do   func(t *testing.T, st kefu.Store)
	}{
		{"first documents", func(t *testing.T, st kefu.Store) {
			storetest.NewKB(t, st, "kb")
			storetest.Put(t, st, "kb", "refunds", storetest.Passages("A refund takes five days after the parcel arrives.", "Shipping fees are refunded for damaged parcels."))
			storetest.Put(t, st, "kb", "faq", storetest.Passages("退款三到五天到账。", "快递一般两天到达。"))
		}},
		{"a document added", func(t *testing.T, st kefu.Store) {
			storetest.Put(t, st, "kb", "shipping", storetest.Passages("Parcels travel by courier; tracking numbers arrive by mail.", "Shipping abroad takes two weeks."))
		}},
		{"a document replaced", func(t *testing.T, st kefu.Store) {
			storetest.Put(t, st, "kb", "refunds", storetest.Passages("Refunds reach the card within a week.", "Shipping fees are refunded for damaged parcels."))
		}},
		{"a document deleted", func(t *testing.T, st kefu.Store) {
			if err := st.DeleteDocument(context.Background(), "kb", "faq"); err != nil {
				t.Fatal(err)
			}
		}},
		{"settings changed", func(t *testing.T, st kefu.Store) {
			kb, err := st.KB(context.Background(), "kb")
			if err != nil {
				t.Fatal(err)
			}
			kb.Description = "shop"
			if err := st.UpdateKB(context.Background(), kb); err != nil {
				t.Fatal(err)
			}
		}},
	}
	facets := 0
	for i, step := range steps {
		step.do(t, s)
		step.do(t, es)
		if i > 0 && srv.Calls("Facet") != facets {
			t.Errorf("%s: %d facet calls, want the statistics carried without one", step.name, srv.Calls("Facet")-facets)
		}
		fresh := openOpts(t, s.opts) // no cache: one facet over Qdrant
		for _, q := range queries {
			got, want, embedded := describe(t, s, q), describe(t, fresh, q), describe(t, es, q)
			if got != want || got != embedded {
				t.Errorf("%s, %q:\ncarried  %s\nfetched  %s\nembedded %s", step.name, q, got, want, embedded)
			}
		}
		fresh.Close()
		facets = srv.Calls("Facet")
	}
}

// describe is what a search reports of the KB's term statistics.
func describe(t *testing.T, s kefu.Store, q string) string {
	c := storetest.Search(t, s, "kb", q, nil)
	return fmt.Sprintf("%d chunks, terms %+v", c.DocCount, c.QueryTerms)
}

// A hit whose point is gone by the time its chunk is loaded (deleted after
// RetireGrace) is reported as errRetired, on which Search runs again,
// rather than left out of the chunks.
func TestLoadingARetiredHit(t *testing.T) {
	_, s := inProcess(t)
	storetest.NewKB(t, s, "kb")
	storetest.Put(t, s, "kb", "d", storetest.Passages("orchids need little water"))
	rec, err := s.record(context.Background(), "kb")
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Search(t, s, "kb", "orchids", nil)
	if len(c.Keyword) != 1 || len(c.Chunks) != 1 {
		t.Fatalf("search: %d hits, %d chunks", len(c.Keyword), len(c.Chunks))
	}
	id := c.Keyword[0].ChunkID
	gone := &qdrant.ScoredPoint{Id: chunkPointID(id, rec.KB.Version+7)} // never written
	err = s.loadChunks(context.Background(), rec.Collection, []string{id}, map[string]*found{id: {point: gone}}, map[string]*kefu.Chunk{})
	if !errors.Is(err, errRetired) {
		t.Errorf("loading a deleted point: %v, want errRetired", err)
	}
}
