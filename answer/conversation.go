package answer

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-dev/kefu"
	openai "github.com/sashabaranov/go-openai"
)

// Limits of what a conversation's history gives the answerer.
const (
	turnAnswerRunes = 300 // an answer is read this long, for LLM rewriting
	maxRewriteRunes = 300 // a rewritten query longer than this is refused
)

// recent returns the last n turns of a request's history, each answer cut
// to turnAnswerRunes.
func recent(hist []kefu.Turn, n int) []kefu.Turn {
	if n <= 0 {
		return nil
	}
	if len(hist) > n {
		hist = hist[len(hist)-n:]
	}
	out := make([]kefu.Turn, len(hist))
	for i, t := range hist {
		t.Answer = truncateRunes(t.Answer, turnAnswerRunes)
		out[i] = t
	}
	return out
}

// Follow-up markers of the heuristic. A question is a possible follow-up
// when it starts with a lead marker ("那", "还有", "and", "what about") or
// ends with 呢, when it is short and uses a pronoun that needs the previous
// turn ("is it free?"), or when it is very short and asks nothing of its own
// ("运费？", "VAT invoice?"; not "你们老板是谁").
var (
	zhLead     = []string{"那如果", "那要是", "那么", "那", "还有", "另外", "如果是", "如果", "要是"}
	zhTail     = []string{"呢"}
	zhPronouns = []string{"它", "这个", "那个", "这些", "那些", "这种", "那种"}
	enLead     = []string{"and what about", "what about", "how about", "and if", "what if", "and", "also", "but"}
	enPronouns = toSet("it its that this they them those these there")
	// A short question with a question word of its own is complete ("谁",
	// "who"): only markers make it a follow-up.
	zhQuestion = []string{"怎么", "什么", "多少", "哪", "吗", "如何", "为什么", "几", "谁", "啥", "咋", "是否", "能不能", "可不可以"}
	enQuestion = toSet("what when where who whom whose which why how is are do does did can could will would should may")
)

const (
	maxFollowUpHan   = 20 // Chinese characters in a marked follow-up
	maxPronounHan    = 12 // … in one marked only by a pronoun
	shortHan         = 6  // … in one marked by nothing
	maxFollowUpWords = 12
	maxPronounWords  = 6
	shortWords       = 3
)

// trimQuestion drops white space and the punctuation around a question.
func trimQuestion(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
}

// followUp reports whether q may depend on the previous turn, and returns q
// without its follow-up markers.
func followUp(q string) (bool, string) {
	f := trimQuestion(fold(q))
	if f == "" {
		return false, ""
	}
	han := 0
	for _, r := range f {
		if unicode.Is(unicode.Han, r) {
			han++
		}
	}
	marked, pronoun := false, false
	rest := f
	if han > 0 {
		n := utf8.RuneCountInString(f)
		for _, m := range zhLead {
			if !strings.HasPrefix(rest, m) {
				continue
			}
			after := strings.TrimPrefix(rest, m)
			// 那 leads a follow-up, but 那个/那些/那里 are pronouns.
			if next, _ := utf8.DecodeRuneInString(after); m == "那" && strings.ContainsRune("个些种里边样", next) {
				break
			}
			rest, marked = after, true
			break
		}
		for _, m := range zhTail {
			if strings.HasSuffix(rest, m) {
				rest, marked = strings.TrimSuffix(rest, m), true
			}
		}
		for _, p := range zhPronouns {
			if strings.Contains(f, p) {
				pronoun = true
			}
		}
		asks := false
		for _, w := range zhQuestion {
			if strings.Contains(f, w) {
				asks = true
			}
		}
		ok := (marked && n <= maxFollowUpHan) || (pronoun && n <= maxPronounHan) || (n <= shortHan && !asks)
		return ok, trimQuestion(rest)
	}
	for _, m := range enLead {
		if strings.HasPrefix(rest, m+" ") {
			rest, marked = strings.TrimPrefix(rest, m+" "), true
			break
		}
	}
	words := strings.FieldsFunc(f, func(r rune) bool { return !isWordRune(r) && r != '\'' })
	for _, w := range words {
		if enPronouns[w] {
			pronoun = true
		}
	}
	n := len(words)
	asks := n > 0 && enQuestion[words[0]]
	ok := (marked && n <= maxFollowUpWords) || (pronoun && n <= maxPronounWords) || (n <= shortWords && !asks)
	return ok, trimQuestion(rest)
}

// rewriteHeuristic turns a follow-up into a standalone query without an
// LLM: the topic of the previous standalone query (topicOf) followed by the
// follow-up without its markers ("怎么申请退款？" then "那运费呢？" gives
// "申请退款 运费"). Retrieval then sees both topics;
// the previous one keeps the follow-up on the same subject. Short questions
// are often complete ("怎么开发票"), so Ask uses this query only when it
// retrieves with more confidence than the question as asked.
func rewriteHeuristic(q string, prev kefu.Turn) string {
	ok, rest := followUp(q)
	if !ok || rest == "" {
		return q
	}
	topic := topicOf(prev.Query)
	if topic == "" {
		return q
	}
	// A chain of follow-ups grows the topic; its newest end is kept.
	out := topic + " " + rest
	if n := utf8.RuneCountInString(out); n > maxRewriteRunes {
		out = strings.TrimSpace(string([]rune(out)[n-maxRewriteRunes:]))
	}
	return out
}

// topicOf is what a follow-up borrows from the previous query: its words
// without question words and English stop words ("怎么申请退款？" gives
// "申请退款", "When will my order ship?" gives "order ship"), so that the
// follow-up's own words weigh as much in retrieval as the old topic.
func topicOf(query string) string {
	f := trimQuestion(fold(query))
	for _, w := range zhQuestion {
		f = strings.ReplaceAll(f, w, " ")
	}
	var words []string
	for _, w := range strings.Fields(f) {
		if w = trimQuestion(w); w != "" && !enStop[w] && !enQuestion[w] {
			words = append(words, w)
		}
	}
	return strings.Join(words, " ")
}

const rewritePrompt = `Rewrite the customer's last message as one standalone question that can be understood without the conversation, keeping its language. If it already stands alone, repeat it unchanged. Output only the question.`

// rewrite returns the standalone query for q given the history, and how it
// was made: q itself and "" when there is no history or q does not look
// like a follow-up; else the LLM's rewrite ("llm") when an LLM is
// configured and answers in time, else the heuristic's candidate
// ("heuristic"), which Ask weighs against q.
func (s *Service) rewrite(ctx context.Context, q string, hist []kefu.Turn, llm *kefu.LLMSettings) (string, string) {
	if len(hist) == 0 {
		return q, ""
	}
	if ok, _ := followUp(q); !ok {
		return q, ""
	}
	// The topic comes from the last turn that was not handed off.
	var prev kefu.Turn
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Route != kefu.RouteHandoff && hist[i].Route != "" && hist[i].Route != kefu.RouteAgent {
			prev = hist[i]
			break
		}
	}
	if prev.Query == "" {
		return q, ""
	}
	if llm == nil {
		return rewriteHeuristic(q, prev), "heuristic"
	}
	var b strings.Builder
	for _, t := range hist {
		b.WriteString("Customer: " + t.Question + "\n")
		b.WriteString("Assistant: " + truncateRunes(t.Answer, 200) + "\n")
	}
	b.WriteString("Customer: " + q)
	msgs := []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: rewritePrompt},
		{Role: openai.ChatMessageRoleUser, Content: b.String()},
	}
	c := s.llmClient(llm)
	start := time.Now()
	out, err := c.complete(ctx, msgs, 128, s.opts.RewriteTimeout)
	s.observeLLM(LLMCall{Kind: "rewrite", Endpoint: c.endpoint, Total: time.Since(start), Attempts: 1, Outcome: outcome(err)})
	if err == nil {
		out = strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
		out = strings.Trim(out, "\"“”「」")
		if out != "" && utf8.RuneCountInString(out) <= maxRewriteRunes {
			return out, "llm"
		}
	}
	if ctx.Err() == nil {
		s.log.Warn("llm rewrite failed; using the heuristic", "endpoint", c.endpoint, "outcome", outcome(err))
	}
	return rewriteHeuristic(q, prev), "heuristic"
}
