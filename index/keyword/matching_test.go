package keyword

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/blevesearch/vellum"

	"github.com/kefu-dev/kefu"
)

func TestParseSynonyms(t *testing.T) {
	rules, err := ParseSynonyms("# comment\n\n退钱, 退款，退回款项\n坏了, 碎了 => 质量问题\nparcel,package\n", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rules {
		if r.Weight != 0.5 {
			t.Errorf("rule %v: weight %v", r, r.Weight)
		}
		got[r.From] = r.To
	}
	want := map[string][]string{
		"退钱": {"退款", "退回款项"}, "退款": {"退钱", "退回款项"}, "退回款项": {"退钱", "退款"},
		"坏了": {"质量问题"}, "碎了": {"质量问题"},
		"parcel": {"package"}, "package": {"parcel"},
	}
	if len(got) != len(want) {
		t.Fatalf("rules %v, want %v", got, want)
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s → %v, want %v", k, got[k], v)
		}
	}
	for _, bad := range []struct{ text, line string }{
		{"a, b\nlonely\n", "line 2"},
		{"a =>\n", "line 1"},
		{"\n\n=> b\n", "line 3"},
		{"ok, fine\n" + strings.Repeat("x", maxRuleBytes+10), "over"},
	} {
		if _, err := ParseSynonyms(bad.text, 1); err == nil || !strings.Contains(err.Error(), bad.line) {
			t.Errorf("ParseSynonyms(%.20q) = %v, want an error naming %q", bad.text, err, bad.line)
		}
	}
}

// The built-in lexicon parses, and its rules compile into words on both
// sides (a rule whose side analyses to nothing would silently do nothing).
func TestBuiltinLexicon(t *testing.T) {
	rules := BuiltinSynonyms(0.5)
	if len(rules) < 200 {
		t.Fatalf("%d built-in rules", len(rules))
	}
	ix := openMem(t, Options{})
	ix.SetLexicon(rules)
	lex := ix.Lexicon()
	if lex.Len() < len(rules)/2 {
		t.Fatalf("%d of %d rules compiled", lex.Len(), len(rules))
	}
	for _, r := range rules[:50] {
		if len(wordsOf(ix.analyzer, r.From)) == 0 {
			t.Errorf("rule %q → %v: its source analyses to nothing", r.From, r.To)
		}
	}
}

func termsOf(info QueryInfo) map[string]kefu.QueryTerm {
	m := map[string]kefu.QueryTerm{}
	for _, t := range info.Terms {
		m[t.Text] = t
	}
	return m
}

func hitsFor(t *testing.T, ix *Index, q string) ([]Hit, QueryInfo) {
	t.Helper()
	hits, info, err := ix.SearchHits(context.Background(), q, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	return hits, info
}

// A synonym rule lets a query find an entry that shares no word with it,
// and the synonym says which query word it stands for.
func TestLexiconExpandsQueries(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	const q = "拿回货款"
	if hits, _ := hitsFor(t, ix, q); len(hits) > 0 && hits[0].ChunkID == "faq-refund" {
		t.Fatalf("%s found the refund entry without a rule: the test proves nothing", q)
	}
	rules, err := ParseSynonyms("拿回货款 => 退款", 0.6)
	if err != nil {
		t.Fatal(err)
	}
	ix.SetLexicon(rules)
	hits, info := hitsFor(t, ix, q)
	if len(hits) == 0 || hits[0].ChunkID != "faq-refund" {
		t.Fatalf("%s with the rule: %v", q, hits)
	}
	terms := termsOf(info)
	syn, ok := terms["退款"]
	if !ok || syn.Kind != kefu.TermSynonym || syn.Weight != 0.6 || syn.DF != 1 {
		t.Fatalf("synonym term %+v", syn)
	}
	var words []string
	for _, i := range syn.For {
		words = append(words, info.Terms[i].Text)
	}
	if !slices.Equal(words, wordsOf(ix.analyzer, q)) {
		t.Errorf("synonym stands for %v, want the words of %s %v", words, q, wordsOf(ix.analyzer, q))
	}
	// The synonym does not count as a query term of its own.
	if info.Counted != len(info.Terms)-1 {
		t.Errorf("counted %d of %d terms", info.Counted, len(info.Terms))
	}
	ix.SetLexicon(nil)
	distinct := map[string]bool{}
	for _, term := range Terms(q) {
		distinct[term] = true
	}
	if _, info := hitsFor(t, ix, q); len(info.Terms) != len(distinct) {
		t.Errorf("rules cleared, terms %v", info.Terms)
	}
}

// Traditional Chinese finds Simplified content, and the other way round.
func TestTraditionalMatchesSimplified(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, append(slices.Clone(shopFAQ), Doc{ID: "faq-tw", Kind: "faq", Questions: "會員積分怎麼兌換", Body: "在會員中心兌換。"}), nil, nil)
	for q, want := range map[string]string{"怎麼申請退款": "faq-refund", "發票怎麼開": "faq-invoice", "会员积分怎么兑换": "faq-tw"} {
		if got := search(t, ix, q, 1, nil); len(got) == 0 || got[0].ChunkID != want {
			t.Errorf("%s → %v, want %s", q, got, want)
		}
	}
	if got := Terms("怎麼申請退款"); !slices.Equal(got, Terms("怎么申请退款")) {
		t.Errorf("Traditional terms %v differ from Simplified %v", got, Terms("怎么申请退款"))
	}
}

// Misspelt words are corrected against the KB's own words: Latin ones by
// edit distance, Chinese ones by sound (the pinyin input method's typos).
func TestTyposCorrected(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, append(slices.Clone(shopFAQ), Doc{ID: "faq-track", Kind: "faq", Questions: "我的快递到哪了", Body: "点击查看物流。"}), nil, nil)
	for q, want := range map[string]string{
		"how do I get a refudn": "faq-refund-en", // transposition
		"怎么申请退宽":                "faq-refund",    // 宽 kuan for 款 kuan
		"我的快第到哪了":               "faq-track",     // 第 di for 递 di
		"可以用花被付款吗":              "faq-huabei",    // 被 bei for 呗 bei
	} {
		hits, info := hitsFor(t, ix, q)
		if len(hits) == 0 || hits[0].ChunkID != want {
			t.Errorf("%s → %v, want %s", q, hits, want)
			continue
		}
		corrected := false
		for _, term := range info.Terms {
			if term.Kind == kefu.TermSynonym && term.DF > 0 {
				corrected = true
			}
		}
		if !corrected {
			t.Errorf("%s: no correction among %+v", q, info.Terms)
		}
	}
	// A correctly spelt query gets no corrections.
	if _, info := hitsFor(t, ix, "怎么申请退款"); slices.ContainsFunc(info.Terms, func(t kefu.QueryTerm) bool { return t.Kind == kefu.TermSynonym }) {
		t.Errorf("corrections of a correct query: %+v", info.Terms)
	}
}

// The term masks of the first hits agree with an analysis of the hits'
// fields: a query term is in HeadMatch exactly when the title, headings or
// questions analyse to it, in BodyMatch exactly when the body does.
func TestMasksAgreeWithAnalysis(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	byID := map[string]Doc{}
	for _, d := range shopFAQ {
		byID[d.ID] = d
	}
	for _, q := range []string{"怎么申请退款 refund", "发票 shipping label 花呗", "Returns parcel post office"} {
		hits, info := hitsFor(t, ix, q)
		if len(hits) == 0 {
			t.Fatalf("%s: no hits", q)
		}
		for _, h := range hits {
			if !h.Masked {
				t.Fatalf("%s: hit %s has no masks", q, h.ChunkID)
			}
			d := byID[h.ChunkID]
			head := Terms(d.Title + "\n" + d.Headings + "\n" + d.Questions)
			body := Terms(d.Body)
			for i, term := range info.Terms {
				want := term.Text
				if term.Kind == kefu.TermPart {
					want = bigramMark + term.Text
				}
				if got, exp := h.HeadMatch&(1<<i) != 0, slices.Contains(head, want); got != exp {
					t.Errorf("%s: %s head has %q: mask says %v, analysis %v", q, h.ChunkID, want, got, exp)
				}
				if got, exp := h.BodyMatch&(1<<i) != 0, slices.Contains(body, want); got != exp {
					t.Errorf("%s: %s body has %q: mask says %v, analysis %v", q, h.ChunkID, want, got, exp)
				}
			}
		}
	}
}

// Query terms carry what the answerability features need: kinds, the
// words characters belong to, function words and document frequencies.
func TestQueryInfo(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	_, info := hitsFor(t, ix, "请问怎么用比特币付款")
	terms := termsOf(info)
	if !terms["怎么"].Function || terms["付款"].Function {
		t.Errorf("function words: 怎么 %v, 付款 %v", terms["怎么"].Function, terms["付款"].Function)
	}
	if terms["付款"].DF != 2 {
		t.Errorf("付款 df %d, want 2 (the 花呗 and shipping entries)", terms["付款"].DF)
	}
	if info.Docs != len(shopFAQ) {
		t.Errorf("docs %d", info.Docs)
	}
	for i, term := range info.Terms {
		if term.Kind != kefu.TermPart || term.Text == "请" || term.Text == "问" {
			continue // 请问 is a stop word: its characters belong to no word
		}
		if len(term.For) != 1 || !strings.Contains(info.Terms[term.For[0]].Surface, term.Text) {
			t.Errorf("character %d %q belongs to %v", i, term.Text, term.For)
		}
	}
	// Specificity: everyday words are less specific than rare ones, and a
	// word no dictionary holds is as specific as can be.
	if s := specificity("今天"); !(s > 0 && s < specificity("转让") && specificity("转让") < 1) {
		t.Errorf("specificity 今天 %.2f, 转让 %.2f", s, specificity("转让"))
	}
	if s := specificity("嗯比特币嗯"); s != 1 {
		t.Errorf("specificity of an unknown word %.2f", s)
	}
	if s := specificity("refund"); s != -1 {
		t.Errorf("specificity of an English word %.2f, want -1 (unknown)", s)
	}
}

// The pinyin index reads only the dictionaries' Han key ranges, and finds
// what a read of every term finds: the words of every Han block, and none of
// the Latin words or marked bigrams around them.
func TestSoundIndexCoversEveryHanWord(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, append(slices.Clone(shopFAQ),
		Doc{ID: "rare", Kind: "passage", Body: "𠮷野家的牛肉饭 and 豈有此理 zebra 龘龘 ⺀字"},
		Doc{ID: "mixed", Kind: "passage", Title: "退款 refund", Body: "快递 tracking 花呗 huabei"}), nil, nil)
	sn, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.close()
	got := ix.sounds(sn).words
	want := map[string][]string{}
	seen := map[string]bool{}
	for i := range sn.segs {
		for f := range textFields {
			d, err := sn.dict(i, f)
			if err != nil || d == nil {
				continue
			}
			it := d.AutomatonIterator(&vellum.AlwaysMatch{}, nil, nil)
			for e, err := it.Next(); err == nil && e != nil; e, err = it.Next() {
				w := e.Term
				if seen[w] || strings.HasPrefix(w, bigramMark) || !allHan(w) {
					continue
				}
				seen[w] = true
				if n := utf8.RuneCountInString(w); n >= 2 && n <= maxHanWindow {
					if s := soundOf(w); s != "" {
						want[s] = append(want[s], w)
					}
				}
			}
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d sounds in the reference: %v", len(want), want)
	}
	for s, ws := range want {
		slices.Sort(ws)
		g := slices.Sorted(slices.Values(got[s]))
		if !slices.Equal(g, ws) {
			t.Errorf("sound %q: %v, full read %v", s, g, ws)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d sounds, full read %d", len(got), len(want))
	}
}

// A synonym of several words is listed, for the word it stands for, as a
// phrase of its terms: the answerability features count it only where a
// chunk holds them all.
func TestLexiconPhraseOfSeveralWords(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, shopFAQ, nil, nil)
	rules, err := ParseSynonyms("坏了 => 质量问题", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	ix.SetLexicon(rules)
	_, info := hitsFor(t, ix, "东西坏了")
	var w kefu.QueryTerm
	for _, qt := range info.Terms {
		if qt.Text == "坏" && qt.Kind == kefu.TermWord {
			w = qt
		}
	}
	if w.Text == "" {
		t.Fatalf("no word 坏 in %v", info.Terms)
	}
	if len(w.Phrases) != 1 {
		t.Fatalf("坏 has phrases %v, want one", w.Phrases)
	}
	var got []string
	for _, i := range w.Phrases[0] {
		got = append(got, info.Terms[i].Text)
	}
	if !slices.Equal(got, wordsOf(ix.analyzer, "质量问题")) {
		t.Errorf("phrase of 坏 is %v, want the words of 质量问题 %v", got, wordsOf(ix.analyzer, "质量问题"))
	}
	for _, i := range w.Phrases[0] {
		if len(info.Terms[i].For) != 0 {
			t.Errorf("%s, one word of a phrase, stands for %v alone", info.Terms[i].Text, info.Terms[i].For)
		}
	}
}

// A pinyin index built from a snapshot that a write has since passed (as
// warm's may be, or a slow search's) is not taken for the index after the
// write: the word the write added is found by sound.
func TestSoundIndexOfAnOlderSnapshot(t *testing.T) {
	ix := openMem(t, Options{})
	apply(t, ix, []Doc{{ID: "a", Kind: "passage", Body: "退款 多久 到账"}}, nil, nil)
	old, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer old.close()
	apply(t, ix, []Doc{{ID: "b", Kind: "passage", Body: "发票 怎么 开"}}, nil, nil)
	if got := ix.sounds(old).words[soundOf("发票")]; len(got) != 0 {
		t.Fatalf("the older snapshot's index holds %v", got)
	}
	sn, err := ix.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.close()
	if got := ix.sounds(sn).words[soundOf("发票")]; !slices.Contains(got, "发票") {
		t.Fatalf("after the write, 发票's sound finds %v", got)
	}
}
