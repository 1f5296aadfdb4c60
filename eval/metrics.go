package eval

import (
	"math"
	"sort"

	"github.com/kefu-dev/kefu"
)

// Run is a ranking per query: query id → doc ids, best first.
type Run map[string][]string

// Metric names, as reported and as keys of --json output.
const (
	MetricRecall1   = "recall@1"
	MetricRecall5   = "recall@5"
	MetricRecall10  = "recall@10"
	MetricRecall100 = "recall@100"
	MetricMRR10     = "mrr@10"
	MetricNDCG10    = "ndcg@10"
	MetricMAP100    = "map@100"
)

// MetricNames lists the reported metrics in display order.
var MetricNames = []string{MetricRecall1, MetricRecall5, MetricRecall10, MetricRecall100, MetricMRR10, MetricNDCG10, MetricMAP100}

// QueryMetrics computes every metric for one ranking against one query's
// judgements, with trec_eval's definitions: gain is the grade, discount
// log2(rank+1), the ideal ranking sorts the judged grades; recall and
// average precision count relevant documents never retrieved.
func QueryMetrics(ranked []string, rels map[string]int) map[string]float64 {
	nrel := 0
	for _, g := range rels {
		if g > 0 {
			nrel++
		}
	}
	m := map[string]float64{}
	if nrel == 0 {
		return m
	}
	// A run may name a document twice; its first place counts.
	seen := make(map[string]bool, len(ranked))
	uniq := make([]string, 0, len(ranked))
	for _, id := range ranked {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	var ap, dcg, rr float64
	found := 0
	foundAt := map[int]int{} // relevant documents within the first k
	cuts := []int{1, 5, 10, 100}
	for i, id := range uniq {
		rank := i + 1
		if g := rels[id]; g > 0 {
			found++
			if rank <= 100 {
				ap += float64(found) / float64(rank)
			}
			if rank <= 10 {
				dcg += float64(g) / math.Log2(float64(rank)+1)
				if rr == 0 {
					rr = 1 / float64(rank)
				}
			}
		}
		for _, k := range cuts {
			if rank <= k {
				foundAt[k] = found
			}
		}
	}
	for _, k := range cuts {
		if len(uniq) < k {
			foundAt[k] = found
		}
	}
	m[MetricRecall1] = float64(foundAt[1]) / float64(nrel)
	m[MetricRecall5] = float64(foundAt[5]) / float64(nrel)
	m[MetricRecall10] = float64(foundAt[10]) / float64(nrel)
	m[MetricRecall100] = float64(foundAt[100]) / float64(nrel)
	m[MetricMRR10] = rr
	m[MetricMAP100] = ap / float64(nrel)

	grades := make([]int, 0, len(rels))
	for _, g := range rels {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(grades)))
	idcg := 0.0
	for i, g := range grades[:min(10, len(grades))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	m[MetricNDCG10] = dcg / idcg
	return m
}

// Evaluate averages the metrics of a run over the queries that have at least
// one relevant judgement; it also returns the per-query values.
func Evaluate(run Run, qrels kefu.Qrels) (mean map[string]float64, perQuery map[string]map[string]float64) {
	mean = map[string]float64{}
	perQuery = map[string]map[string]float64{}
	for q, rels := range qrels {
		m := QueryMetrics(run[q], rels)
		if len(m) == 0 {
			continue
		}
		perQuery[q] = m
		for k, v := range m {
			mean[k] += v
		}
	}
	if n := len(perQuery); n > 0 {
		for k := range mean {
			mean[k] /= float64(n)
		}
	}
	return mean, perQuery
}

// AtK returns mean recall@k and nDCG@k of a run, for cutoffs other than the
// reported ones; the definitions are QueryMetrics'.
func AtK(run Run, qrels kefu.Qrels, k int) (recall, ndcg float64) {
	n := 0
	for q, rels := range qrels {
		var grades []int
		for _, g := range rels {
			if g > 0 {
				grades = append(grades, g)
			}
		}
		if len(grades) == 0 {
			continue
		}
		n++
		sort.Sort(sort.Reverse(sort.IntSlice(grades)))
		var dcg, idcg float64
		found := 0
		seen := map[string]bool{}
		rank := 0
		for _, id := range run[q] {
			if seen[id] {
				continue
			}
			seen[id] = true
			rank++
			if rank > k {
				break
			}
			if g := rels[id]; g > 0 {
				found++
				dcg += float64(g) / math.Log2(float64(rank)+1)
			}
		}
		for i, g := range grades[:min(k, len(grades))] {
			idcg += float64(g) / math.Log2(float64(i+2))
		}
		recall += float64(found) / float64(len(grades))
		ndcg += dcg / idcg
	}
	if n > 0 {
		recall /= float64(n)
		ndcg /= float64(n)
	}
	return recall, ndcg
}
