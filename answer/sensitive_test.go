package answer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatcher(t *testing.T) {
	p := compile(nil, 1)
	m := newMatcher(p.sensitive, p.requests, p.exceptions)
	cases := []struct {
		q, phrase, kind string
	}{
		{"我要投诉", "投诉", "sensitive"},
		{"我要人工", "要人工", "request"},
		{"帮我转人工客服", "转人工客服", "request"}, // verb + role
		{"人工客服在吗", "人工客服", "request"},   // longest at the same start
		{"AGENT", "agent", "sensitive"},
		{"Agent, please", "agent", "sensitive"},
		{"ｈｕｍａｎ", "human", "sensitive"},
		{"talk  to\ta   human", "talk to a human", "request"}, // white space folded
		{"my lawyer's number", "lawyer", "sensitive"},         // apostrophe is a boundary
		{"人工智能很好，但我要人工", "要人工", "request"},                    // the exception covers only the first
		{"human-readable docs", "", ""},
		{"humane treatment", "", ""},
		{"superhuman speed", "", ""},
		{"agentless install", "", ""},
		{"你们的人工智能", "", ""},
		{"", "", ""},
		// Generated verb-role pairs and the regulator threats.
		{"Could I chat with somebody from billing?", "chat with somebody", "request"},
		{"please connect me with your supervisor", "connect me with your supervisor", "request"},
		{"a person please, not a robot", "not a robot", "request"},
		{"帮我叫一个主管过来", "叫一个主管", "request"},
		{"能不能换个人跟我说", "换个人", "request"},
		{"I'm going to dispute the charge with my bank", "dispute the charge", "sensitive"},
		{"再不退钱我就去举报", "举报", "sensitive"},
		{"老板，这个有货吗", "", ""},
		{"please report your order number", "", ""},
		// Wants, fixed phrases and bad-review threats; a want of a thing is
		// not a request.
		{"Is there anyone I can talk to?", "anyone i can talk to", "request"},
		{"Is anyone there?", "is anyone there", "request"},
		{"I'd like to speak with staff", "speak with staff", "request"},
		{"may I speak with a customer service rep", "speak with a customer service rep", "request"},
		{"I need to talk to support", "talk to support", "request"},
		{"I need someone to look at my order", "i need someone", "request"},
		{"How do I reach a person?", "how do i reach a person", "request"},
		{"can someone call me", "someone call me", "request"},
		{"I'll leave a bad review everywhere", "leave a bad review", "sensitive"},
		{"不处理就给你们差评", "给你们差评", "sensitive"},
		{"I want support for Apple Pay", "", ""},
		{"I'd like staff discount info", "", ""},
		{"I want the owner's manual", "", ""},
		{"Can I get customer service hours?", "", ""},
		{"差评怎么删除", "", ""},
		{"我想跟客服说话", "跟客服说", "request"},
		{"我要跟你们领导反映", "跟你们领导反映", "request"},
		{"在线客服在吗", "客服在吗", "request"},
		{"我要找店主", "找店主", "request"},
		{"帮我转售后", "转售后", "request"},
		{"给我回电话", "给我回电话", "request"},
		{"给我升级处理", "升级处理", "sensitive"},
		{"和客服有关的问题", "", ""},
		{"客服几点下班", "", ""},
		{"怎么申请售后", "", ""},
		{"Are you hiring customer service agents?", "", ""},
		{"Are you hiring customer support agents?", "", ""},
		{"How do I apply for an agent position?", "", ""},
		{"你们还招聘客服吗", "", ""},
		{"I applied for a job, can I talk to a manager", "talk to a manager", "request"},
	}
	for _, c := range cases {
		got, ok := m.Match(c.q)
		if ok != (c.phrase != "") || got.Phrase != c.phrase || got.Kind != c.kind {
			t.Errorf("Match(%q) = %+v %v, want %q %q", c.q, got, ok, c.phrase, c.kind)
		}
	}
}

// refMatch is the matcher's specification written as a naive scan: every
// occurrence of every phrase, at word boundaries where the phrase needs
// them, not covered by an exception; the leftmost, then longest.
func refMatch(m *matcher, q string) (handoffMatch, bool) {
	h := fold(q)
	type occ struct{ start, end, pat int }
	var hits, excepts []occ
	for i, p := range m.pats {
		for off := 0; off <= len(h); {
			j := strings.Index(h[off:], p.phrase)
			if j < 0 {
				break
			}
			o := occ{off + j, off + j + len(p.phrase), i}
			if bounded(h, span{pat: i, start: o.start, end: o.end}, p) {
				if p.kind == kindException {
					excepts = append(excepts, o)
				} else {
					hits = append(hits, o)
				}
			}
			_, size := utf8.DecodeRuneInString(h[off+j:])
			off += j + max(size, 1)
		}
	}
	best := -1
outer:
	for i, o := range hits {
		for _, e := range excepts {
			if e.start <= o.start && o.end <= e.end {
				continue outer
			}
		}
		if best < 0 || o.start < hits[best].start || o.start == hits[best].start && o.end > hits[best].end {
			best = i
		}
	}
	if best < 0 {
		return handoffMatch{}, false
	}
	p := m.pats[hits[best].pat]
	return handoffMatch{Phrase: p.phrase, Kind: p.kind.String()}, true
}

// FuzzMatcher checks the Aho-Corasick matcher against the naive scan, with
// the default lists plus two phrases taken from the input.
func FuzzMatcher(f *testing.F) {
	for _, s := range []string{"我要投诉", "talk to a human", "ＡＧＥＮＴ!", "人工智能人工", "agents", "humanity", "退款 refund"} {
		f.Add(s, "退款", "refund")
	}
	f.Fuzz(func(t *testing.T, q, w1, w2 string) {
		if len(q) > 2048 || len(w1) > 64 || len(w2) > 64 {
			t.Skip()
		}
		p := compile(&Policy{SensitiveWords: []string{w1}, Exceptions: []string{w2}}, 1)
		m := newMatcher(p.sensitive, p.requests, p.exceptions)
		got, ok := m.Match(q)
		want, wok := refMatch(m, q)
		// Overlapping phrases of the same start and length are the same phrase
		// (duplicates are dropped), so the answers must agree exactly.
		if ok != wok || got != want {
			t.Fatalf("Match(%q) with %q/%q = %+v %v, naive scan %+v %v", q, w1, w2, got, ok, want, wok)
		}
	})
}
