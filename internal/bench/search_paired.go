package bench

import (
	"context"
	"math/rand/v2"
	"runtime"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/bench/synth"
	"github.com/kefu-dev/kefu/retrieve"
)

// PairedReport times the embedded store and another on the same searches
// side by side: each query on both, the first of the two alternating. On a
// shared machine, whose speed drifts by more than the difference measured
// (p50 of the same run varies by ±15 % from run to run here), separate
// passes can only compare differences larger than the drift; paired ones
// slow both stores alike.
type PairedReport struct {
	Queries       int     `json:"queries"`
	EmbeddedP50MS float64 `json:"embedded_p50_ms"`
	OtherP50MS    float64 `json:"other_p50_ms"`
	AddedP50MS    float64 `json:"added_p50_ms"` // OtherP50MS − EmbeddedP50MS
	EmbeddedP99MS float64 `json:"embedded_p99_ms"`
	OtherP99MS    float64 `json:"other_p99_ms"`
	// MedianAddedMS is the median over the queries of the other store's
	// time minus the embedded store's on the same query.
	MedianAddedMS float64 `json:"median_added_ms"`
}

// searchPaired reopens the benchmark KB on both stores (built by
// searchOn) and times searches on both in pairs.
func searchPaired(ctx context.Context, o SearchOptions, open [2]func() (kefu.Store, error)) (*PairedReport, error) {
	_, qs, err := searchCorpus()
	if err != nil {
		return nil, err
	}
	var (
		rets [2]*retrieve.Retriever
		kbs  [2]*kefu.KB
	)
	for i, open := range open {
		st, err := open()
		if err != nil {
			return nil, err
		}
		defer st.Close()
		if err := waitReady(ctx, st, &SearchReport{}); err != nil {
			return nil, err
		}
		if kbs[i], err = st.KB(ctx, "bench"); err != nil {
			return nil, err
		}
		rets[i] = &retrieve.Retriever{Index: st, KBs: st}
	}
	if o.Procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.Procs))
	}
	var lat [2][]float64
	var diff []float64
	// Other queries and vectors than searchOn's, which warmed what both
	// stores cache of those.
	rng := rand.New(rand.NewPCG(7, 13))
	for i := 0; i < o.Queries+warmups; i++ {
		q := kefu.Query{Text: qs[(o.Queries+warmups+i)%len(qs)], K: 10, Mode: kefu.ModeHybrid}
		v := synth.RandomUnit(rng, o.Dim)
		var wall [2]float64
		for k := range 2 {
			j := (i + k) % 2
			t, err := timeSearch(ctx, rets[j], kbs[j], q, v)
			if err != nil {
				return nil, err
			}
			wall[j] = t.wall
		}
		if i < warmups {
			continue // warm-up
		}
		lat[0], lat[1] = append(lat[0], wall[0]), append(lat[1], wall[1])
		diff = append(diff, wall[1]-wall[0])
	}
	rep := &PairedReport{Queries: o.Queries, EmbeddedP50MS: pct(lat[0], 50), OtherP50MS: pct(lat[1], 50),
		EmbeddedP99MS: pct(lat[0], 99), OtherP99MS: pct(lat[1], 99), MedianAddedMS: pct(diff, 50)}
	rep.AddedP50MS = rep.OtherP50MS - rep.EmbeddedP50MS
	return rep, nil
}
