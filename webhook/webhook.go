// Package webhook delivers the webhook outbox: each pending delivery of
// the store (kefu.WebhookStore) is POSTed to its target's URL, signed,
// and retried with exponential backoff and jitter until it is answered
// 2xx or its retry window (a day and more) runs out, when it goes dead.
//
// Each request carries the event as its JSON body and these headers:
//
//	Content-Type: application/json
//	Kefu-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" under the target's secret>
//	Kefu-Event-Id, Kefu-Event-Type, Kefu-Delivery-Id, Kefu-Delivery-Attempt
//	X-Request-ID: the API request that caused the event, when there was one
//
// Deliveries go only where Options.Hosts allows (kefu.WebhookHosts): public
// addresses unless the operator allows more. Every connection checks each
// address the receiver's name resolves to as it is made, so a name moved
// onto an internal address after it was registered is refused; the attempt
// fails with the reason ("refused: …") and is retried like any failure.
// Deliveries are sent directly, never through a proxy.
//
// Delivery is at least once: a delivery is leased before its attempt (and
// tried again when the lease ends, should kefu die meanwhile), so a
// receiver deduplicates on Kefu-Event-Id. Redirects are not followed: a 3xx
// is a failure, like any status outside 2xx, a timeout (Options.Timeout)
// or a refused connection. A 429 or 503 with Retry-After waits at least
// that long. Attempts run concurrently (Options.Workers) and in no
// particular order; a receiver orders messages by their "seq".
//
// The package imports the root, internal/signature and internal/netguard,
// never another stage.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/netguard"
	"github.com/kefu-dev/kefu/internal/signature"
)

// Options configure a Dispatcher. Zero values take the defaults given.
type Options struct {
	Store kefu.WebhookStore // required
	// Hosts are where deliveries may go; nil allows public addresses only.
	Hosts  *kefu.WebhookHosts
	Logger *slog.Logger
	// Workers is how many attempts run at once; default 16.
	Workers int
	// Timeout bounds one attempt, the receiver's answer included; default
	// 10 s.
	Timeout time.Duration
	// Backoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff; each wait is drawn between its half
	// and its whole (jitter). Defaults 10 s and 1 h.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Poll is how often the outbox is read when nothing calls Notify;
	// default 1 s.
	Poll time.Duration
	// Lease is how long a delivery stays hidden while it is attempted: a
	// delivery whose dispatcher died is tried again after it. Default
	// Timeout + 30 s.
	Lease time.Duration
	// OnAttempt, when set, is told of every attempt (metrics).
	OnAttempt func(d kefu.Delivery, a kefu.Attempt, next kefu.DeliveryState)
}

// Dispatcher sends the outbox's deliveries.
type Dispatcher struct {
	opts   Options
	client *http.Client
	log    *slog.Logger
	wake   chan struct{}
}

// New returns a Dispatcher; Run starts it.
func New(opts Options) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	def(&opts.Timeout, 10*time.Second)
	def(&opts.Backoff, 10*time.Second)
	def(&opts.MaxBackoff, time.Hour)
	def(&opts.Poll, time.Second)
	def(&opts.Lease, opts.Timeout+30*time.Second)
	var resolver *net.Resolver
	if opts.Hosts != nil {
		resolver = opts.Hosts.Resolver
	}
	// A redirect is answered as it is (a failure): its target was never
	// checked against Hosts.
	client := &http.Client{Transport: netguard.Transport(opts.Hosts, resolver),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Dispatcher{opts: opts, client: client, log: opts.Logger, wake: make(chan struct{}, 1)}
}

// Notify tells the dispatcher that deliveries were enqueued, so it looks
// at once rather than at its next poll.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight,
// which ctx cancels, and records them as failed (to be tried again at once
// when a dispatcher runs next).
func (d *Dispatcher) Run(ctx context.Context) {
	results := make(chan kefu.AttemptResult, d.opts.Workers)
	freed := make(chan struct{}, 1)
	var inflight sync.WaitGroup
	var busy int
	var mu sync.Mutex
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.record(results, func(n int) {
			mu.Lock()
			busy -= n
			mu.Unlock()
			select {
			case freed <- struct{}{}:
			default:
			}
		})
	}()
	for ctx.Err() == nil {
		mu.Lock()
		free := d.opts.Workers - busy
		mu.Unlock()
		wait := d.opts.Poll
		if free > 0 {
			now := time.Now()
			leases, err := d.opts.Store.Lease(ctx, now, now.Add(d.opts.Lease), free)
			if err != nil && ctx.Err() == nil {
				d.log.Error("webhook outbox: lease failed", "err", err)
			}
			mu.Lock()
			busy += len(leases)
			mu.Unlock()
			for _, l := range leases {
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					results <- d.attempt(ctx, l)
				}()
			}
			if len(leases) == free {
				continue // more may be due
			}
			if next, ok, err := d.opts.Store.NextDue(ctx); err == nil && ok {
				wait = min(wait, max(time.Until(next), time.Millisecond))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
	inflight.Wait()
	close(results)
	<-recorded
}

// record stores results in batches: whatever has arrived while the last
// batch was written.
func (d *Dispatcher) record(results <-chan kefu.AttemptResult, done func(n int)) {
	for r := range results {
		batch := []kefu.AttemptResult{r}
	more:
		for len(batch) < 256 {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := d.opts.Store.RecordAttempts(ctx, batch); err != nil {
			// Unrecorded attempts are tried again when their lease ends.
			d.log.Error("webhook outbox: recording attempts failed; they will be retried", "attempts", len(batch), "err", err)
		}
		cancel()
		done(len(batch))
	}
}

// attempt sends one delivery and says what becomes of it.
func (d *Dispatcher) attempt(ctx context.Context, l kefu.Lease) kefu.AttemptResult {
	dl := l.Delivery
	res := kefu.AttemptResult{DeliveryID: dl.ID, URL: l.URL}
	start := time.Now()
	a := kefu.Attempt{At: start.UTC()}
	if l.Gone != "" {
		a.Error = "not sent: " + l.Gone
		res.Attempt, res.State = a, kefu.DeliveryDead
		d.log.Warn("webhook delivery dead", "delivery_id", dl.ID, "event_id", dl.EventID, "reason", l.Gone)
		d.observe(dl, a, res.State)
		return res
	}
	actx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	status, body, retryAfter, err := d.send(actx, l, dl.Attempts+1)
	a.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	a.Status, a.Response = status, body
	if err != nil {
		a.Error = err.Error()
		if ctx.Err() != nil {
			a.Error = "kefu stopped during the attempt"
		}
	}
	res.Attempt = a
	switch {
	case err == nil && status >= 200 && status < 300:
		res.State = kefu.DeliveryDelivered
	case ctx.Err() != nil:
		res.State, res.NextAt = kefu.DeliveryPending, time.Now()
	default:
		wait := d.backoff(dl.Attempts+1, retryAfter)
		next := time.Now().Add(wait)
		if next.After(dl.RetryUntil) {
			res.State = kefu.DeliveryDead
			d.log.Warn("webhook delivery dead: retries ran out; redeliver it by hand", "delivery_id", dl.ID, "event_id", dl.EventID,
				"event", dl.EventType, "target", dl.Target+":"+dl.TargetID, "attempts", dl.Attempts+1, "status", status, "err", a.Error)
		} else {
			res.State, res.NextAt = kefu.DeliveryPending, next
			d.log.Warn("webhook delivery failed; retrying", "delivery_id", dl.ID, "event_id", dl.EventID, "event", dl.EventType,
				"target", dl.Target+":"+dl.TargetID, "attempt", dl.Attempts+1, "status", status, "err", a.Error, "retry_in", wait.Round(time.Millisecond).String())
		}
	}
	d.observe(dl, a, res.State)
	return res
}

func (d *Dispatcher) observe(dl kefu.Delivery, a kefu.Attempt, next kefu.DeliveryState) {
	if d.opts.OnAttempt != nil {
		d.opts.OnAttempt(dl, a, next)
	}
}

// maxResponse is how much of a receiver's answer the log keeps; drained is
// how much more is read so the connection can be reused.
const (
	maxResponse = 512
	drained     = 64 << 10
)

// send POSTs the event and returns the status, the start of the answer and
// any Retry-After.
func (d *Dispatcher) send(ctx context.Context, l kefu.Lease, attempt int) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(l.Body))
	if err != nil {
		return 0, "", 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "kefu-webhooks/1")
	h.Set(signature.Header, signature.Sign(l.Secret, time.Now(), l.Body))
	h.Set("Kefu-Event-Id", l.Event.ID)
	h.Set("Kefu-Event-Type", string(l.Event.Type))
	h.Set("Kefu-Delivery-Id", l.Delivery.ID)
	h.Set("Kefu-Delivery-Attempt", strconv.Itoa(attempt))
	if l.Event.RequestID != "" {
		h.Set("X-Request-ID", l.Event.RequestID)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if kefu.ErrorCode(err) == kefu.EFORBIDDEN {
			return 0, "", 0, errors.New("refused: " + kefu.ErrorMessage(err))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "", 0, errors.New("no answer within " + d.opts.Timeout.String())
		}
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	io.Copy(io.Discard, io.LimitReader(resp.Body, drained))
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, string(bytes.ToValidUTF8(head, nil)), retryAfter, nil
}

// backoff is the wait after the n-th failed attempt: Backoff doubled n-1
// times, at most MaxBackoff, drawn between its half and its whole; at least
// the receiver's Retry-After (itself capped at MaxBackoff).
func (d *Dispatcher) backoff(n int, retryAfter time.Duration) time.Duration {
	w := d.opts.Backoff
	for i := 1; i < n && w < d.opts.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.opts.MaxBackoff)
	w = w/2 + time.Duration(rand.Int64N(int64(w/2)+1))
	return max(w, min(retryAfter, d.opts.MaxBackoff))
}
