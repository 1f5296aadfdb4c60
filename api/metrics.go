package api

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kefu-dev/kefu"
)

// Metrics are kefu's Prometheus metrics, in a registry of their own (with
// the Go runtime's and the process's), served at /metrics.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.HistogramVec // method, route, status

	ingestJobs      *prometheus.CounterVec // state
	ingestDocuments *prometheus.CounterVec // outcome: indexed, unchanged, failed
	ingestChunks    prometheus.Counter
	ingestEmbedded  prometheus.Counter

	embedBatch    *prometheus.HistogramVec // kind: query, passage
	embedDuration *prometheus.HistogramVec // kind
	embedErrors   *prometheus.CounterVec   // kind

	answers        *prometheus.CounterVec   // route, cached
	answerDuration *prometheus.HistogramVec // route
	answerFallback *prometheus.CounterVec   // reason

	llmDuration   *prometheus.HistogramVec // kind, outcome
	llmFirstToken *prometheus.HistogramVec // kind
	llmTokens     *prometheus.CounterVec   // kind, type: prompt, completion
	llmErrors     *prometheus.CounterVec   // kind, outcome
	llmBreaker    *prometheus.GaugeVec     // endpoint, state

	wsConns prometheus.Gauge

	webhookAttempts *prometheus.CounterVec   // target, outcome: delivered, retry, dead
	webhookDuration *prometheus.HistogramVec // target
	storeOnce       sync.Once
	store           atomic.Pointer[kefu.HealthChecker] // what kefu_store_up reports

	cacheHits, cacheable atomic.Int64 // answers from the cache; answers that could be (not hand-offs)
}

// NewMetrics registers kefu's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	lat := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kefu_http_request_duration_seconds", Help: "HTTP request latency by route pattern (streams: until the handler returns).", Buckets: lat,
	}, []string{"method", "route", "status"})
	m.ingestJobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_ingest_jobs_total", Help: "Ingest jobs finished, by final state."}, []string{"state"})
	m.ingestDocuments = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_ingest_documents_total", Help: "Documents of finished ingest jobs, by outcome (indexed, unchanged, failed)."}, []string{"outcome"})
	m.ingestChunks = prometheus.NewCounter(prometheus.CounterOpts{Name: "kefu_ingest_chunks_total", Help: "Chunks produced by finished ingest jobs."})
	m.ingestEmbedded = prometheus.NewCounter(prometheus.CounterOpts{Name: "kefu_ingest_embedded_texts_total", Help: "Texts sent to the embedding model by finished ingest jobs."})
	m.embedBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kefu_embed_batch_size", Help: "Texts per call to the embedding model.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	}, []string{"kind"})
	m.embedDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kefu_embed_duration_seconds", Help: "Latency of a call to the embedding model.", Buckets: lat}, []string{"kind"})
	m.embedErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_embed_errors_total", Help: "Failed calls to the embedding model."}, []string{"kind"})
	m.answers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_answers_total", Help: "Answers by route and whether they came from the answer cache."}, []string{"route", "cached"})
	m.answerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kefu_answer_duration_seconds", Help: "Time to a complete answer, by route.", Buckets: lat}, []string{"route"})
	m.answerFallback = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_answer_fallbacks_total", Help: "LLM answers replaced by the extractive fallback, by reason."}, []string{"reason"})
	m.llmDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kefu_llm_request_duration_seconds", Help: "LLM call latency (retries included) by kind and outcome.", Buckets: lat}, []string{"kind", "outcome"})
	m.llmFirstToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kefu_llm_first_token_seconds", Help: "LLM time to the first token.", Buckets: lat}, []string{"kind"})
	m.llmTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_llm_tokens_total", Help: "LLM tokens by kind and type (prompt, completion)."}, []string{"kind", "type"})
	m.llmErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_llm_errors_total", Help: "Failed LLM calls by kind and outcome."}, []string{"kind", "outcome"})
	m.llmBreaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kefu_llm_breaker_state", Help: "1 for the state each LLM endpoint's circuit breaker is in."}, []string{"endpoint", "state"})
	m.wsConns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kefu_websocket_connections", Help: "Open WebSocket chat connections."})
	hitRatio := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kefu_answer_cache_hit_ratio", Help: "Share of answers (hand-offs excluded) served from the answer cache since start.",
	}, m.cacheHitRatio)
	m.webhookAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_webhook_attempts_total", Help: "Webhook and channel delivery attempts by target (webhook, channel) and outcome (delivered, retry, dead)."}, []string{"target", "outcome"})
	m.webhookDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kefu_webhook_attempt_duration_seconds", Help: "Time to a receiver's answer, per delivery attempt.", Buckets: lat}, []string{"target"})
	m.reg.MustRegister(m.webhookAttempts, m.webhookDuration)
	m.reg.MustRegister(m.requests, m.ingestJobs, m.ingestDocuments, m.ingestChunks, m.ingestEmbedded,
		m.embedBatch, m.embedDuration, m.embedErrors, m.answers, m.answerDuration, m.answerFallback,
		m.llmDuration, m.llmFirstToken, m.llmTokens, m.llmErrors, m.llmBreaker, m.wsConns, hitRatio,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, to add collectors or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}

// ObserveDelivery counts a webhook delivery attempt; wire it to the
// dispatcher's OnAttempt.
func (m *Metrics) ObserveDelivery(d kefu.Delivery, a kefu.Attempt, next kefu.DeliveryState) {
	outcome := "retry"
	switch next {
	case kefu.DeliveryDelivered:
		outcome = "delivered"
	case kefu.DeliveryDead:
		outcome = "dead"
	}
	m.webhookAttempts.WithLabelValues(d.Target, outcome).Inc()
	m.webhookDuration.WithLabelValues(d.Target).Observe(a.DurationMS / 1000)
}

// ObserveJob counts an ended ingest job's documents, chunks and failures;
// wire it to the ingester's OnFinish.
func (m *Metrics) ObserveJob(j kefu.Job) {
	m.ingestJobs.WithLabelValues(string(j.State)).Inc()
	m.ingestDocuments.WithLabelValues("indexed").Add(float64(j.Done))
	m.ingestDocuments.WithLabelValues("unchanged").Add(float64(j.Unchanged))
	m.ingestDocuments.WithLabelValues("failed").Add(float64(len(j.Failed)))
	m.ingestChunks.Add(float64(j.Chunks))
	m.ingestEmbedded.Add(float64(j.Embedded))
}

func (m *Metrics) cacheHitRatio() float64 {
	all := m.cacheable.Load()
	if all == 0 {
		return 0
	}
	return float64(m.cacheHits.Load()) / float64(all)
}

// ObserveAnswer records one answer (the answerer's observer calls it).
func (m *Metrics) ObserveAnswer(route kefu.Route, cached bool, fallback string, total time.Duration) {
	m.answers.WithLabelValues(string(route), strconv.FormatBool(cached)).Inc()
	if route != kefu.RouteHandoff {
		m.cacheable.Add(1)
		if cached {
			m.cacheHits.Add(1)
		}
	}
	m.answerDuration.WithLabelValues(string(route)).Observe(total.Seconds())
	if fallback != "" {
		m.answerFallback.WithLabelValues(fallback).Inc()
	}
}

// ObserveLLM records one LLM call: its kind ("answer", "rewrite"), outcome
// ("ok" or what failed), latencies and token counts.
func (m *Metrics) ObserveLLM(kind, outcome string, firstToken, total time.Duration, promptTokens, completionTokens int) {
	m.llmDuration.WithLabelValues(kind, outcome).Observe(total.Seconds())
	if firstToken > 0 {
		m.llmFirstToken.WithLabelValues(kind).Observe(firstToken.Seconds())
	}
	m.llmTokens.WithLabelValues(kind, "prompt").Add(float64(promptTokens))
	m.llmTokens.WithLabelValues(kind, "completion").Add(float64(completionTokens))
	if outcome != "ok" {
		m.llmErrors.WithLabelValues(kind, outcome).Inc()
	}
}

// ObserveBreaker records an LLM endpoint's circuit breaker changing state.
func (m *Metrics) ObserveBreaker(endpoint, from, to string) {
	if from != "" {
		m.llmBreaker.WithLabelValues(endpoint, from).Set(0)
	}
	m.llmBreaker.WithLabelValues(endpoint, to).Set(1)
}

// Embedder wraps e to record its batch sizes, latency and errors; the
// wrapper is what the ingest service and the retriever should be given.
func (m *Metrics) Embedder(e kefu.Embedder) kefu.Embedder {
	return &observedEmbedder{Embedder: e, m: m}
}

type observedEmbedder struct {
	kefu.Embedder
	m *Metrics
}

func (o *observedEmbedder) observe(kind string, n int, start time.Time, err error) {
	o.m.embedBatch.WithLabelValues(kind).Observe(float64(n))
	o.m.embedDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil {
		o.m.embedErrors.WithLabelValues(kind).Inc()
	}
}

func (o *observedEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	start := time.Now()
	v, err := o.Embedder.EmbedQueries(ctx, texts)
	o.observe("query", len(texts), start, err)
	return v, err
}

func (o *observedEmbedder) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	start := time.Now()
	v, err := o.Embedder.EmbedPassages(ctx, texts)
	o.observe("passage", len(texts), start, err)
	return v, err
}

// StoreHealth exports kefu_store_up, 1 while the KB store's service (Qdrant)
// answers its health check, 0 when it does not; each scrape asks it once.
// Of several stores given, the last is the one reported.
func (m *Metrics) StoreHealth(h kefu.HealthChecker) {
	m.store.Store(&h)
	m.storeOnce.Do(func() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kefu_store_up", Help: "1 if the knowledge-base store's service (Qdrant) answers its health check."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), storeHealthTimeout)
			defer cancel()
			if (*m.store.Load()).Health(ctx) != nil {
				return 0
			}
			return 1
		}))
	})
}
