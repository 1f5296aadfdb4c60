package answer

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// faqEntry is one row of the demo shop FAQ.
type faqEntry struct {
	Question, Answer, Category, Lang string
}

var (
	faqOnce sync.Once
	faqRows []faqEntry
	faqErr  error
)

// shopFAQ reads ../shared/data/demo/shop_faq.csv.
func shopFAQ(t testing.TB) []faqEntry {
	t.Helper()
	path := testenv.Shared(t, "data/demo/shop_faq.csv")
	faqOnce.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			faqErr = err
			return
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			faqErr = err
			return
		}
		for _, r := range rows[1:] {
			faqRows = append(faqRows, faqEntry{r[0], r[1], r[2], r[3]})
		}
	})
	if faqErr != nil {
		t.Fatal(faqErr)
	}
	if len(faqRows) != 40 {
		t.Fatalf("shop FAQ has %d rows, want 40", len(faqRows))
	}
	return faqRows
}

// faq returns the FAQ entry with this canonical question.
func faq(t testing.TB, question string) faqEntry {
	t.Helper()
	for _, e := range shopFAQ(t) {
		if e.Question == question {
			return e
		}
	}
	t.Fatalf("no FAQ entry %q", question)
	return faqEntry{}
}

// faqChunk is the chunk an ingested FAQ row becomes.
func faqChunk(t testing.TB, question string) *kefu.Chunk {
	e := faq(t, question)
	return &kefu.Chunk{ID: "faq:" + e.Question, DocID: "shop_faq.csv", Kind: kefu.KindFAQ, Title: "shop_faq.csv",
		Questions: []string{e.Question}, Text: e.Answer, Category: e.Category, Lang: e.Lang}
}

// passage is an FAQ answer ingested as a passage of a help page, so the
// LLM and extractive paths see real shop text.
func passage(t testing.TB, question string) *kefu.Chunk {
	e := faq(t, question)
	return &kefu.Chunk{ID: "help:" + e.Question, DocID: "help/" + e.Category + ".md", Kind: kefu.KindPassage,
		Title: "Shop help", Headings: []string{e.Category}, Text: e.Answer, URL: "https://shop.example/help/" + e.Category, Lang: e.Lang}
}

func hits(chunks ...*kefu.Chunk) []kefu.Hit {
	out := make([]kefu.Hit, len(chunks))
	for i, c := range chunks {
		out[i] = kefu.Hit{Chunk: c, Score: 1 / float64(i+1)}
	}
	return out
}

// fakeRetriever answers every query with a fixed retrieval, or with
// byQuery[query] when set, and records the queries it saw.
type fakeRetriever struct {
	mu      sync.Mutex
	ret     kefu.Retrieval
	byQuery map[string]kefu.Retrieval
	queries []string
}

func (f *fakeRetriever) Retrieve(ctx context.Context, kb string, q kefu.Query) (*kefu.Retrieval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q.Text)
	if r, ok := f.byQuery[q.Text]; ok {
		return &r, nil
	}
	r := f.ret
	return &r, nil
}

func (f *fakeRetriever) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

func (f *fakeRetriever) set(r kefu.Retrieval) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ret = r
}

// fakeKBs holds KBs by name.
type fakeKBs struct {
	mu  sync.Mutex
	kbs map[string]*kefu.KB
}

func newKBs(kbs ...*kefu.KB) *fakeKBs {
	f := &fakeKBs{kbs: make(map[string]*kefu.KB)}
	for _, kb := range kbs {
		f.kbs[kb.Name] = kb
	}
	return f
}

func (f *fakeKBs) KB(ctx context.Context, name string) (*kefu.KB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kb, ok := f.kbs[name]
	if !ok {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no KB %q", name)
	}
	c := *kb
	return &c, nil
}

func (f *fakeKBs) update(name string, fn func(*kefu.KB)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.kbs[name])
	f.kbs[name].Version++
}

func shopKB() *kefu.KB {
	return &kefu.KB{Name: "shop", Settings: kefu.DefaultSettings(), Version: 1}
}

// memLog is an in-memory kefu.AnswerLog.
type memLog struct {
	mu   sync.Mutex
	recs []kefu.AnswerRecord
	fbs  []kefu.Feedback
}

func (l *memLog) LogAnswer(ctx context.Context, rec kefu.AnswerRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
	return nil
}

func (l *memLog) Unanswered(ctx context.Context, kb string, limit int) ([]kefu.AnswerRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []kefu.AnswerRecord
	for _, r := range l.recs {
		if r.KB == kb && (r.Route == kefu.RouteDisclaimer || r.Route == kefu.RouteUnknown) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (l *memLog) AddFeedback(ctx context.Context, kb string, fb kefu.Feedback) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fbs = append(l.fbs, fb)
	return nil
}

func (l *memLog) FeedbackList(ctx context.Context, kb string, vote, limit int) ([]kefu.FeedbackRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []kefu.FeedbackRecord
	for i := len(l.fbs) - 1; i >= 0 && len(out) < limit; i-- {
		if fb := l.fbs[i]; vote == 0 || fb.Vote == vote {
			out = append(out, kefu.FeedbackRecord{Feedback: fb, KB: kb})
		}
	}
	return out, nil
}

func (l *memLog) AnswerRecord(ctx context.Context, kb, id string) (*kefu.AnswerRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.KB == kb && r.ID == id {
			return &r, nil
		}
	}
	return nil, kefu.Errorf(kefu.ENOTFOUND, "answer %q not found", id)
}

func (l *memLog) ReviewUnanswered(ctx context.Context, kb string, ids []string, r kefu.Review) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.recs {
		if l.recs[i].KB == kb && slices.Contains(ids, l.recs[i].ID) {
			rv := r
			l.recs[i].Review = &rv
		}
	}
	return nil
}

func (l *memLog) all() []kefu.AnswerRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]kefu.AnswerRecord(nil), l.recs...)
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	answers  []AnswerEvent
	calls    []LLMCall
	breakers []string
}

func (r *recorder) ObserveAnswer(a AnswerEvent) {
	r.mu.Lock()
	r.answers = append(r.answers, a)
	r.mu.Unlock()
}
func (r *recorder) ObserveLLM(c LLMCall) { r.mu.Lock(); r.calls = append(r.calls, c); r.mu.Unlock() }
func (r *recorder) ObserveBreaker(endpoint, from, to string) {
	r.mu.Lock()
	r.breakers = append(r.breakers, from+">"+to)
	r.mu.Unlock()
}

func (r *recorder) llmCalls() []LLMCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]LLMCall(nil), r.calls...)
}

// quiet is a logger for tests: it drops everything.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newService builds a Service over a fake retriever and the shop KB.
func newService(t testing.TB, ret *fakeRetriever, kbs *fakeKBs, mod func(*Options)) *Service {
	t.Helper()
	opts := Options{Retriever: ret, KBs: kbs, Logger: quiet()}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// histories are the turns ask has seen, by service, KB and conversation:
// test equipment standing in for a kefu.Desk, which gives the answerer a
// conversation's stored turns. It cannot show that a Desk stores them
// (desk's own tests do).
var histories sync.Map // string → []kefu.Turn

// ask runs Ask, with the history of the turns it has seen in the same
// conversation when the request names one and brings none, and checks the
// invariants every answer keeps: the streamed pieces join to Text,
// citations are numbered within the evidence, and a disclaimer route
// carries its disclaimer at the end of the text.
func ask(t testing.TB, s *Service, req kefu.AskRequest) *kefu.Answer {
	t.Helper()
	key := fmt.Sprintf("%p\x00%s\x00%s", s, req.KB, req.ConversationID)
	if req.ConversationID != "" && req.History == nil {
		if h, ok := histories.Load(key); ok {
			req.History = h.([]kefu.Turn)
		}
	}
	var streamed string
	a, err := s.Ask(context.Background(), req, func(d string) { streamed += d })
	if err != nil {
		t.Fatalf("Ask(%q): %v", req.Question, err)
	}
	if req.ConversationID != "" {
		q := a.Query
		if q == "" {
			q = req.Question
		}
		histories.Store(key, append(req.History[:len(req.History):len(req.History)], kefu.Turn{Question: req.Question, Query: q, Answer: a.Text, Route: a.Route, Lang: a.Lang}))
	}
	if streamed != a.Text {
		t.Errorf("Ask(%q): streamed %q, Text %q", req.Question, streamed, a.Text)
	}
	if a.ID == "" || a.Citations == nil {
		t.Errorf("Ask(%q): id %q citations %v", req.Question, a.ID, a.Citations)
	}
	if a.Route == kefu.RouteDisclaimer {
		if a.Disclaimer == "" || !endsWith(a.Text, a.Disclaimer) {
			t.Errorf("Ask(%q): disclaimer route, text %q does not end with disclaimer %q", req.Question, a.Text, a.Disclaimer)
		}
	} else if a.Disclaimer != "" {
		t.Errorf("Ask(%q): route %s with disclaimer %q", req.Question, a.Route, a.Disclaimer)
	}
	return a
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

func show(a *kefu.Answer) string {
	return fmt.Sprintf("route=%s conf=%.2f text=%q cites=%v", a.Route, a.Confidence, a.Text, a.Citations)
}
