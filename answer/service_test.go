package answer

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

func TestCache(t *testing.T) {
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "退款多久能到账？")), Confidence: 0.93, Version: 1}}
	kbs := newKBs(shopKB())
	rec := &recorder{}
	log := &memLog{}
	s := newService(t, ret, kbs, func(o *Options) { o.Observer = rec; o.AnswerLog = log })

	first := ask(t, s, kefu.AskRequest{KB: "shop", Question: "钱多久能退回来？"})
	if first.Cached || ret.calls() != 1 {
		t.Fatalf("first ask: cached %v, %d retrievals", first.Cached, ret.calls())
	}
	// Same question up to punctuation, width and spacing: a hit with no retrieval.
	second := ask(t, s, kefu.AskRequest{KB: "shop", Question: " 钱多久能退回来 ", ConversationID: "c9"})
	if !second.Cached || ret.calls() != 1 {
		t.Fatalf("second ask: cached %v, %d retrievals", second.Cached, ret.calls())
	}
	if second.Text != first.Text || second.Route != first.Route || second.Confidence != first.Confidence ||
		len(second.Citations) != 1 || second.ID == first.ID || second.ConversationID != "c9" || second.Timings.RetrieveMS != 0 {
		t.Errorf("cached answer %+v\nfirst %+v", second, first)
	}
	// Cached answers are logged too (they count in unanswered lists).
	if n := len(log.all()); n != 2 {
		t.Errorf("%d answers logged, want 2", n)
	}
	// A change to the KB bumps its version: a miss.
	kbs.update("shop", func(kb *kefu.KB) {})
	third := ask(t, s, kefu.AskRequest{KB: "shop", Question: "钱多久能退回来？"})
	if third.Cached || ret.calls() != 2 {
		t.Errorf("after a KB change: cached %v, %d retrievals", third.Cached, ret.calls())
	}
	// The KB deleted and created again: its version starts over, yet the
	// old answers must not come back.
	kbs.mu.Lock()
	reborn := *kbs.kbs["shop"]
	reborn.Version, reborn.CreatedAt = 1, reborn.CreatedAt.Add(time.Hour) // the first answer was cached at version 1
	kbs.kbs["shop"] = &reborn
	kbs.mu.Unlock()
	if a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "钱多久能退回来？"}); a.Cached {
		t.Error("an answer of a deleted KB served for its namesake")
	}
	// Another KB with the same question: a miss.
	kbs.mu.Lock()
	kbs.kbs["other"] = &kefu.KB{Name: "other", Settings: kefu.DefaultSettings(), Version: 2}
	kbs.mu.Unlock()
	if a := ask(t, s, kefu.AskRequest{KB: "other", Question: "钱多久能退回来？"}); a.Cached {
		t.Error("an answer of one KB served for another")
	}
	// Hand-offs bypass the cache entirely: no retrieval, never cached.
	for range 2 {
		if a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "我要投诉"}); a.Cached || a.Route != kefu.RouteHandoff {
			t.Errorf("hand-off %s cached %v", a.Route, a.Cached)
		}
	}
	var hitsSeen int
	for _, e := range rec.answers {
		if e.Cached {
			hitsSeen++
		}
	}
	if hitsSeen != 1 {
		t.Errorf("observer saw %d cache hits, want 1", hitsSeen)
	}
}

func TestCacheExpiresAndDisables(t *testing.T) {
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "怎么开发票？")), Confidence: 0.9, Version: 1}}
	s := newService(t, ret, newKBs(shopKB()), func(o *Options) { o.CacheTTL = 50 * time.Millisecond })
	ask(t, s, kefu.AskRequest{KB: "shop", Question: "怎么开票"})
	time.Sleep(120 * time.Millisecond)
	if a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "怎么开票"}); a.Cached {
		t.Error("an expired answer was served")
	}
	off := newService(t, ret, newKBs(shopKB()), func(o *Options) { o.CacheSize = -1 })
	ask(t, off, kefu.AskRequest{KB: "shop", Question: "怎么开票"})
	if a := ask(t, off, kefu.AskRequest{KB: "shop", Question: "怎么开票"}); a.Cached {
		t.Error("cache disabled, answer cached")
	}
}

func TestFollowUpHeuristic(t *testing.T) {
	cases := []struct {
		prev, q, want string
	}{
		{"怎么申请退款？", "那运费呢？", "申请退款 运费"},
		{"怎么申请退款？", "运费呢", "申请退款 运费"},
		{"会员有什么权益？", "还有积分", "会员有 权益 积分"},
		{"商品保修多久？", "它可以延长吗", "商品保修多久 它可以延长吗"},
		{"When will my order ship?", "and for international orders?", "order ship for international orders"},
		{"Do you ship internationally?", "what about duties?", "ship internationally duties"},
		{"How do I get an invoice?", "Is it free?", "get invoice is it free"},
		{"How do I get an invoice?", "VAT invoice?", "get invoice vat invoice"},
		// A chain keeps the newest end of the topic.
		{strings.Repeat("退", 400), "那运费呢", strings.Repeat("退", maxRewriteRunes-3) + " 运费"},
		// Standalone questions stay as they are.
		{"怎么开发票？", "你们老板是谁", "你们老板是谁"},
		{"How do I get an invoice?", "Who is your CEO?", "Who is your CEO?"},
		{"怎么申请退款？", "会员积分有效期是多久", "会员积分有效期是多久"},
		{"怎么申请退款？", "那个订单怎么还没发货呀我都等了一个星期了", "那个订单怎么还没发货呀我都等了一个星期了"},
		{"When will my order ship?", "How long does it take to get a refund to my card?", "How long does it take to get a refund to my card?"},
	}
	for _, c := range cases {
		got := rewriteHeuristic(c.q, kefu.Turn{Query: c.prev})
		if got != c.want {
			t.Errorf("rewrite(%q after %q) = %q, want %q", c.q, c.prev, got, c.want)
		}
	}
}

// TestConversation: follow-ups are rewritten from the conversation's
// previous turn (per KB and conversation id), the rewritten query reaches
// the retriever and Answer.Query, and the reply keeps the conversation's
// language when the follow-up has none of its own.
func TestConversation(t *testing.T) {
	refund := hits(faqChunk(t, "怎么申请退款？"))
	ret := &fakeRetriever{byQuery: map[string]kefu.Retrieval{
		"怎么申请退款？":  {Hits: refund, Confidence: 0.95},
		"那运费呢？":    {Hits: refund, Confidence: 0.2},
		"申请退款 运费":  {Hits: hits(faqChunk(t, "七天无理由退货怎么算？")), Confidence: 0.9},
		"怎么开发票":    {Hits: hits(faqChunk(t, "怎么开发票？")), Confidence: 0.95},
		"申请退款 开发票": {Hits: refund, Confidence: 0.7},
	}}
	s := newService(t, ret, newKBs(shopKB(), &kefu.KB{Name: "other", Version: 1}), func(o *Options) { o.Turns = 2 })
	ask(t, s, kefu.AskRequest{KB: "shop", Question: "怎么申请退款？", ConversationID: "u1"})
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "那运费呢？", ConversationID: "u1"})
	if a.Query != "申请退款 运费" || a.Route != kefu.RouteFAQ || a.Text != faq(t, "七天无理由退货怎么算？").Answer {
		t.Fatalf("follow-up: query %q, %s", a.Query, show(a))
	}
	if got := ret.queries[1:]; len(got) != 2 || got[0] != "那运费呢？" || got[1] != "申请退款 运费" {
		t.Errorf("retrievals %q: want the question, then the rewrite", got)
	}
	// A short complete question that retrieves confidently is not rewritten.
	ask(t, s, kefu.AskRequest{KB: "shop", Question: "怎么申请退款？", ConversationID: "u3"})
	n := ret.calls()
	a = ask(t, s, kefu.AskRequest{KB: "shop", Question: "怎么开发票", ConversationID: "u3"})
	if a.Query != "" || a.Text != faq(t, "怎么开发票？").Answer || ret.calls() != n+1 {
		t.Errorf("short standalone question: query %q, %d retrievals, %s", a.Query, ret.calls()-n, show(a))
	}
	// Another conversation, or the same id in another KB, has no history.
	for _, req := range []kefu.AskRequest{{KB: "shop", Question: "那运费呢？", ConversationID: "u2"}, {KB: "other", Question: "那运费呢？", ConversationID: "u1"}} {
		if a := ask(t, s, req); a.Query != "" {
			t.Errorf("%+v rewritten to %q", req, a.Query)
		}
	}
	// A follow-up of digits only is answered in the conversation's language.
	a = ask(t, s, kefu.AskRequest{KB: "shop", Question: "12345?", ConversationID: "u1"})
	if a.Route != kefu.RouteUnknown || a.Text != defaultMessages["zh"].Unknown {
		t.Errorf("language not kept: %s", show(a))
	}
}

// TestRecentTurns: the answerer reads the last Turns turns of a request's
// history, each answer cut to turnAnswerRunes.
func TestRecentTurns(t *testing.T) {
	var hist []kefu.Turn
	for j := range 5 {
		hist = append(hist, kefu.Turn{Question: fmt.Sprint(j), Answer: string(make([]rune, 1000))})
	}
	h := recent(hist, 2)
	if len(h) != 2 || h[0].Question != "3" || len([]rune(h[0].Answer)) != turnAnswerRunes || len([]rune(hist[3].Answer)) != 1000 {
		t.Errorf("recent: %d turns, first %q, answer %d runes (the request's own kept %d)", len(h), h[0].Question, len([]rune(h[0].Answer)), len([]rune(hist[3].Answer)))
	}
	if recent(hist, -1) != nil {
		t.Error("negative Turns read history")
	}
}

// TestCacheKeepsLanguagesApart: a question with no language of its own is
// answered in its conversation's; the cache must not serve that reply to
// the same question asked elsewhere.
func TestCacheKeepsLanguagesApart(t *testing.T) {
	ret := &fakeRetriever{byQuery: map[string]kefu.Retrieval{
		"怎么申请退款？": {Hits: hits(faqChunk(t, "怎么申请退款？")), Confidence: 0.95},
	}}
	s := newService(t, ret, newKBs(shopKB()), func(o *Options) { o.Turns = 2 })
	ask(t, s, kefu.AskRequest{KB: "shop", Question: "怎么申请退款？", ConversationID: "u1"})
	zh := ask(t, s, kefu.AskRequest{KB: "shop", Question: "12345?", ConversationID: "u1"})
	en := ask(t, s, kefu.AskRequest{KB: "shop", Question: "12345?"})
	if zh.Text != defaultMessages["zh"].Unknown || en.Text != defaultMessages["en"].Unknown || en.Cached {
		t.Errorf("in the conversation %s\nalone (cached %v) %s", show(zh), en.Cached, show(en))
	}
}

// TestPolicyFileReload: the policy file adds words and replaces messages;
// Reload picks up a new file, keeps the old policy when the new one is
// broken, and empties the cache.
func TestPolicyFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"sensitive_words": ["赔偿"], "floor": 0.5, "messages": {"en": {"disclaimer": "Not sure; ask an agent."}}}`)
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "How long does a refund take?")), Confidence: 0.45, Version: 1}}
	kb := shopKB()
	kb.Settings.Floor = 0 // the policy's floor applies
	s := newService(t, ret, newKBs(kb), func(o *Options) { o.PolicyFile = path })

	if a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "你们要赔偿我"}); a.Route != kefu.RouteHandoff {
		t.Errorf("policy word: %s", show(a))
	}
	if a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "refund time?"}); a.Route != kefu.RouteUnknown {
		t.Errorf("0.45 under the policy floor 0.5: %s", show(a))
	}
	write(`{"floor": 0.3, "messages": {"en": {"disclaimer": "Not sure; ask an agent."}}}`)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "refund time?"})
	if a.Route != kefu.RouteDisclaimer || a.Disclaimer != "Not sure; ask an agent." || a.Cached {
		t.Errorf("after reload: %s cached %v", show(a), a.Cached)
	}
	if a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "你们要赔偿我"}); a.Route == kefu.RouteHandoff {
		t.Error("a word removed from the policy still hands off")
	}
	// A broken file: Reload fails and the policy in force stays.
	write(`{"floor": 0.3, "flor": 1}`)
	if err := s.Reload(); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("Reload of a broken policy: %v", err)
	}
	if p := s.Policy(); p.Floor != 0.3 || p.Messages["en"].Disclaimer != "Not sure; ask an agent." || p.Messages["zh"].Disclaimer != defaultMessages["zh"].Disclaimer {
		t.Errorf("policy after a failed reload: %+v", p)
	}
	if _, err := New(Options{Retriever: ret, KBs: newKBs(), PolicyFile: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Error("New with a missing policy file succeeded")
	}
}

func TestParsePolicy(t *testing.T) {
	for _, bad := range []string{
		`{"threshold": 1.5}`,
		`{"threshold": 0.5, "floor": 0.6}`,
		`{"messages": {"fr": {"handoff": "un instant"}}}`,
		`{"sensitive": ["x"]}`,
		`{} {}`,
		`[`,
	} {
		if _, err := ParsePolicy([]byte(bad)); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("ParsePolicy(%s) = %v, want invalid", bad, err)
		}
	}
	p, err := ParsePolicy([]byte(`{"replace_defaults": true, "sensitive_words": ["refund"]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := compile(p, 1)
	m := newMatcher(c.sensitive, c.requests, c.exceptions)
	if _, ok := m.Match("I want a human"); ok {
		t.Error("replace_defaults kept the default words")
	}
	if _, ok := m.Match("refund please"); !ok {
		t.Error("the replacing list does not match")
	}
}

// FuzzParsePolicy: any input is refused with EINVALID or gives a policy that
// compiles into thresholds in [0,1] with floor ≤ threshold.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"sensitive_words":["退款"],"threshold":0.9,"floor":0.3,"messages":{"zh":{"handoff":"稍等"}}}`))
	f.Add([]byte(`{"replace_defaults":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if kefu.ErrorCode(err) != kefu.EINVALID {
				t.Fatalf("error %v has code %s", err, kefu.ErrorCode(err))
			}
			return
		}
		c := compile(p, 1)
		th, fl := c.limits(kefu.KBSettings{})
		if th <= 0 || th > 1 || fl < 0 || fl > th {
			t.Fatalf("limits %v %v from %s", th, fl, data)
		}
		for _, lang := range []string{"zh", "en"} {
			m := c.messages(lang)
			if m.Handoff == "" || m.Unknown == "" || m.Disclaimer == "" || m.Fallback == "" || m.Interrupted == "" {
				t.Fatalf("empty message in %s: %+v", lang, m)
			}
		}
	})
}

func TestMergeLLM(t *testing.T) {
	global := &kefu.LLMSettings{BaseURL: "http://a/v1", Model: "g", APIKey: "k", Temperature: 0.5, MaxTokens: 300}
	if m := mergeLLM(nil, nil); m != nil {
		t.Errorf("no LLM: %+v", m)
	}
	m := mergeLLM(global, &kefu.LLMSettings{Model: "kb"})
	if *m != (kefu.LLMSettings{BaseURL: "http://a/v1", Model: "kb", APIKey: "k", Temperature: 0.5, MaxTokens: 300, ContextTokens: defaultContextTokens}) {
		t.Errorf("same base URL: %+v", m)
	}
	m = mergeLLM(global, &kefu.LLMSettings{BaseURL: "http://b/v1"})
	if m.APIKey != "" || m.Model != "g" {
		t.Errorf("other base URL kept the key: %+v", m)
	}
	m = mergeLLM(nil, &kefu.LLMSettings{BaseURL: "http://b/v1", Model: "x", APIKey: "kb-key"})
	if m.APIKey != "kb-key" || m.MaxTokens != defaultMaxTokens {
		t.Errorf("KB only: %+v", m)
	}
}

// TestSlogLine: one structured line per answer, with the route, confidence,
// citations and timings, and never the question's text.
func TestSlogLine(t *testing.T) {
	var buf strings.Builder
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "退款多久能到账？")), Confidence: 0.93}}
	s := newService(t, ret, newKBs(shopKB()), func(o *Options) { o.Logger = slog.New(slog.NewJSONHandler(&buf, nil)) })
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "钱多久能退回来"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines: %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "answer" || rec["id"] != a.ID || rec["route"] != "faq" || rec["confidence"] != 0.93 || rec["kb"] != "shop" {
		t.Errorf("log line %v", rec)
	}
	if c, _ := rec["citations"].([]any); len(c) != 1 || c[0] != "faq:退款多久能到账？" {
		t.Errorf("citations %v", rec["citations"])
	}
	if _, ok := rec["total_ms"].(float64); !ok {
		t.Errorf("no total_ms: %v", rec)
	}
	if strings.Contains(lines[0], "钱多久") {
		t.Error("the question's text was logged")
	}
}

// TestConcurrentAsks: many callers at once, sharing conversations, the cache
// and the matchers (run with -race).
func TestConcurrentAsks(t *testing.T) {
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "怎么取消订单？"), passage(t, "付款失败怎么办？")), Confidence: 0.7}}
	log := &memLog{}
	s := newService(t, ret, newKBs(shopKB()), func(o *Options) { o.AnswerLog = log })
	var wg sync.WaitGroup
	questions := []string{"怎么取消订单", "那运费呢", "我要投诉", "can I cancel?", "what about refunds?"}
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				q := questions[(g+i)%len(questions)]
				a, err := s.Ask(t.Context(), kefu.AskRequest{KB: "shop", Question: q, ConversationID: fmt.Sprint("c", g%3)}, nil)
				if err != nil || a.Text == "" {
					t.Errorf("Ask(%q): %v %v", q, a, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(log.all()); n != 160 {
		t.Errorf("%d answers logged, want 160", n)
	}
}
