package answer

import (
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// routeCase is a question, what the retriever returns for it (the canonical
// FAQ question of the top hit, "" for no hits, and a calibrated confidence)
// and the route the policy must take.
type routeCase struct {
	question string
	top      string
	conf     float64
	want     kefu.Route
}

func TestRoutingFAQ(t *testing.T) {
	cases := []routeCase{
		// Paraphrases answered from the FAQ at or above the threshold.
		{"钱多久能退回来", "退款多久能到账？", 0.93, kefu.RouteFAQ},
		{"退款一般几天到账啊", "退款多久能到账？", 0.85, kefu.RouteFAQ}, // exactly the threshold
		{"下单后多久发货", "一般几天能发货？", 0.91, kefu.RouteFAQ},
		{"能开专票吗", "可以开增值税专用发票吗？", 0.88, kefu.RouteFAQ},
		{"How many days until my refund arrives?", "How long does a refund take?", 0.92, kefu.RouteFAQ},
		{"do you deliver abroad", "Do you ship internationally?", 0.90, kefu.RouteFAQ},
		// Between the floor and the threshold: the FAQ answer with a disclaimer.
		{"积分能换现金吗", "积分怎么用？", 0.62, kefu.RouteDisclaimer},
		{"can points be used on sale items", "How do reward points work?", 0.84, kefu.RouteDisclaimer},
		{"收到的货坏了", "商品有质量问题怎么办？", 0.40, kefu.RouteDisclaimer}, // exactly the floor
		// Out of scope: below the floor or nothing found.
		{"你们老板叫什么名字", "会员有什么权益？", 0.12, kefu.RouteUnknown},
		{"What's the weather in Paris?", "Do you ship internationally?", 0.39, kefu.RouteUnknown},
		{"怎么养猫", "", 0, kefu.RouteUnknown},
		{"Can I pay with bitcoin?", "", 0, kefu.RouteUnknown},
	}
	ret := &fakeRetriever{byQuery: map[string]kefu.Retrieval{}}
	for _, c := range cases {
		r := kefu.Retrieval{Confidence: c.conf, Version: 1}
		if c.top != "" {
			r.Hits = hits(faqChunk(t, c.top), passage(t, "怎么开发票？"))
		}
		ret.byQuery[c.question] = r
	}
	log := &memLog{}
	s := newService(t, ret, newKBs(shopKB()), func(o *Options) { o.AnswerLog = log })
	for _, c := range cases {
		t.Run(c.question, func(t *testing.T) {
			a := ask(t, s, kefu.AskRequest{KB: "shop", Question: c.question})
			if a.Route != c.want {
				t.Fatalf("route %s, want %s: %s", a.Route, c.want, show(a))
			}
			zh := text.HasHan(c.question)
			msgs := defaultMessages["en"]
			if zh {
				msgs = defaultMessages["zh"]
			}
			switch c.want {
			case kefu.RouteFAQ:
				want := faq(t, c.top).Answer
				if a.Text != want {
					t.Errorf("text %q, want the FAQ answer %q", a.Text, want)
				}
				if len(a.Citations) != 1 || a.Citations[0].ChunkID != "faq:"+c.top || a.Citations[0].N != 1 {
					t.Errorf("citations %+v, want the FAQ entry", a.Citations)
				}
			case kefu.RouteDisclaimer:
				want := faq(t, c.top).Answer + "\n\n" + msgs.Disclaimer
				if a.Text != want || a.Disclaimer != msgs.Disclaimer {
					t.Errorf("text %q, want %q", a.Text, want)
				}
			case kefu.RouteUnknown:
				if a.Text != msgs.Unknown || len(a.Citations) != 0 {
					t.Errorf("unknown answer %s, want %q", show(a), msgs.Unknown)
				}
			}
			if a.Confidence != c.conf {
				t.Errorf("confidence %v, want %v", a.Confidence, c.conf)
			}
			// The reply is in the question's language.
			if got := text.HasHan(a.Text); got != zh {
				t.Errorf("question in zh=%v, answer %q", zh, a.Text)
			}
		})
	}
	// Every answer was logged; the unanswered ones are listed.
	recs := log.all()
	if len(recs) != len(cases) {
		t.Fatalf("%d answers logged, want %d", len(recs), len(cases))
	}
	un, _ := log.Unanswered(t.Context(), "shop", 100)
	var want int
	for _, c := range cases {
		if c.want == kefu.RouteDisclaimer || c.want == kefu.RouteUnknown {
			want++
		}
	}
	if len(un) != want {
		t.Errorf("%d unanswered, want %d", len(un), want)
	}
	for _, r := range recs {
		if r.ID == "" || r.Question == "" || r.At.IsZero() || r.KB != "shop" {
			t.Errorf("incomplete record %+v", r)
		}
		if r.Route == kefu.RouteFAQ && (len(r.Citations) != 1 || !strings.HasPrefix(r.Citations[0], "faq:")) {
			t.Errorf("FAQ record without its citation: %+v", r)
		}
	}
}

func TestRoutingHandoff(t *testing.T) {
	cases := []struct {
		question string
		kbWords  []string
		want     bool
		phrase   string
	}{
		{"我要投诉你们的快递", nil, true, "投诉"},
		{"再不退钱我就找律师了", nil, true, "律师"},
		{"转人工", nil, true, "转人工"},
		{"怎么联系人工客服？", nil, true, "联系人工客服"}, // the FAQ about reaching a person hands off
		{"我要找真人", nil, true, "找真人"},
		{"I want to file a complaint", nil, true, "complaint"},
		{"Can I talk to a human please?", nil, true, "talk to a human"},
		{"speak to an agent", nil, true, "speak to an agent"},
		{"Are your agents available on weekends?", nil, true, "agents"},
		{"I need a REAL PERSON", nil, true, "i need a real person"}, // verb + role, leftmost
		{"ＨＵＭＡＮ！", nil, true, "human"},                              // full-width
		{"找human", nil, true, "human"},                              // Han next to an English word is a boundary
		// Not triggers.
		{"钱多久能退回来", nil, false, ""},
		{"你们用人工智能回答问题吗", nil, false, ""}, // exception: 人工智能
		{"Is this product good for humanity?", nil, false, ""},
		{"Is the agentic mode available?", nil, false, ""},
		{"What user agent does the app send?", nil, false, ""}, // exception: user agent
		// A KB that sends every refund question to a person.
		{"退款多久能到账", []string{"退款"}, true, "退款"},
		{"钱多久能退回来", []string{"退款"}, false, ""},
		{"I want a REFUND", []string{"refund"}, true, "refund"},
		{"refundable items", []string{"refund"}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.question, func(t *testing.T) {
			kb := shopKB()
			kb.Settings.SensitiveWords = c.kbWords
			ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "退款多久能到账？")), Confidence: 0.95}}
			log := &memLog{}
			s := newService(t, ret, newKBs(kb), func(o *Options) { o.AnswerLog = log })
			a := ask(t, s, kefu.AskRequest{KB: "shop", Question: c.question, ConversationID: "c1"})
			if got := a.Route == kefu.RouteHandoff; got != c.want {
				t.Fatalf("handoff %v, want %v: %s", got, c.want, show(a))
			}
			if !c.want {
				return
			}
			// A request for a person runs no search; a built-in one-word
			// sensitive word one keyword lookup of itself (kbSubject).
			m, _ := s.matcher(s.pol.Load(), c.kbWords).Match(c.question)
			lookups := 0
			if m.Kind == kindSensitive.String() && !strings.Contains(m.Phrase, " ") && c.kbWords == nil {
				lookups = 1
			}
			if ret.calls() != lookups {
				t.Errorf("hand-off ran %d retrievals, want %d", ret.calls(), lookups)
			}
			want := defaultMessages["en"].Handoff
			if text.Lang(c.question) == "zh" {
				want = defaultMessages["zh"].Handoff
			}
			if a.Text != want || len(a.Citations) != 0 || a.Disclaimer != "" {
				t.Errorf("hand-off answer %s, want %q", show(a), want)
			}
			if m, _ := s.matcher(s.pol.Load(), c.kbWords).Match(c.question); m.Phrase != c.phrase {
				t.Errorf("trigger %q, want %q", m.Phrase, c.phrase)
			}
			if recs := log.all(); len(recs) != 1 || recs[0].Route != kefu.RouteHandoff {
				t.Errorf("log %+v", recs)
			}
		})
	}
}

// A built-in sensitive word the KB is about (held by 1% of its chunks or
// more) is answered from the KB; a request for a person, a KB's own
// sensitive word, and a word few chunks hold still hand off.
func TestRoutingHandoffKBSubject(t *testing.T) {
	agent := func(df, chunks int) kefu.Retrieval {
		return kefu.Retrieval{Terms: []kefu.QueryTerm{{Text: "agent", Kind: kefu.TermWord, DF: df}}, DocCount: chunks}
	}
	for _, c := range []struct {
		question  string
		df, total int
		kbWords   []string
		want      bool
	}{
		{"my agent fails when the network is flaky", 120, 4000, nil, false}, // the docs of an agent platform
		{"my agent fails when the network is flaky", 2, 4000, nil, true},    // a shop's FAQ mentions agents once
		{"my agent fails when the network is flaky", 2, 40, nil, true},      // 5% but only 2 chunks
		{"my agent fails when the network is flaky", 120, 4000, []string{"agent"}, true},
		{"let me speak to an agent", 120, 4000, nil, true},
	} {
		kb := shopKB()
		kb.Settings.SensitiveWords = c.kbWords
		ret := &fakeRetriever{ret: kefu.Retrieval{Hits: hits(faqChunk(t, "退款多久能到账？")), Confidence: 0.95},
			byQuery: map[string]kefu.Retrieval{"agent": agent(c.df, c.total)}}
		s := newService(t, ret, newKBs(kb), nil)
		a := ask(t, s, kefu.AskRequest{KB: "shop", Question: c.question})
		if got := a.Route == kefu.RouteHandoff; got != c.want {
			t.Errorf("%q with agent in %d of %d chunks, KB words %v: handoff %v, want %v", c.question, c.df, c.total, c.kbWords, got, c.want)
		}
	}
}

// TestRoutingExtractive: passages above the threshold without an LLM are
// answered with their most relevant sentences, cited.
func TestRoutingExtractive(t *testing.T) {
	ev := hits(passage(t, "Do you ship internationally?"), passage(t, "When will my order ship?"), passage(t, "How do I get an invoice?"))
	ret := &fakeRetriever{ret: kefu.Retrieval{Hits: ev, Confidence: 0.9}}
	s := newService(t, ret, newKBs(shopKB()), nil)
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: "How long does international delivery take?"})
	want := "International delivery takes 7-15 business days and import duties are paid by the recipient. [1]"
	if a.Route != kefu.RouteExtractive || a.Text != want {
		t.Fatalf("%s\nwant extractive %q", show(a), want)
	}
	if len(a.Citations) != 1 || a.Citations[0].N != 1 || a.Citations[0].DocID != "help/shipping.md" || a.Citations[0].URL == "" {
		t.Errorf("citations %+v", a.Citations)
	}

	// Below the threshold: the same answer and the English disclaimer.
	ret.set(kefu.Retrieval{Hits: ev, Confidence: 0.6})
	a = ask(t, s, kefu.AskRequest{KB: "shop", Question: "how long for international delivery"})
	if a.Route != kefu.RouteDisclaimer || a.Text != want+"\n\n"+defaultMessages["en"].Disclaimer {
		t.Fatalf("%s", show(a))
	}

	// Chinese: sentences joined without spaces, the citation after the full stop.
	zh := hits(passage(t, "退款多久能到账？"), passage(t, "怎么申请退款？"))
	ret.set(kefu.Retrieval{Hits: zh, Confidence: 0.9})
	a = ask(t, s, kefu.AskRequest{KB: "shop", Question: "银行卡退款要几天到账"})
	wantZh := "审核通过后，支付宝和微信支付一般在1个工作日内到账，银行卡需要1-5个工作日，信用卡以发卡行处理时间为准。[1]"
	if a.Route != kefu.RouteExtractive || a.Text != wantZh {
		t.Fatalf("%s\nwant %q", show(a), wantZh)
	}
}

func TestAskErrors(t *testing.T) {
	s := newService(t, &fakeRetriever{}, newKBs(shopKB()), nil)
	for _, c := range []struct {
		req  kefu.AskRequest
		code string
	}{
		{kefu.AskRequest{KB: "shop", Question: "  "}, kefu.EINVALID},
		{kefu.AskRequest{KB: "Shop!", Question: "hi"}, kefu.EINVALID},
		{kefu.AskRequest{KB: "nope", Question: "hi"}, kefu.ENOTFOUND},
		{kefu.AskRequest{KB: "shop", Question: strings.Repeat("退", 2000)}, kefu.ETOOLARGE},
		{kefu.AskRequest{KB: "shop", Question: "hi", ConversationID: strings.Repeat("x", 200)}, kefu.EINVALID},
	} {
		_, err := s.Ask(t.Context(), c.req, nil)
		if kefu.ErrorCode(err) != c.code {
			t.Errorf("Ask(%+v): %v, want code %s", c.req, err, c.code)
		}
	}
	if _, err := New(Options{KBs: newKBs()}); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Errorf("New without a retriever: %v", err)
	}
}
