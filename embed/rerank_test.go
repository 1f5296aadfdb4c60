package embed

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// The HuggingFace BERT pair template is [CLS] A [SEP] B [SEP], type ids 0
// for the first three parts and 1 for the rest: the pair encoding must equal
// the two single encodings joined that way.
func TestEncodePairFollowsTheTemplate(t *testing.T) {
	tok, err := LoadTokenizer(testenv.Model(t, "tiny-zh"), 128)
	if err != nil {
		t.Fatal(err)
	}
	q, p := "退款多久能到账？", "审核通过后，一般在1个工作日内到账。"
	a, _ := tok.Encode(q)
	b, _ := tok.Encode(p)
	ids, types, err := tok.EncodePair(q, p)
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(a), b[1:]...)
	if !slices.Equal(ids, want) {
		t.Fatalf("pair ids %v, want %v", ids, want)
	}
	for i, ty := range types {
		if w := 0; i >= len(a) {
			w = 1
			if ty != w {
				t.Fatalf("type id %d at %d, want 1", ty, i)
			}
		} else if ty != w {
			t.Fatalf("type id %d at %d, want 0", ty, i)
		}
	}
}

func TestEncodePairTruncatesLongestFirst(t *testing.T) {
	tok, err := LoadTokenizer(testenv.Model(t, "tiny-en"), 20)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("refund ", 30)
	query := "how long does a refund take"
	qids, _ := tok.Encode(query)
	ids, types, err := tok.EncodePair(query, long)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 20 || len(types) != 20 || ids[0] != 101 || ids[len(ids)-1] != 102 {
		t.Fatalf("truncated pair %v", ids)
	}
	// Longest-first cuts only the long passage while it is the longer side:
	// the short query stays whole.
	n0 := 0
	for _, ty := range types {
		if ty == 0 {
			n0++
		}
	}
	if n0 != len(qids) {
		t.Errorf("query side holds %d tokens, want all %d", n0, len(qids))
	}
	ids, _, _ = tok.EncodePair(long, long)
	if len(ids) != 20 {
		t.Errorf("two long texts: %d ids", len(ids))
	}
}

func TestPairTemplates(t *testing.T) {
	roberta := json.RawMessage(`{"type":"RobertaProcessing","cls":["<s>",0],"sep":["</s>",2]}`)
	pp, err := parsePostProcessor(roberta)
	pieces := pp.pair
	if err != nil || len(pieces) != 5 || !slices.Equal(pieces[2].ids, []int{2, 2}) || pieces[3].seq != "B" || pieces[3].typ != 0 {
		t.Errorf("roberta pair template %+v, %v", pieces, err)
	}
	if p, err := parsePostProcessor(json.RawMessage(`null`)); p.pair != nil || err != nil {
		t.Errorf("null template: %v %v", p.pair, err)
	}
}

func rerankerSpec(t *testing.T) kefu.ModelSpec {
	spec := sharedSpec(t, "tiny-en")
	spec.Pooling, spec.Normalize = kefu.PoolCLS, false
	return spec
}

func TestRerankerBatchesAgreeAndTypesAreFed(t *testing.T) {
	if err := InitRuntime(testenv.RequireORT(t)); err != nil {
		t.Fatal(err)
	}
	r, err := NewReranker(rerankerSpec(t), Options{MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q := "how long does a refund take"
	ps := []string{"Refunds arrive within five business days.", "Shipping is free.", "x", "Warranty: one year for electronics, three for appliances.", "Refund", "We ship to 40 countries."}
	all, err := r.Rerank(context.Background(), q, ps)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		one, err := r.Rerank(context.Background(), q, []string{p})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(one[0]-all[i]) > 1e-5 {
			t.Errorf("passage %d: alone %v, in a padded batch %v", i, one[0], all[i])
		}
	}
	// The second segment's type ids change the model's input: scores differ
	// from the same ids fed with type 0 everywhere.
	ids, types, _ := r.tok.EncodePair(q, ps[0])
	s := <-r.sessions
	defer func() { r.sessions <- s }()
	with, without := make([]float32, s.g.dim), make([]float32, s.g.dim)
	if _, err := s.run([][]int{ids}, [][]int{types}, with); err != nil {
		t.Fatal(err)
	}
	if _, err := s.run([][]int{ids}, nil, without); err != nil {
		t.Fatal(err)
	}
	if float64(with[0]) != all[0] || with[0] == without[0] {
		t.Errorf("score with types %v (rerank %v), without %v", with[0], all[0], without[0])
	}
}

func TestRerankerRefusesModelsWithoutPairs(t *testing.T) {
	if err := InitRuntime(testenv.RequireORT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReranker(sharedSpec(t, "use-lite-en"), Options{}); kefu.ErrorCode(err) != kefu.EUNSUPPORTED {
		t.Errorf("use-lite-en as a reranker: %v", err)
	}
}

// Close waits for a rerank running on a session before it frees it, and a
// rerank after Close fails instead of running on freed memory.
func TestRerankerCloseDuringRerank(t *testing.T) {
	if err := InitRuntime(testenv.RequireORT(t)); err != nil {
		t.Fatal(err)
	}
	r, err := NewReranker(rerankerSpec(t), Options{MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]string, 2000)
	for i := range ps {
		ps[i] = strings.Repeat("Refunds arrive within five business days. ", 1+i%8)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Rerank(context.Background(), "how long does a refund take", ps)
		done <- err
	}()
	// Close once the rerank holds the one session.
	for len(r.sessions) > 0 {
		select {
		case err := <-done:
			t.Fatalf("the rerank ended (%v) before Close could meet it", err)
		default:
			time.Sleep(100 * time.Microsecond)
		}
	}
	r.Close()
	if err := <-done; err != nil {
		t.Errorf("the running rerank: %v", err)
	}
	if _, err := r.Rerank(context.Background(), "q", []string{"p"}); kefu.ErrorCode(err) != kefu.EUNAVAILABLE {
		t.Errorf("rerank after Close: %v", err)
	}
}
