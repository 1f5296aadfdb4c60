package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeLLM is a local OpenAI-compatible chat API that streams tokens at
// fixed intervals and records when it flushed each one, by ask: test
// equipment for WS, which measures what the server adds to a stream. It
// proves nothing about a real LLM's latency, answers or errors.
type fakeLLM struct {
	srv      *http.Server
	url      string
	tokens   int
	interval time.Duration

	mu    sync.Mutex
	sends map[string][]tokenTime // ask marker → tokens sent
}

// tokenTime is the text length streamed so far and when.
type tokenTime struct {
	cum int
	at  time.Time
}

func newFakeLLM(tokens int, interval time.Duration) *fakeLLM {
	l := &fakeLLM{tokens: tokens, interval: interval, sends: map[string][]tokenTime{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l.url = "http://" + ln.Addr().String() + "/v1"
	l.srv = &http.Server{Handler: http.HandlerFunc(l.serve)}
	go l.srv.Serve(ln)
	return l
}

func (l *fakeLLM) close() { l.srv.Close() }

// words of the streamed answers: each token begins with a space, so the
// answerer's citation filter passes it on at once.
var benchWords = strings.Fields("the kettle warranty lasts two years from delivery and covers the heating element and the lid hinge against defects")

func (l *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	marker := ""
	if i := bytes.Index(body, []byte("ask-")); i >= 0 {
		j := i + 4
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			j++
		}
		marker = string(body[i:j])
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	write := func(content, finish string) {
		fr := "null"
		if finish != "" {
			fr = strconv.Quote(finish)
		}
		fmt.Fprintf(w, "data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":%s}]}\n\n", strconv.Quote(content), fr)
		fl.Flush()
	}
	var sent []tokenTime
	cum := 0
	next := time.Now()
	for i := 0; i < l.tokens; i++ {
		tok := " " + benchWords[i%len(benchWords)]
		if i == 0 {
			tok = "Answer"
		}
		if i == l.tokens-1 {
			tok = " [1]."
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		write(tok, "")
		cum += len(tok)
		sent = append(sent, tokenTime{cum, time.Now()})
		next = next.Add(l.interval)
		if r.Context().Err() != nil {
			return
		}
	}
	write("", "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
	l.mu.Lock()
	l.sends[marker] = sent
	l.mu.Unlock()
}
