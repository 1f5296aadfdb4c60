package keyword

import (
	"testing"

	"github.com/kefu-dev/kefu"
)

// A query's question characters and particles weigh funcCharWeight, its
// other characters charWeight, its words 1, whatever their order.
func TestQuestionCharactersWeighLittle(t *testing.T) {
	ix := openMem(t, Options{})
	want := map[string]float64{
		bigramMark + "哪": funcCharWeight,
		bigramMark + "呢": funcCharWeight,
		bigramMark + "吗": funcCharWeight,
		bigramMark + "发": charWeight,
		bigramMark + "票": charWeight,
		"发票":             1,
	}
	got := map[string]float64{}
	for _, q := range ix.queryTerms("发票在哪开呢？能开吗") {
		got[q.term] = q.qtf
		if q.kind == kefu.TermPart && functionChars[q.term] != (q.qtf == funcCharWeight) {
			t.Errorf("%s weighs %v", q.term, q.qtf)
		}
	}
	for term, w := range want {
		if got[term] != w {
			t.Errorf("%s weighs %v, want %v", term, got[term], w)
		}
	}
}

// The question characters of a colloquial query do not draw it to a short
// FAQ question that holds them when another entry holds its topic: the
// query asks where to get an invoice, not where a parcel is. (The word 哪
// still weighs 1: 票在哪开呢, which shares no word with the invoice entry,
// still ranks the parcel first.)
func TestQuestionCharactersDoNotRank(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, []Doc{
		{ID: "parcel", DocID: "faq", Kind: "faq", Lang: "zh", Questions: "包裹到哪了？", Body: "在订单详情页查看物流信息。"},
		{ID: "invoice", DocID: "faq", Kind: "faq", Lang: "zh", Questions: "怎么申请开具电子发票？", Body: "订单完成后，在订单详情页点击申请发票，填写抬头和税号即可。"},
	}, nil, nil)
	for _, q := range []string{"开票在哪点呢", "电子票在哪弄啊"} {
		hits := search(t, ix, q, 2, nil)
		for _, h := range hits {
			t.Logf("%s: %s %.3f", q, h.ChunkID, h.Score)
		}
		if len(hits) == 0 || hits[0].ChunkID != "invoice" {
			t.Errorf("%s: got %v, want invoice first", q, ids(hits))
		}
	}
}
