package keyword

import (
	"context"
	"os"
	"testing"

	"github.com/kefu-dev/kefu"
)

// What sharing one index (one Qdrant collection) between KBs costs: Qdrant
// computes the idf of a sparse vector over its whole collection, so KBs that
// share a collection and are told apart by a filter score with each
// other's document frequencies. Here SciFact and afqmc_faq_zh share one
// index and each is searched with a filter on its own chunks, against each
// alone (index/qdrant gives every KB a collection for this reason).
// KEFU_MEASURE=1 go test -run TestMeasureSharedIDF -v ./index/keyword
func TestMeasureSharedIDF(t *testing.T) {
	if os.Getenv("KEFU_MEASURE") == "" {
		t.Skip("measurement; set KEFU_MEASURE=1")
	}
	sci, zh := scifactData(t), afqmc(t)
	shared, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	for _, p := range []struct {
		ds    *beir
		kb    string
		asFAQ bool
	}{{sci, "scifact", false}, {zh, "afqmc", true}} {
		var docs []Doc
		for _, d := range p.ds.corpus {
			doc := Doc{ID: d.ID, DocID: d.ID, Kind: "passage", Title: d.Title, Body: d.Text, Meta: map[string]string{"kb": p.kb}}
			if p.asFAQ {
				doc.Kind, doc.Questions, doc.Body = "faq", d.Text, ""
			}
			docs = append(docs, doc)
		}
		if err := shared.Apply(docs, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		ds    *beir
		kb    string
		asFAQ bool
	}{{sci, "scifact", false}, {zh, "afqmc", true}} {
		alone := buildIndex(t, p.ds, Options{}, p.asFAQ)
		f := &kefu.Filter{Meta: map[string]string{"kb": p.kb}}
		together := evalFunc(t, func(ctx context.Context, q string, k int) ([]kefu.Scored, error) { return shared.Search(ctx, q, k, f) }, p.ds, "test")
		own := evalNDCG(t, alone, p.ds, "test")
		alone.Close()
		t.Logf("%s test nDCG@10: own index %.4f, sharing one with the other dataset %.4f (%+.4f)", p.kb, own, together, together-own)
	}
}
