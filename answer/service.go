package answer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
	"github.com/sony/gobreaker/v2"
)

// Limits of a request.
const (
	maxQuestionBytes = 4096
	logTimeout       = 5 * time.Second // for AnswerLog.LogAnswer, detached from the caller
)

// Options configure a Service. Zero values take the defaults given.
type Options struct {
	Retriever kefu.Retriever // required
	KBs       kefu.KBReader  // required; read on every request
	AnswerLog kefu.AnswerLog // questions answered and feedback; may be nil
	// LLM is the global default model; a KB's own LLM settings override it
	// field by field. Nil here and in the KB: answers are extractive.
	LLM *kefu.LLMSettings
	// KBHosts are where a base URL from a KB's settings may be connected to
	// (kbHTTPClient); nil does not check them (a tool with its own local
	// LLM, tests). kefu serve always sets it.
	KBHosts *kefu.LLMHosts
	// PolicyFile is an optional JSON Policy, read by New and by Reload.
	PolicyFile string

	CacheSize int           // answers cached; default 1024, negative: no cache
	CacheTTL  time.Duration // default 10 minutes

	// Turns is how many of a request's last turns of history follow-up
	// rewriting reads; default 5, negative: none.
	Turns int

	TopK int // hits retrieved per question; default 8

	Observer   Observer     // may be nil
	Logger     *slog.Logger // default slog.Default()
	HTTPClient *http.Client // for the global LLM (and a KB's without KBHosts); default one without Timeout (deadlines are the answerer's own)

	FirstTokenTimeout time.Duration // request start to first token; default 20s
	IdleTimeout       time.Duration // between chunks once streaming; default 15s
	Retries           int           // retries on 429/5xx before the first token; default 2, negative: none
	RetryBackoff      time.Duration // first backoff, doubled per retry; default 300ms
	RewriteTimeout    time.Duration // LLM query rewriting; default 3s
	BreakerFailures   int           // consecutive failed calls that open the breaker; default 5
	BreakerCooldown   time.Duration // open time before a trial call; default 30s
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.CacheSize == 0 {
		o.CacheSize = 1024
	}
	def(&o.CacheTTL, 10*time.Minute)
	if o.Turns == 0 {
		o.Turns = 5
	}
	if o.TopK <= 0 {
		o.TopK = 8
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def(&o.FirstTokenTimeout, 20*time.Second)
	def(&o.IdleTimeout, 15*time.Second)
	switch {
	case o.Retries == 0:
		o.Retries = 2
	case o.Retries < 0:
		o.Retries = 0
	}
	def(&o.RetryBackoff, 300*time.Millisecond)
	def(&o.RewriteTimeout, 3*time.Second)
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	def(&o.BreakerCooldown, 30*time.Second)
}

// Service answers questions from KBs; it implements kefu.Answerer and is
// safe for concurrent use.
type Service struct {
	opts       Options
	log        *slog.Logger
	httpClient *http.Client
	kbClient   *http.Client // for LLMs a KB names: httpClient without KBHosts

	reloadMu sync.Mutex
	gen      atomic.Uint64
	pol      atomic.Pointer[policy]
	matchers *lru.Cache[string, *matcher]

	cache *expirable.LRU[string, *kefu.Answer] // nil: off

	breakerMu sync.Mutex
	breakers  *lru.Cache[string, *gobreaker.TwoStepCircuitBreaker[struct{}]]
}

var _ kefu.Answerer = (*Service)(nil)

// New returns a Service. It reads the policy file, if any.
//
// The cache runs one cleanup goroutine (hashicorp/golang-lru's expirable
// LRU) that lives as long as the process; a Service is meant to live as
// long too.
func New(opts Options) (*Service, error) {
	if opts.Retriever == nil || opts.KBs == nil {
		return nil, kefu.Errorf(kefu.EINVALID, "answer: Retriever and KBs are required")
	}
	opts.defaults()
	s := &Service{opts: opts, log: opts.Logger, httpClient: opts.HTTPClient}
	if s.httpClient == nil {
		s.httpClient = &http.Client{}
	}
	s.httpClient = withRequestID(s.httpClient)
	s.kbClient = s.httpClient
	if opts.KBHosts != nil {
		s.kbClient = withRequestID(kbHTTPClient(opts.KBHosts))
	}
	s.matchers, _ = lru.New[string, *matcher](128)
	s.breakers, _ = lru.New[string, *gobreaker.TwoStepCircuitBreaker[struct{}]](64)
	if opts.CacheSize > 0 {
		s.cache = expirable.NewLRU[string, *kefu.Answer](opts.CacheSize, nil, opts.CacheTTL)
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload re-reads the policy file and empties the answer cache, whose
// answers may carry the old messages. On error the current policy stays.
// KB settings need no reload: they are read on every request.
func (s *Service) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var p *Policy
	if s.opts.PolicyFile != "" {
		var err error
		if p, err = LoadPolicy(s.opts.PolicyFile); err != nil {
			return err
		}
	}
	s.pol.Store(compile(p, s.gen.Add(1)))
	if s.cache != nil {
		s.cache.Purge()
	}
	return nil
}

// Policy returns the policy in force, defaults merged in.
func (s *Service) Policy() Policy {
	p := s.pol.Load()
	return Policy{
		SensitiveWords:  append([]string(nil), p.sensitive...),
		HandoffPhrases:  append([]string(nil), p.requests...),
		Exceptions:      append([]string(nil), p.exceptions...),
		ReplaceDefaults: true,
		Threshold:       p.threshold,
		Floor:           p.floor,
		Messages:        map[string]Messages{"zh": p.msgs["zh"], "en": p.msgs["en"]},
	}
}

// matcher returns the hand-off matcher of the policy plus a KB's words.
func (s *Service) matcher(p *policy, kbWords []string) *matcher {
	key := fmt.Sprint(p.gen) + "\x00" + strings.Join(kbWords, "\x1f")
	if m, ok := s.matchers.Get(key); ok {
		return m
	}
	m := newMatcher(append(append([]string(nil), p.sensitive...), kbWords...), p.requests, p.exceptions)
	s.matchers.Add(key, m)
	return m
}

// request is the state of one Ask.
type request struct {
	kb        *kefu.KB
	question  string
	query     string
	lang      string
	msgs      Messages
	llm       *kefu.LLMSettings
	hits      []kefu.Hit
	confident bool
	a         *kefu.Answer
	out       output
	trigger   *handoffMatch
	rewrite   string // "", "heuristic" or "llm"
	fallback  string // LLM outcome that made the answer fall back, "" if none
	noCache   bool
}

// output collects the answer text and streams each piece to onDelta.
type output struct {
	b       strings.Builder
	onDelta func(string)
}

func (o *output) write(s string) {
	if s == "" {
		return
	}
	o.b.WriteString(s)
	if o.onDelta != nil {
		o.onDelta(s)
	}
}

// disclaim ends the answer with a disclaimer and routes it "disclaimer".
// The disclaimer is part of Text, so surfaces that show only text (the
// OpenAI-compatible endpoint, the CLI) still show it; Answer.Disclaimer
// repeats it for frontends that style it apart.
func (r *request) disclaim(msg string) {
	r.a.Route = kefu.RouteDisclaimer
	r.a.Disclaimer = msg
	if r.out.b.Len() > 0 {
		r.out.write("\n\n")
	}
	r.out.write(msg)
}

// Ask answers a question following the routing policy (see the package
// documentation). It streams the answer text to onDelta when it is not nil.
// Errors are those of the KB lookup and the retriever, invalid requests, and
// the caller's context; LLM failures are not errors: the answer falls back.
func (s *Service) Ask(ctx context.Context, req kefu.AskRequest, onDelta func(string)) (*kefu.Answer, error) {
	start := time.Now()
	q := strings.TrimSpace(req.Question)
	switch {
	case !kefu.ValidKBName(req.KB):
		return nil, kefu.Errorf(kefu.EINVALID, "invalid KB name %q", req.KB)
	case q == "":
		return nil, kefu.Errorf(kefu.EINVALID, "empty question")
	case len(q) > maxQuestionBytes:
		return nil, kefu.Errorf(kefu.ETOOLARGE, "question longer than %d bytes", maxQuestionBytes)
	case len(req.ConversationID) > kefu.MaxConversationID:
		return nil, kefu.Errorf(kefu.EINVALID, "conversation id longer than %d bytes", kefu.MaxConversationID)
	}
	kb, err := s.opts.KBs.KB(ctx, req.KB)
	if err != nil {
		return nil, err
	}
	if kb == nil {
		return nil, kefu.Errorf(kefu.ENOTFOUND, "no KB %q", req.KB)
	}
	pol := s.pol.Load()
	hist := recent(req.History, s.opts.Turns)
	prevLang := ""
	if len(req.History) > 0 {
		prevLang = req.History[len(req.History)-1].Lang
	}
	r := &request{kb: kb, question: q, query: q, lang: lang(q, prevLang)}
	r.msgs = pol.messages(r.lang)
	r.out.onDelta = onDelta
	r.a = &kefu.Answer{ID: newID(), ConversationID: req.ConversationID, Citations: []kefu.Citation{}, Lang: r.lang}

	if t, ok := s.matcher(pol, kb.Settings.SensitiveWords).Match(q); ok {
		if why := handoffTrigger(t, kb.Settings.Handoff, req.History); why != "" && !s.kbSubject(ctx, kb, t) {
			r.trigger = &t
			r.a.Route, r.a.Handoff = kefu.RouteHandoff, why
			r.out.write(r.msgs.Handoff)
			return s.finish(ctx, r, start), nil
		}
	}

	r.llm = mergeLLM(s.opts.LLM, kb.Settings.LLM)
	threshold, floor := pol.limits(kb.Settings)
	t0 := time.Now()
	cand, how := s.rewrite(ctx, q, hist, r.llm)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if how == "llm" {
		r.a.Timings.RewriteMS = ms(time.Since(t0))
		r.query, r.rewrite = cand, how
		r.a.Query = r.query
	}

	// The heuristic's candidate is weighed against the question as asked:
	// a cached confident answer to the question wins outright.
	key := cacheKey(kb, pol.gen, r.lang, r.query)
	if c, ok := s.cached(key); ok && (how != "heuristic" || confidentRoute(c.Route)) {
		r.serveCached(c)
		return s.finish(ctx, r, start), nil
	}
	t0 = time.Now()
	ret, err := s.opts.Retriever.Retrieve(ctx, kb.Name, kefu.Query{Text: r.query, K: s.opts.TopK})
	if err != nil {
		return nil, err
	}
	if how == "heuristic" && cand != q && ret.Confidence < threshold {
		ret2, err := s.opts.Retriever.Retrieve(ctx, kb.Name, kefu.Query{Text: cand, K: s.opts.TopK})
		if err != nil {
			return nil, err
		}
		if ret2.Confidence > ret.Confidence {
			ret, r.query, r.rewrite = ret2, cand, how
			key = cacheKey(kb, pol.gen, r.lang, r.query)
		}
	}
	r.a.Timings.RetrieveMS = ms(time.Since(t0))
	if r.query != q {
		r.a.Query = r.query
	}
	for _, h := range ret.Hits {
		if h.Chunk != nil && strings.TrimSpace(h.Chunk.Text) != "" {
			r.hits = append(r.hits, h)
		}
	}
	if ret.Version > kb.Version {
		r.noCache = true // the KB changed since it was read: the key is stale
	}
	r.a.Confidence = ret.Confidence
	r.confident = ret.Confidence >= threshold

	unknown := len(r.hits) == 0 || ret.Confidence < floor
	switch {
	case unknown && escalates(req, kb.Settings.Handoff):
		// Another unknown answer in a row: a person takes over.
		r.a.Route, r.a.Handoff = kefu.RouteHandoff, kefu.TriggerUnknown
		r.out.write(r.msgs.Handoff)
		r.noCache = true
	case unknown:
		r.a.Route = kefu.RouteUnknown
		r.out.write(r.msgs.Unknown)
	case r.hits[0].Chunk.Kind == kefu.KindFAQ:
		r.a.Route = kefu.RouteFAQ
		r.out.write(strings.TrimSpace(r.hits[0].Chunk.Text))
		r.a.Citations = citations(r.hits, []int{1})
	case r.llm != nil:
		if err := s.generate(ctx, r); err != nil {
			return nil, err
		}
	default:
		r.a.Route = kefu.RouteExtractive
		text, cited := extract(r.query, r.hits, r.lang)
		r.out.write(text)
		r.a.Citations = citations(r.hits, cited)
	}
	if !r.confident && r.a.Route != kefu.RouteUnknown && r.a.Route != kefu.RouteDisclaimer && r.a.Route != kefu.RouteHandoff {
		r.disclaim(r.msgs.Disclaimer)
	}
	a := s.finish(ctx, r, start)
	if s.cache != nil && !r.noCache && r.fallback == "" {
		c := *a
		c.Citations = append([]kefu.Citation{}, a.Citations...)
		s.cache.Add(key, &c)
	}
	return a, nil
}

// cached returns the cached answer under key, if any.
func (s *Service) cached(key string) (*kefu.Answer, bool) {
	if s.cache == nil {
		return nil, false
	}
	return s.cache.Get(key)
}

// serveCached answers with a copy of a cached answer.
func (r *request) serveCached(c *kefu.Answer) {
	r.a.Text, r.a.Route, r.a.Confidence, r.a.Disclaimer = c.Text, c.Route, c.Confidence, c.Disclaimer
	r.a.Citations = append([]kefu.Citation{}, c.Citations...)
	r.a.Cached = true
	r.out.write(c.Text)
}

// confidentRoute reports whether an answer of this route was given at or
// above the threshold.
func confidentRoute(r kefu.Route) bool {
	return r == kefu.RouteFAQ || r == kefu.RouteGenerated || r == kefu.RouteExtractive
}

// generate streams an LLM answer grounded in the evidence; when the LLM
// fails it falls back to the extractive answer with the fallback disclaimer.
// Its error is the caller's context error.
func (s *Service) generate(ctx context.Context, r *request) error {
	prompt, n := buildPrompt(r.query, r.hits, r.llm)
	if n == 0 { // nothing fits the window: never ask without evidence
		r.a.Route = kefu.RouteExtractive
		text, cited := extract(r.query, r.hits, r.lang)
		r.out.write(text)
		r.a.Citations = citations(r.hits, cited)
		return nil
	}
	c := s.llmClient(r.llm)
	filter := newCiteFilter(n, r.out.write)
	t0 := time.Now()
	res, err := c.stream(ctx, prompt, filter)
	total := time.Since(t0)
	r.a.Timings.LLMFirstMS, r.a.Timings.LLMMS = ms(res.firstToken), ms(total)
	call := LLMCall{Kind: "answer", Endpoint: c.endpoint, FirstToken: res.firstToken, Total: total,
		PromptTokens: res.promptTokens, CompletionTokens: res.completionTokens, Attempts: res.attempts, Outcome: outcome(err)}
	if call.PromptTokens == 0 {
		for _, m := range prompt {
			call.PromptTokens += text.EstimateTokens(m.Content) + messageOverhead
		}
	}
	if call.CompletionTokens == 0 {
		call.CompletionTokens = text.EstimateTokens(res.text.String())
	}
	s.observeLLM(call)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		filter.Drop()
		r.fallback = call.Outcome
		s.log.Warn("llm answer failed; answering from the documents", "kb", r.kb.Name, "endpoint", c.endpoint,
			"outcome", call.Outcome, "attempts", res.attempts, "streamed", r.out.b.Len() > 0, "err", err)
		if r.out.b.Len() > 0 {
			r.out.write("\n\n" + r.msgs.Interrupted + "\n\n")
		}
		text, cited := extract(r.query, r.hits, r.lang)
		r.out.write(text)
		r.a.Citations = citations(r.hits, union(filter.Cited(), cited))
		r.disclaim(r.msgs.Fallback)
		return nil
	}
	filter.Flush()
	cited := filter.Cited()
	r.a.Citations = citations(r.hits, cited)
	r.a.Route = kefu.RouteGenerated
	if filter.removed > 0 || len(cited) == 0 {
		s.log.Info("llm answer cites missing evidence; adding a disclaimer", "kb", r.kb.Name, "removed", filter.removed, "valid", len(cited))
		r.disclaim(r.msgs.Disclaimer)
	}
	return nil
}

// finish fills in the text and timings and logs the answer.
func (s *Service) finish(ctx context.Context, r *request, start time.Time) *kefu.Answer {
	a := r.a
	a.Text = r.out.b.String()
	a.Fallback = r.fallback
	a.Timings.TotalMS = ms(time.Since(start))

	ids := make([]string, len(a.Citations))
	for i, c := range a.Citations {
		ids[i] = c.ChunkID
	}
	if s.opts.AnswerLog != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
		err := s.opts.AnswerLog.LogAnswer(lctx, a.Record(r.kb.Name, r.question, kefu.RequestID(ctx), time.Now().UTC()))
		cancel()
		if err != nil {
			s.log.Warn("answer log failed", "id", a.ID, "kb", r.kb.Name, "err", err)
		}
	}
	attrs := []slog.Attr{
		slog.String("id", a.ID), slog.String("kb", r.kb.Name), slog.Uint64("kb_version", r.kb.Version),
		slog.String("route", string(a.Route)), slog.Float64("confidence", a.Confidence), slog.Bool("cached", a.Cached),
		slog.String("lang", r.lang), slog.Any("citations", ids),
		slog.Float64("rewrite_ms", a.Timings.RewriteMS), slog.Float64("retrieve_ms", a.Timings.RetrieveMS),
		slog.Float64("llm_first_token_ms", a.Timings.LLMFirstMS), slog.Float64("llm_ms", a.Timings.LLMMS),
		slog.Float64("total_ms", a.Timings.TotalMS),
	}
	if r.rewrite != "" {
		attrs = append(attrs, slog.String("rewrite", r.rewrite))
	}
	if r.trigger != nil {
		attrs = append(attrs, slog.String("trigger", r.trigger.Phrase), slog.String("trigger_kind", r.trigger.Kind))
	}
	if a.Handoff != "" {
		attrs = append(attrs, slog.String("handoff", a.Handoff))
	}
	if id := kefu.RequestID(ctx); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	if r.fallback != "" {
		attrs = append(attrs, slog.String("fallback", r.fallback))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "answer", attrs...)
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveAnswer(AnswerEvent{KB: r.kb.Name, Route: a.Route, Cached: a.Cached, Fallback: r.fallback,
			Confidence: a.Confidence, Total: time.Since(start)})
	}
	return a
}

// cacheKey identifies an answer: KB name, creation time and version, the
// policy's generation, the reply language, and the query folded with its
// punctuation dropped, so "怎么退款？" and "怎么退款" share an entry and any
// change to the KB or the policy misses. The creation time tells a KB from
// one deleted and created again under its name, whose versions start over;
// the language matters for a question with none of its own ("12345?"),
// answered in its conversation's.
func cacheKey(kb *kefu.KB, policyGen uint64, lang, query string) string {
	var b strings.Builder
	b.WriteString(kb.Name)
	b.WriteByte(0)
	b.WriteString(fmt.Sprint(kb.CreatedAt.UnixNano(), ".", kb.Version, ".", policyGen, ".", lang))
	b.WriteByte(0)
	space, wrote := false, false
	for _, r := range fold(query) {
		if unicode.IsPunct(r) || unicode.IsSpace(r) || unicode.IsSymbol(r) {
			space = true
			continue
		}
		if space && wrote {
			b.WriteByte(' ')
		}
		space, wrote = false, true
		b.WriteRune(r)
	}
	return b.String()
}

// union merges two sorted lists of citation numbers.
func union(a, b []int) []int {
	seen := make(map[int]bool)
	var out []int
	for _, l := range [][]int{a, b} {
		for _, n := range l {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Ints(out)
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
