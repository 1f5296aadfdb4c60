package answer

import (
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
)

// BenchmarkMatch: the hand-off check every question pays, default lists.
func BenchmarkMatch(b *testing.B) {
	p := compile(nil, 1)
	m := newMatcher(p.sensitive, p.requests, p.exceptions)
	q := "Hi, my order from last week still hasn't arrived and tracking says it is stuck, what should I do? 我的快递到哪了"
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if _, ok := m.Match(q); ok {
			b.Fatal("unexpected hand-off")
		}
	}
}

// BenchmarkCiteFilter: filtering a streamed answer in 4-byte deltas.
func BenchmarkCiteFilter(b *testing.B) {
	text := strings.Repeat("Refunds reach wallets within 1 business day [1] and cards within 5 [2, 7]. ", 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		f := newCiteFilter(3, func(string) {})
		for i := 0; i < len(text); i += 4 {
			f.Write(text[i:min(i+4, len(text))])
		}
		f.Flush()
	}
}

// BenchmarkAsk: the answerer's own cost around retrieval (a fake retriever
// returning an FAQ hit), uncached and cached.
func BenchmarkAsk(b *testing.B) {
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(b, "退款多久能到账？")), Confidence: 0.93, Version: 1}}
	for _, c := range []struct {
		name string
		size int
	}{{"uncached", -1}, {"cached", 1024}} {
		b.Run(c.name, func(b *testing.B) {
			s := newService(b, ret, newKBs(shopKB()), func(o *Options) { o.CacheSize = c.size })
			req := kefu.AskRequest{KB: "shop", Question: "钱多久能退回来"}
			for b.Loop() {
				if _, err := s.Ask(b.Context(), req, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
