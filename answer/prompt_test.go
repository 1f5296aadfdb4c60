package answer

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

func TestCutToTokens(t *testing.T) {
	if got := cutToTokens("退款多久能到账", 3); got != "退款多" {
		t.Errorf("cutToTokens = %q", got)
	}
}

// TestBuildPromptBudget: over a range of context windows the prompt always
// fits (window minus max tokens), evidence stays in rank order, a larger
// window never holds less, and a window too small for any evidence holds
// none.
func TestBuildPromptBudget(t *testing.T) {
	hs := hits(passage(t, "Do you ship internationally?"), passage(t, "怎么申请退款？"), passage(t, "What is your return policy?"), passage(t, "会员有什么权益？"))
	prev := 0
	for window := 200; window <= 1200; window += 10 {
		llm := &kefu.LLMSettings{Model: "m", MaxTokens: 128, ContextTokens: window}
		msgs, n := buildPrompt(shipQ, hs, llm)
		if n < prev {
			t.Fatalf("window %d holds %d pieces, a smaller one held %d", window, n, prev)
		}
		prev = n
		if n == 0 {
			if msgs != nil {
				t.Fatalf("window %d: messages without evidence", window)
			}
			continue
		}
		used := 0
		for _, m := range msgs {
			used += text.EstimateTokens(m.Content) + messageOverhead
		}
		if used > window-llm.MaxTokens {
			t.Fatalf("window %d: prompt of %d tokens leaves less than %d for the answer", window, used, llm.MaxTokens)
		}
		user := msgs[1].Content
		last := -1
		for i := 1; i <= n; i++ {
			at := strings.Index(user, "["+string(rune('0'+i))+"] ")
			if at <= last {
				t.Fatalf("window %d: evidence [%d] out of order", window, i)
			}
			last = at
		}
		if strings.Contains(user, "["+string(rune('0'+n+1))+"] ") {
			t.Fatalf("window %d: more evidence than reported", window)
		}
		if !strings.HasSuffix(user, "Question: "+shipQ) {
			t.Fatalf("window %d: question missing", window)
		}
	}
	if prev != len(hs) {
		t.Errorf("the largest window holds %d pieces, want all %d", prev, len(hs))
	}
	// A window that only holds part of the first piece: it is cut, not skipped.
	long := passage(t, "What is your return policy?")
	long.Text = strings.Repeat(long.Text+" ", 20)
	msgs, n := buildPrompt(shipQ, hits(long), &kefu.LLMSettings{MaxTokens: 128, ContextTokens: 600})
	if n != 1 || !strings.Contains(msgs[1].Content, "You can return items within 7 days") || strings.Count(msgs[1].Content, "You can return") >= 20 {
		t.Errorf("first piece not cut to fit: n=%d", n)
	}
}

// TestNoRoomNoLLM: when no evidence fits the window the LLM is not asked and
// the answer is extractive.
func TestNoRoomNoLLM(t *testing.T) {
	srv := newLLMServer(t, func(s *llmServer, w http.ResponseWriter, r *http.Request, n int, req chatRequest) {
		streamTokens(w, "no [1]")
	})
	s, _, _ := llmService(t, srv, 0.95, func(o *Options) { o.LLM.ContextTokens, o.LLM.MaxTokens = 300, 250 })
	a := ask(t, s, kefu.AskRequest{KB: "shop", Question: shipQ})
	if a.Route != kefu.RouteExtractive || a.Text != extractiveShip || srv.requests.Load() != 0 {
		t.Errorf("%s, %d LLM requests", show(a), srv.requests.Load())
	}
}
