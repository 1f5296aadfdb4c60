package api_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
)

// patientAnswerer is the stack's answerer with LLM deadlines of minutes,
// so only the server's own deadline or the client's leaving can cut an
// answer short.
func (s *realStack) patientAnswerer(t *testing.T) *answer.Service {
	t.Helper()
	ans, err := answer.New(answer.Options{Retriever: s.ret, KBs: s.store, AnswerLog: s.store, Logger: discard(),
		FirstTokenTimeout: 5 * time.Minute, IdleTimeout: 5 * time.Minute, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

// A JSON /ask whose LLM drips tokens slower than the answer may take ends
// at --ask-timeout: the client gets 504 naming the flag and its value, and
// the LLM request is cancelled rather than left to run. So does a chat
// completion without stream.
func TestAskDeadline(t *testing.T) {
	s := getStack(t)
	llm := newFakeLLM(t, warrantyTokens, 2*time.Second, false) // 20 s in all
	kb := s.llmKB(t, "ask-deadline", llm)
	cfg := s.config()
	cfg.DevMode, cfg.Answerer, cfg.AskTimeout = true, s.patientAnswerer(t), 700*time.Millisecond
	_, base := serve(t, cfg)

	var e errorBody
	start := time.Now()
	r := call(t, "POST", base+"/v1/kbs/"+kb+"/ask", "", map[string]string{"question": "How long is the kettle warranty?"}, &e)
	if r.StatusCode != http.StatusGatewayTimeout || e.Error.Code != kefu.ETIMEOUT || !strings.Contains(e.Error.Message, "--ask-timeout") || !strings.Contains(e.Error.Message, "700ms") {
		t.Fatalf("ask past the deadline: %d %+v", r.StatusCode, e)
	}
	t.Logf("answered after %v", time.Since(start))
	waitFor(t, "the LLM request to be cancelled", func() bool { _, n := llm.counts(); return n == 1 })
	t.Logf("cancelled after %v", time.Since(start))

	r = call(t, "POST", base+"/v1/chat/completions", "", map[string]any{"model": kb, "messages": []map[string]string{{"role": "user", "content": "What does the kettle warranty cover?"}}}, &e)
	if r.StatusCode != http.StatusGatewayTimeout || !strings.Contains(e.Error.Message, "--ask-timeout") {
		t.Fatalf("chat completion past the deadline: %d %+v", r.StatusCode, e)
	}
	waitFor(t, "the second LLM request to be cancelled", func() bool { _, n := llm.counts(); return n == 2 })
}

// A JSON /ask whose client closes the connection stops its LLM call at
// once, as an event stream or a WebSocket chat does, though no deadline
// has passed; the server then serves the next connection as usual.
func TestAskClientGone(t *testing.T) {
	s := getStack(t)
	llm := newFakeLLM(t, warrantyTokens, time.Millisecond, true) // holds after the first token
	kb := s.llmKB(t, "ask-gone", llm)
	cfg := s.config()
	cfg.DevMode, cfg.Answerer, cfg.AskTimeout = true, s.patientAnswerer(t), 5*time.Minute
	_, base := serve(t, cfg)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"question":"How long is the kettle warranty?"}`
	fmt.Fprintf(conn, "POST /v1/kbs/%s/ask HTTP/1.1\r\nHost: kefu\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", kb, len(body), body)
	llm.waitStarted(t)
	conn.Close()
	waitFor(t, "the LLM request to be cancelled", func() bool { _, n := llm.counts(); return n == 1 })

	// A client that stays, and sends its next request while the first is
	// answered (pipelined), gets both answers.
	llm2 := newFakeLLM(t, warrantyTokens, time.Millisecond, false)
	kb2 := s.llmKB(t, "ask-stays", llm2)
	conn, err = net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("POST /v1/kbs/%s/ask HTTP/1.1\r\nHost: kefu\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", kb2, len(body), body)
	fmt.Fprint(conn, req+req)
	br := bufio.NewReader(conn)
	for i := range 2 {
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		raw := responseText(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(raw, "two-year") {
			t.Fatalf("response %d: %d %s", i, resp.StatusCode, raw)
		}
	}
}

func responseText(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(r.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
