package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
)

func TestAskFeedbackUnanswered(t *testing.T) {
	s := getStack(t)
	_, base := serve(t, s.config())
	query := s.newKey(t, kefu.ScopeQuery, "shop")
	ingest := s.newKey(t, kefu.ScopeIngest, "shop")

	var ans kefu.Answer
	conv := fmt.Sprint("c-", time.Now().UnixNano()) // a conversation this run names
	if r := call(t, "POST", base+"/v1/kbs/shop/ask", query, map[string]string{"question": refundQ, "conversation_id": conv}, &ans); r.StatusCode != 200 {
		t.Fatalf("ask: %d %s", r.StatusCode, bodyOf(r))
	}
	if ans.Route != kefu.RouteFAQ || ans.Text != s.faqAnswer(t, refundQ) || ans.ConversationID != conv || ans.ID == "" {
		t.Fatalf("answer %+v", ans)
	}
	// A question the shop FAQ cannot answer is listed as unanswered.
	odd := "What is the airspeed velocity of an unladen swallow?"
	var unk kefu.Answer
	call(t, "POST", base+"/v1/kbs/shop/ask", query, map[string]string{"question": odd}, &unk)
	if unk.Route != kefu.RouteUnknown && unk.Route != kefu.RouteDisclaimer {
		t.Fatalf("odd question answered %s: %q", unk.Route, unk.Text)
	}
	var un struct {
		Questions []kefu.AnswerRecord `json:"questions"`
	}
	if r := call(t, "GET", base+"/v1/kbs/shop/unanswered?limit=5", ingest, nil, &un); r.StatusCode != 200 {
		t.Fatalf("unanswered: %d %s", r.StatusCode, bodyOf(r))
	}
	if len(un.Questions) == 0 || un.Questions[0].Question != odd || un.Questions[0].ID != unk.ID {
		t.Fatalf("unanswered: %+v", un.Questions)
	}
	for _, q := range un.Questions {
		if q.Question == refundQ {
			t.Fatal("the answered refund question is listed as unanswered")
		}
	}
	if r := call(t, "GET", base+"/v1/kbs/shop/unanswered?limit=0", ingest, nil, nil); r.StatusCode != 400 {
		t.Fatalf("limit 0: %d", r.StatusCode)
	}

	// Feedback on a logged answer.
	fb := base + "/v1/kbs/shop/answers/" + ans.ID + "/feedback"
	if r := call(t, "POST", fb, query, map[string]any{"vote": -1, "comment": "too long"}, nil); r.StatusCode != 204 {
		t.Fatalf("feedback: %d %s", r.StatusCode, bodyOf(r))
	}
	got, err := s.store.Feedback(t.Context(), "shop", 10)
	if err != nil || len(got) == 0 || got[0].AnswerID != ans.ID || got[0].Vote != -1 || got[0].Comment != "too long" {
		t.Fatalf("stored feedback %+v %v", got, err)
	}
	if r := call(t, "POST", fb, query, map[string]any{"vote": 2}, nil); r.StatusCode != 400 {
		t.Fatalf("vote 2: %d", r.StatusCode)
	}
	if r := call(t, "POST", base+"/v1/kbs/shop/answers/nope/feedback", query, map[string]any{"vote": 1}, nil); r.StatusCode != 404 {
		t.Fatalf("feedback on an unknown answer: %d", r.StatusCode)
	}
	if r := call(t, "POST", base+"/v1/kbs/shop/ask", query, map[string]string{"question": " "}, nil); r.StatusCode != 400 {
		t.Fatalf("empty question: %d", r.StatusCode)
	}
}

// TestChatCompletionsConversation: the turns of one OpenAI-style chat share
// kefu's conversation memory, so a follow-up is understood.
func TestChatCompletionsConversation(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode = true
	_, base := serve(t, cfg)
	// Users of this run only: conversations live in the answerer's memory.
	u1, u2 := fmt.Sprintf("u1-%d", time.Now().UnixNano()), fmt.Sprintf("u2-%d", time.Now().UnixNano())
	type msg struct{ Role, Content string }
	ask := func(msgs ...msg) api.ChatCompletion {
		var out api.ChatCompletion
		var ms []map[string]string
		for _, m := range msgs {
			ms = append(ms, map[string]string{"role": m.Role, "content": m.Content})
		}
		if r := call(t, "POST", base+"/v1/chat/completions", "", map[string]any{"model": "shop", "user": u1, "messages": ms}, &out); r.StatusCode != 200 {
			t.Fatalf("chat: %d %s", r.StatusCode, bodyOf(r))
		}
		return out
	}
	first := ask(msg{"user", refundQ})
	if !strings.HasPrefix(first.Choices[0].Message.Content, s.faqAnswer(t, refundQ)) {
		t.Fatalf("first turn: %+v", first)
	}
	second := ask(msg{"user", refundQ}, msg{"assistant", first.Choices[0].Message.Content}, msg{"user", "And how long does it take?"})
	if second.Kefu.ConversationID == "" || second.Kefu.ConversationID != first.Kefu.ConversationID {
		t.Fatalf("conversation ids %q and %q", first.Kefu.ConversationID, second.Kefu.ConversationID)
	}
	if !strings.HasPrefix(second.ID, "chatcmpl-") || second.Object != "chat.completion" || second.Usage.TotalTokens == 0 {
		t.Fatalf("second turn: %+v", second)
	}
	// Another user's chat is another conversation.
	var other api.ChatCompletion
	call(t, "POST", base+"/v1/chat/completions", "", map[string]any{"model": "shop", "user": u2, "messages": []map[string]string{{"role": "user", "content": refundQ}}}, &other)
	if other.Kefu.ConversationID == first.Kefu.ConversationID {
		t.Fatal("two users share a conversation")
	}
}

// Two keys whose chats open with the same words and name no user each get
// a conversation of their own: a key reads only the conversations it
// started, so a shared derived id answered the second key 404.
func TestChatCompletionsOfTwoKeys(t *testing.T) {
	s := getStack(t)
	_, base := serve(t, s.config())
	opening := fmt.Sprint(refundQ, " (", time.Now().UnixNano(), ")")
	var convs []string
	for range 2 {
		key := s.newKey(t, kefu.ScopeQuery, "shop")
		var out api.ChatCompletion
		if r := call(t, "POST", base+"/v1/chat/completions", key, map[string]any{"model": "shop", "messages": []map[string]string{{"role": "user", "content": opening}}}, &out); r.StatusCode != 200 {
			t.Fatalf("chat of key %d: %d %s", len(convs)+1, r.StatusCode, bodyOf(r))
		}
		convs = append(convs, out.Kefu.ConversationID)
	}
	if convs[0] == "" || convs[0] == convs[1] {
		t.Fatalf("conversations %q", convs)
	}
}
