package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// The OpenAI-compatible endpoints let existing chat frontends and SDKs use
// kefu unchanged: the model is a KB's name, the last user message is the
// question, and the answer's citations and route ride in extra fields.

// ChatCompletionRequest is the part of an OpenAI chat completion request
// kefu reads; other fields (temperature, tools…) are accepted and ignored.
type ChatCompletionRequest struct {
	Model         string        `json:"model"`
	Messages      []ChatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	User string `json:"user,omitempty"`
	// ConversationID is kefu's extension; without it, one is derived from
	// the user and the conversation's first user message.
	ConversationID string `json:"conversation_id,omitempty"`
}

// ChatMessage is one message of a chat completion request. Content is a
// string or an array of parts, of which the text parts are read.
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text returns the message's text.
func (m ChatMessage) text() (string, error) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", kefu.Errorf(kefu.EINVALID, "message content must be a string or an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

// KefuInfo is the extra field of kefu's chat completions.
type KefuInfo struct {
	AnswerID       string     `json:"answer_id"`
	Route          kefu.Route `json:"route"`
	Confidence     float64    `json:"confidence"`
	ConversationID string     `json:"conversation_id,omitempty"`
	Disclaimer     string     `json:"disclaimer,omitempty"`
}

// Usage counts tokens as OpenAI does. kefu's counts are estimates
// (text.EstimateTokens: one per Han, kana or Hangul character, one per
// four bytes of other text, one per line break); the LLM's own counts are
// not passed through the Answerer.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type completionMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	FinishReason string            `json:"finish_reason"`
}

// ChatCompletion is a non-streamed chat completion.
type ChatCompletion struct {
	ID        string             `json:"id"`
	Object    string             `json:"object"`
	Created   int64              `json:"created"`
	Model     string             `json:"model"`
	Choices   []completionChoice `json:"choices"`
	Usage     Usage              `json:"usage"`
	Citations []kefu.Citation    `json:"citations"`
	Kefu      KefuInfo           `json:"kefu"`
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

// ChatCompletionChunk is one event of a streamed chat completion; the last
// one with choices carries the finish reason, the citations and KefuInfo.
type ChatCompletionChunk struct {
	ID        string          `json:"id"`
	Object    string          `json:"object"`
	Created   int64           `json:"created"`
	Model     string          `json:"model"`
	Choices   []chunkChoice   `json:"choices"`
	Usage     *Usage          `json:"usage,omitempty"`
	Citations []kefu.Citation `json:"citations,omitempty"`
	Kefu      *KefuInfo       `json:"kefu,omitempty"`
}

// MaxChatMessages bounds the messages of one chat completion request.
const MaxChatMessages = 256

// askOf turns a chat completion request of the key keyID into a question:
// the last user message, in a conversation named by the request or
// derived from the key, the model, the user and the first user message,
// so that the turns of one chat share kefu's conversation memory. Two
// keys never share one (a key reads only the conversations it started);
// clients whose users may open a chat with the same words should send
// "user" (or "conversation_id").
func askOf(req *ChatCompletionRequest, keyID string) (kefu.AskRequest, int, error) {
	if len(req.Messages) == 0 {
		return kefu.AskRequest{}, 0, kefu.Errorf(kefu.EINVALID, "messages is empty")
	}
	if len(req.Messages) > MaxChatMessages {
		return kefu.AskRequest{}, 0, kefu.Errorf(kefu.ETOOLARGE, "more than %d messages", MaxChatMessages)
	}
	question, first, prompt := "", "", 0
	for _, m := range req.Messages {
		t, err := m.text()
		if err != nil {
			return kefu.AskRequest{}, 0, err
		}
		prompt += text.EstimateTokens(t)
		if m.Role == "user" {
			if first == "" {
				first = t
			}
			question = t
		}
	}
	if strings.TrimSpace(question) == "" {
		return kefu.AskRequest{}, 0, kefu.Errorf(kefu.EINVALID, "no user message to answer")
	}
	conv := req.ConversationID
	if conv == "" {
		h := sha256.Sum256([]byte(keyID + "\x00" + req.Model + "\x00" + req.User + "\x00" + first))
		conv = "oai-" + hex.EncodeToString(h[:12])
	}
	return kefu.AskRequest{KB: req.Model, Question: question, ConversationID: conv, Channel: kefu.ChannelOpenAI, EndUser: req.User}, prompt, nil
}

func (s *Server) chatCompletions(c fiber.Ctx) error {
	if s.cfg.Answerer == nil {
		return unavailable("answerer")
	}
	var req ChatCompletionRequest
	if err := s.decode(c, &req, `{"model": KB name, "messages": [...]}`); err != nil {
		return err
	}
	if p := principalOf(c); !p.allows(req.Model) {
		return kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q", p.kb)
	}
	keyID := principalOf(c).keyID
	ask, prompt, err := askOf(&req, keyID)
	if err != nil {
		return err
	}
	ask.KeyID = keyID
	if _, err := s.cfg.Store.KB(c.Context(), req.Model); err != nil {
		if kefu.ErrorCode(err) == kefu.ENOTFOUND {
			return kefu.Errorf(kefu.ENOTFOUND, "model %q: no knowledge base of that name (GET /v1/models lists them)", req.Model)
		}
		return err
	}
	if err := s.checkConversation(c.Context(), principalOf(c), ask.KB, ask.ConversationID); err != nil {
		return err
	}
	created := time.Now().Unix()
	if !req.Stream {
		ctx, stop := s.answerContext(c)
		ans, err := s.cfg.Answerer.Ask(ctx, ask, nil)
		stop()
		if err != nil {
			return s.answerError(ctx, err)
		}
		comp := text.EstimateTokens(ans.Text)
		return c.JSON(ChatCompletion{
			ID: "chatcmpl-" + ans.ID, Object: "chat.completion", Created: created, Model: req.Model,
			Choices:   []completionChoice{{Message: completionMessage{Role: "assistant", Content: ans.Text}, FinishReason: "stop"}},
			Usage:     Usage{PromptTokens: prompt, CompletionTokens: comp, TotalTokens: prompt + comp},
			Citations: ans.Citations, Kefu: infoOf(ans),
		})
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	id := newID("chatcmpl-")
	return s.stream(c, func(ctx context.Context, emit func(string, any) bool) {
		chunk := func(d chunkDelta, finish *string) *ChatCompletionChunk {
			return &ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
				Choices: []chunkChoice{{Delta: d, FinishReason: finish}}}
		}
		empty := ""
		emit("", chunk(chunkDelta{Role: "assistant", Content: &empty}, nil))
		ans, err := s.cfg.Answerer.Ask(ctx, ask, func(d string) { emit("", chunk(chunkDelta{Content: &d}, nil)) })
		if err != nil {
			emit("", ErrorBody{Error: ErrorDetail{Code: kefu.ErrorCode(err), Message: kefu.ErrorMessage(err)}})
			return
		}
		stop := "stop"
		last := chunk(chunkDelta{}, &stop)
		last.Citations, last.Kefu = ans.Citations, ptr(infoOf(ans))
		if last.Citations == nil {
			last.Citations = []kefu.Citation{}
		}
		emit("", last)
		if includeUsage {
			comp := text.EstimateTokens(ans.Text)
			emit("", &ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
				Choices: []chunkChoice{}, Usage: &Usage{PromptTokens: prompt, CompletionTokens: comp, TotalTokens: prompt + comp}})
		}
		emit("", []byte("[DONE]"))
	})
}

func ptr[T any](v T) *T { return &v }

func infoOf(a *kefu.Answer) KefuInfo {
	return KefuInfo{AnswerID: a.ID, Route: a.Route, Confidence: a.Confidence, ConversationID: a.ConversationID, Disclaimer: a.Disclaimer}
}

// Bounds of an embeddings request.
const (
	MaxEmbeddingInputs     = 256
	MaxEmbeddingInputBytes = 32 << 10
)

// EmbeddingsRequest is an OpenAI embeddings request. Input is a string or
// an array of strings (token arrays are refused). InputType is kefu's
// extension for models with query and passage prefixes: "query" or
// "passage" (the default).
type EmbeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     int             `json:"dimensions,omitempty"`
	InputType      string          `json:"input_type,omitempty"`
}

// Embedding is one vector of an embeddings response: []float32, or a
// base64 string of little-endian float32s.
type Embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// EmbeddingsResponse is an OpenAI embeddings response.
type EmbeddingsResponse struct {
	Object string      `json:"object"`
	Data   []Embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func (s *Server) embeddings(c fiber.Ctx) error {
	e := s.cfg.Embedder
	if e == nil {
		return unavailable("embedding model")
	}
	var req EmbeddingsRequest
	if err := s.decode(c, &req, `{"input": string or [string], "model"}`); err != nil {
		return err
	}
	spec := e.Model()
	if req.Model != spec.Name && kefu.ModelID(req.Model) != e.ModelID() {
		return kefu.Errorf(kefu.ENOTFOUND, "model %q: this server embeds with %q", req.Model, spec.Name)
	}
	var inputs []string
	var one string
	if err := json.Unmarshal(req.Input, &one); err == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(req.Input, &inputs); err != nil {
		return kefu.Errorf(kefu.EINVALID, "input must be a string or an array of strings")
	}
	switch {
	case len(inputs) == 0:
		return kefu.Errorf(kefu.EINVALID, "input is empty")
	case len(inputs) > MaxEmbeddingInputs:
		return kefu.Errorf(kefu.ETOOLARGE, "more than %d inputs", MaxEmbeddingInputs)
	case req.Dimensions != 0 && req.Dimensions != spec.Dim:
		return kefu.Errorf(kefu.EINVALID, "dimensions %d: %s has %d", req.Dimensions, spec.Name, spec.Dim)
	case req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64":
		return kefu.Errorf(kefu.EINVALID, "encoding_format %q: use float or base64", req.EncodingFormat)
	}
	tokens := 0
	for i, in := range inputs {
		if in == "" {
			return kefu.Errorf(kefu.EINVALID, "input %d is empty", i)
		}
		if len(in) > MaxEmbeddingInputBytes {
			return kefu.Errorf(kefu.ETOOLARGE, "input %d over %d bytes", i, MaxEmbeddingInputBytes)
		}
		tokens += e.CountTokens(in)
	}
	var vecs [][]float32
	var err error
	switch req.InputType {
	case "", "passage", "document":
		vecs, err = e.EmbedPassages(c.Context(), inputs)
	case "query":
		vecs, err = e.EmbedQueries(c.Context(), inputs)
	default:
		return kefu.Errorf(kefu.EINVALID, "input_type %q: use query or passage", req.InputType)
	}
	if err != nil {
		return err
	}
	out := EmbeddingsResponse{Object: "list", Model: spec.Name, Data: make([]Embedding, len(vecs))}
	for i, v := range vecs {
		var emb any = v
		if req.EncodingFormat == "base64" {
			emb = encodeFloats(v)
		}
		out.Data[i] = Embedding{Object: "embedding", Index: i, Embedding: emb}
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = tokens, tokens
	return c.JSON(out)
}

// encodeFloats is OpenAI's base64 encoding of a vector: little-endian
// float32s.
func encodeFloats(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ModelInfo is one entry of GET /v1/models.
type ModelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Kind is kefu's extension: "kb" (a chat model) or "embedding".
	Kind string `json:"kind"`
}

func (s *Server) models(c fiber.Ctx) error {
	p := principalOf(c)
	kbs, err := s.cfg.Store.KBs(c.Context())
	if err != nil {
		return err
	}
	data := []ModelInfo{}
	for _, kb := range kbs {
		if p.allows(kb.Name) {
			data = append(data, ModelInfo{ID: kb.Name, Object: "model", Created: kb.CreatedAt.Unix(), OwnedBy: "kefu", Kind: "kb"})
		}
	}
	if s.cfg.Embedder != nil {
		data = append(data, ModelInfo{ID: s.cfg.Embedder.Model().Name, Object: "model", OwnedBy: "kefu", Kind: "embedding"})
	}
	return c.JSON(fiber.Map{"object": "list", "data": data})
}
