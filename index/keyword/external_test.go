package keyword

import (
	"context"
	"math"
	"testing"
)

// An engine that stores Analysis.Weights and multiplies them by the query
// weights and Qdrant's idf (ln(1+(N−df+0.5)/(df+0.5))) ranks and scores as
// Index does; the masks and matched counts computed from Fields equal
// SearchHits'.
func TestAnalysisWeightsReproduceIndexScores(t *testing.T) {
	docs := []Doc{
		{ID: "a", DocID: "d1", Kind: "passage", Title: "Refund policy", Body: "Refunds arrive within five business days after we receive the parcel."},
		{ID: "b", DocID: "d1", Kind: "passage", Title: "Refund policy", Headings: "Shipping", Body: "Shipping takes two days; refunds of shipping fees take longer."},
		{ID: "c", DocID: "d2", Kind: "faq", Questions: "怎么申请退款？\n如何退款", Body: "在订单页申请售后，退款三到五天到账。"},
		{ID: "d", DocID: "d3", Kind: "faq", Questions: "快递多久能到", Body: "一般两天到达。"},
		{ID: "e", DocID: "d3", Kind: "passage", Body: "退款 refund refund refund 到账"},
	}
	ix, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Apply(docs, nil, nil); err != nil {
		t.Fatal(err)
	}
	an := NewAnalysis(Options{})
	fields := map[string]Fields{}
	var sum, n [NumFields]float64
	for i := range docs {
		f := an.Fields(&docs[i])
		fields[docs[i].ID] = f
		for j := range f {
			if len(f[j]) > 0 {
				sum[j] += float64(len(f[j]))
				n[j]++
			}
		}
	}
	var avg [NumFields]float64
	for j := range avg {
		if n[j] > 0 {
			avg[j] = sum[j] / n[j]
		}
	}
	for _, query := range []string{"refund days", "怎么退款", "shipping refunds policy", "退款多久到账"} {
		hits, info, err := ix.SearchHits(context.Background(), query, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		q := an.Query(query, nil)
		if len(q.Terms) != len(info.Terms) || q.Counted != info.Counted {
			t.Fatalf("%q: %d terms (%d counted), index %d (%d)", query, len(q.Terms), q.Counted, len(info.Terms), info.Counted)
		}
		for _, h := range hits {
			f := fields[h.ChunkID]
			w := an.Weights(&f, avg)
			var score float64
			var head, body uint64
			for i, term := range q.Indexed {
				if q.Terms[i].Text != info.Terms[i].Text || q.Terms[i].Weight != info.Terms[i].Weight || q.Terms[i].Kind != info.Terms[i].Kind {
					t.Fatalf("%q: term %d is %+v, index %+v", query, i, q.Terms[i], info.Terms[i])
				}
				df := float64(info.Terms[i].DF)
				idf := math.Log(1 + (float64(info.Docs)-df+0.5)/(df+0.5))
				score += q.Terms[i].Weight * idf * w[term]
				for j := range f {
					for _, x := range f[j] {
						if x == term {
							if Head(j) {
								head |= 1 << i
							} else {
								body |= 1 << i
							}
						}
					}
				}
			}
			if math.Abs(score-h.Score) > 1e-9*max(1, h.Score) {
				t.Errorf("%q: chunk %s scores %v from the weights, %v in the index", query, h.ChunkID, score, h.Score)
			}
			if head != h.HeadMatch || body != h.BodyMatch {
				t.Errorf("%q: chunk %s masks %b/%b from the fields, %b/%b in the index", query, h.ChunkID, head, body, h.HeadMatch, h.BodyMatch)
			}
		}
	}
}

// A vocabulary corrects typos as the index does: a Latin word within one
// edit, a Chinese word of the same sound.
func TestVocabularyCorrectsLikeTheIndex(t *testing.T) {
	docs := []Doc{
		{ID: "a", Body: "Refunds arrive within five business days."},
		{ID: "b", Questions: "怎么申请退款", Body: "在订单页申请。"},
		{ID: "c", Body: "快递两天到达。"},
	}
	ix, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Apply(docs, nil, nil); err != nil {
		t.Fatal(err)
	}
	an := NewAnalysis(Options{})
	df := map[string]int{}
	for i := range docs {
		f := an.Fields(&docs[i])
		seen := map[string]bool{}
		for _, ts := range f {
			for _, x := range ts {
				if !seen[x] {
					seen[x] = true
					df[x]++
				}
			}
		}
	}
	v, err := NewVocabulary(df)
	if err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{"refnds busines", "怎么申请退宽", "快第多久"} {
		_, info, err := ix.SearchHits(context.Background(), query, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		q := an.Query(query, v)
		var got, want []string
		for _, x := range q.Terms {
			got = append(got, x.Text)
		}
		for _, x := range info.Terms {
			want = append(want, x.Text)
		}
		if len(got) != len(want) || len(got) <= len(an.Query(query, nil).Terms) {
			t.Fatalf("%q: terms %v, index %v", query, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: terms %v, index %v", query, got, want)
				break
			}
		}
	}
}
