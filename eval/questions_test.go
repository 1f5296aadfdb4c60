package eval

import (
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
)

func TestParseQuestions(t *testing.T) {
	faqs := map[string]string{"怎么申请退款？": "faq.csv#0", "How do I request a refund?": "faq.csv#0", "发票怎么开": "faq.csv#3"}
	set, err := ParseQuestions("q.jsonl", []byte(`{"question":"钱多久能退回来","faq_questions":["怎么申请退款？"]}

{"id":"inv","question":"发票","faq_questions":[" 发票怎么开 "],"chunk_ids":["faq.csv#4"]}
{"question":"火星上有水吗","none":true}
`), faqs)
	if err != nil {
		t.Fatal(err)
	}
	if !set.ByChunk || len(set.Qrels) != 3 || set.Queries["q1"] != "钱多久能退回来" || set.Queries["inv"] != "发票" {
		t.Fatalf("set %+v", set)
	}
	if q := set.Qrels["q1"]; len(q) != 1 || q["faq.csv#0"] != 1 {
		t.Errorf("q1 judged %v", q)
	}
	if q := set.Qrels["inv"]; len(q) != 2 || q["faq.csv#3"] != 1 || q["faq.csv#4"] != 1 {
		t.Errorf("inv judged %v", q)
	}
	if q, ok := set.Qrels["q4"]; !ok || len(q) != 0 {
		t.Errorf("the unanswerable question: %v %v", q, ok)
	}
	docs, err := ParseQuestions("d.jsonl", []byte(`{"question":"a","doc_ids":["x.md"]}`), nil)
	if err != nil || docs.ByChunk || docs.Qrels["q1"]["x.md"] != 1 {
		t.Errorf("doc labels: %+v %v", docs, err)
	}
	for in, want := range map[string]string{
		`{"question":"a","doc_ids":["x"]}` + "\n" + `{"question":"b","chunk_ids":["y"]}`: "not a mix",
		`{"question":"a"}`: "needs a question",
		`{"question":"a","doc_ids":["x"],"none":true}`: "needs a question",
		`{"doc_ids":["x"]}`:                            "needs a question",
		`{"question":"a","faq_questions":["unknown"]}`: `no FAQ entry asks "unknown"`,
		`{"question":`:                                 "q.jsonl:1",
		"\n\n":                                         "no questions",
		`{"id":"x","question":"a","doc_ids":["d"]}` + "\n" + `{"id":"x","question":"b","doc_ids":["d"]}`: `id "x" is used twice`,
	} {
		_, err := ParseQuestions("q.jsonl", []byte(in), faqs)
		if kefu.ErrorCode(err) != kefu.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an invalid error saying %q", in, err, want)
		}
	}
}

// The split is a function of the question's text: the same on every run,
// disjoint, and covering every question.
func TestSplitQuestions(t *testing.T) {
	all := &kefu.LabelledSet{Name: "q", Queries: map[string]string{}, Qrels: kefu.Qrels{}, ByChunk: true}
	for i := range 200 {
		id := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		all.Queries[id] = "question " + id
		all.Qrels[id] = map[string]int{"c" + id: 1}
	}
	train, test := SplitQuestions(all)
	again, _ := SplitQuestions(all)
	if len(train.Qrels)+len(test.Qrels) != 200 || len(train.Qrels) < 70 || len(test.Qrels) < 70 || !train.ByChunk {
		t.Fatalf("split %d / %d", len(train.Qrels), len(test.Qrels))
	}
	for id := range train.Qrels {
		if _, ok := test.Qrels[id]; ok {
			t.Errorf("%s in both halves", id)
		}
		if _, ok := again.Qrels[id]; !ok || train.Queries[id] != all.Queries[id] {
			t.Errorf("%s moved between runs", id)
		}
	}
}

// FuzzParseQuestions: any file gives a set or an error in the API's words,
// never a panic; a set has a question for every judged id.
func FuzzParseQuestions(f *testing.F) {
	f.Add([]byte(`{"question":"钱多久能退回来","faq_questions":["怎么申请退款？"]}` + "\n" + `{"question":"x","none":true}`))
	f.Add([]byte(`{"id":"a","question":"q","doc_ids":["d1","d2"]}`))
	f.Add([]byte("{\"question\":\"\\u0000\",\"chunk_ids\":[\"\"]}\r\n\n"))
	faqs := map[string]string{"怎么申请退款？": "faq.csv#0"}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseQuestions("f.jsonl", data, faqs)
		if err != nil {
			if c := kefu.ErrorCode(err); c != kefu.EINVALID && c != kefu.ETOOLARGE {
				t.Fatalf("error code %s: %v", c, err)
			}
			return
		}
		for id := range set.Qrels {
			if set.Queries[id] == "" {
				t.Fatalf("judged id %q has no question", id)
			}
		}
	})
}
