package keyword

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The document frequencies of a term searched all along stay cached however
// many other words come and go: only the least recently searched are
// forgotten.
func TestDocFreqsKeepTermsInUse(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	ix := openMem(t, Options{CompactAfter: -1})
	apply(t, ix, randomDocs(rng, 300, "c"), nil, nil)
	sn, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.close()
	s := ix.scratch.get()
	defer ix.scratch.put(s)
	s.prepare(sn.size())
	mask := fieldMask(ix.scoredFields(sn))
	st := sn.segTermsOf(0, mask)
	hot := "refund"
	want, err := sn.docFreqs(mask, []byte(hot), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * dfCacheTerms {
		if _, err := sn.docFreqs(mask, fmt.Appendf(nil, "w%d", i), s, nil); err != nil {
			t.Fatal(err)
		}
		if i%100 != 99 {
			continue
		}
		if !st.m.Contains(hot) {
			t.Fatalf("after %d other words, %q's document frequencies were forgotten", i+1, hot)
		}
		if got, err := sn.docFreqs(mask, []byte(hot), s, nil); err != nil || got != want {
			t.Fatalf("%q: %+v, %v; want %+v", hot, got, err, want)
		}
	}
	if n := st.m.Len(); n != dfCacheTerms {
		t.Fatalf("%d terms cached, want the bound %d", n, dfCacheTerms)
	}
}
