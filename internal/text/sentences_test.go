package text

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestSentences(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"spaces only", " \n\t ", nil},
		{"english", "Hello world. How are you? Fine!", []string{"Hello world.", "How are you?", "Fine!"}},
		{"no terminator", "just words", []string{"just words"}},
		{"chinese", "怎么申请退款？在订单中点击申请售后。审核通过后退回！", []string{"怎么申请退款？", "在订单中点击申请售后。", "审核通过后退回！"}},
		{"chinese semicolon", "支付宝1个工作日；银行卡1-5个工作日。", []string{"支付宝1个工作日；", "银行卡1-5个工作日。"}},
		{"chinese closing quote", "他说：“好的。”然后离开了。", []string{"他说：“好的。”", "然后离开了。"}},
		{"corner brackets", "请点击「确认」。「完成！」之后返回", []string{"请点击「确认」。", "「完成！」", "之后返回"}},
		{"chinese ellipsis", "等等……然后呢？", []string{"等等……", "然后呢？"}},
		{"repeated marks", "真的吗？！是的。", []string{"真的吗？！", "是的。"}},
		{"english quote", `He said "Stop." Then he left.`, []string{`He said "Stop."`, "Then he left."}},
		{"english paren", "It works (see above.) Next step.", []string{"It works (see above.)", "Next step."}},
		{"mixed", "Open the app. 然后点击设置。Then tap Save.", []string{"Open the app.", "然后点击设置。", "Then tap Save."}},
		{"ascii mark before han", "支持吗?是的.好", []string{"支持吗?", "是的.", "好"}},
		{"eg ie", "Use a model, e.g. MiniLM, i.e. a small one. Done.", []string{"Use a model, e.g. MiniLM, i.e. a small one.", "Done."}},
		{"eg comma", "Some formats, e.g., PDF. Others.", []string{"Some formats, e.g., PDF.", "Others."}},
		{"mr dr", "Mr. Smith met Dr. Lee. They talked.", []string{"Mr. Smith met Dr. Lee.", "They talked."}},
		{"no 5", "See No. 5 and Fig. 3 for details. Then go.", []string{"See No. 5 and Fig. 3 for details.", "Then go."}},
		{"no as word", "He said no. Then he left.", []string{"He said no.", "Then he left."}},
		{"decimal", "The box weighs 3.5 kg. It is blue.", []string{"The box weighs 3.5 kg.", "It is blue."}},
		{"US", "He moved to the U.S. in 2010. The U.S. Army helped.", []string{"He moved to the U.S. in 2010.", "The U.S. Army helped."}},
		{"version", "Upgrade to v1.2.3 now. It fixes bugs.", []string{"Upgrade to v1.2.3 now.", "It fixes bugs."}},
		{"version at end", "We ship v0.22.0. Older ones are gone.", []string{"We ship v0.22.0.", "Older ones are gone."}},
		{"url", "Visit https://example.com/a.b?x=1. Then log in.", []string{"Visit https://example.com/a.b?x=1.", "Then log in."}},
		{"email", "Write to help@shop.example.com for help. Thanks.", []string{"Write to help@shop.example.com for help.", "Thanks."}},
		{"lowercase continuation", "Run it etc. and wait. OK.", []string{"Run it etc. and wait.", "OK."}},
		{"ellipsis english", "Wait... what happened? Nothing... Really.", []string{"Wait... what happened?", "Nothing...", "Really."}},
		{"unicode ellipsis english", "Wait… what? Yes.", []string{"Wait… what?", "Yes."}},
		{"list number", "1. Open the app. 2. Tap Save.", []string{"1. Open the app.", "2. Tap Save."}},
		{"ip address", "Connect to 192.168.0.1 first. Then ping.", []string{"Connect to 192.168.0.1 first.", "Then ping."}},
		{"jan 15", "Due Jan. 15 at noon. Pay early.", []string{"Due Jan. 15 at noon.", "Pay early."}},
		{"paragraph", "First paragraph without stop\n\nSecond one", []string{"First paragraph without stop", "Second one"}},
		{"paragraph with spaces", "Line one\n   \t\nLine two", []string{"Line one", "Line two"}},
		{"wrapped english", "This sentence is\nwrapped over lines. Next.", []string{"This sentence is\nwrapped over lines.", "Next."}},
		{"list lines", "Steps:\n- open\n- save", []string{"Steps:", "- open", "- save"}},
		{"numbered lines", "步骤\n1. 打开\n2) 保存", []string{"步骤", "1. 打开", "2) 保存"}},
		{"chinese lines", "退款政策\n审核通过后退回", []string{"退款政策", "审核通过后退回"}},
		{"abbrev across paragraph", "Ask Dr.\n\nSmith answers.", []string{"Ask Dr.", "Smith answers."}},
		{"fullwidth period", "版本３．５已发布．然后升级", []string{"版本３．５已发布．", "然后升级"}},
		{"crlf", "One.\r\nTwo.", []string{"One.", "Two."}},
		{"question then quote", "Did he say 'yes?' Maybe.", []string{"Did he say 'yes?'", "Maybe."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sentences(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Sentences(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			checkPartition(t, tt.in, got)
		})
	}
}

// checkPartition verifies that sentences are trimmed, non-empty substrings
// of s in order with only white space between and around them.
func checkPartition(t *testing.T, s string, sents []string) {
	t.Helper()
	rest := s
	for _, x := range sents {
		if x == "" || strings.TrimSpace(x) != x {
			t.Fatalf("sentence %q is empty or untrimmed", x)
		}
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if !strings.HasPrefix(rest, x) {
			t.Fatalf("sentence %q does not follow in %q (rest %q)", x, s, rest)
		}
		rest = rest[len(x):]
	}
	if strings.TrimFunc(rest, unicode.IsSpace) != "" {
		t.Fatalf("text %q lost at the end", rest)
	}
}

func FuzzSentences(f *testing.F) {
	for _, s := range []string{
		"Hello world. How are you?", "怎么申请退款？在订单中点击。", "e.g. No. 5 3.5 kg U.S. v1.2.3",
		"a\n\nb\n- c\n1. d", "“好的。”然后", "...…？！", "\xff\xfe.\n", "Mr.\u3000Smith",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkPartition(t, s, Sentences(s))
	})
}
