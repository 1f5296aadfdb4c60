package vector

import (
	"cmp"
	"math"
	"slices"
)

// Result is one search hit: a label and its best vector's cosine similarity
// to the query (the dot product, vectors being unit length).
type Result struct {
	Label uint32  `json:"label"`
	Score float32 `json:"score"`
}

// topK keeps the k best distinct labels seen: a min-heap on Score, worst at
// the root. With dedup set, a label already held keeps its best score; pos
// then maps labels to heap slots.
type topK struct {
	k     int
	heap  []Result
	dedup bool
	pos   map[uint32]int
}

func (t *topK) reset(k int, dedup bool) {
	t.k, t.dedup = k, dedup
	t.heap = t.heap[:0]
	if dedup {
		if t.pos == nil {
			t.pos = make(map[uint32]int, k)
		}
		clear(t.pos)
	}
}

// threshold is the score a new label must beat to enter.
func (t *topK) threshold() float32 {
	if len(t.heap) < t.k {
		return float32(math.Inf(-1))
	}
	return t.heap[0].Score
}

// push offers label with score; the caller has checked score > threshold()
// or wants it checked here.
func (t *topK) push(label uint32, score float32) {
	if t.dedup {
		if i, ok := t.pos[label]; ok {
			if score > t.heap[i].Score {
				t.heap[i].Score = score
				t.down(i)
			}
			return
		}
	}
	if len(t.heap) < t.k {
		t.heap = append(t.heap, Result{label, score})
		if t.dedup {
			t.pos[label] = len(t.heap) - 1
		}
		t.up(len(t.heap) - 1)
		return
	}
	if !(score > t.heap[0].Score) {
		return
	}
	if t.dedup {
		delete(t.pos, t.heap[0].Label)
		t.pos[label] = 0
	}
	t.heap[0] = Result{label, score}
	t.down(0)
}

func (t *topK) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	if t.dedup {
		t.pos[t.heap[i].Label] = i
		t.pos[t.heap[j].Label] = j
	}
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !(t.heap[i].Score < t.heap[p].Score) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.heap[r].Score < t.heap[l].Score {
			m = r
		}
		if !(t.heap[m].Score < t.heap[i].Score) {
			return
		}
		t.swap(i, m)
		i = m
	}
}

// sorted returns the held labels best first (ties by label) in a new slice.
func (t *topK) sorted() []Result {
	out := slices.Clone(t.heap)
	sortResults(out)
	return out
}

func sortResults(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return cmp.Compare(a.Label, b.Label)
	})
}
