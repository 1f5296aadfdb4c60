package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/webhook"
)

// OutboxReport is the result of Outbox.
type OutboxReport struct {
	Events       int     `json:"events"`
	Workers      int     `json:"workers"`
	EnqueuePerS  float64 `json:"enqueue_per_s"`   // events enqueued one per transaction by 8 goroutines
	DeliveredPer float64 `json:"delivered_per_s"` // from the dispatcher's start to the last 2xx
	DeliverS     float64 `json:"deliver_s"`
	Delivered    int     `json:"delivered"` // deliveries the store records as delivered
	Note         string  `json:"note"`
}

// OutboxOptions configure Outbox. Zero fields take the defaults.
type OutboxOptions struct {
	Events  int // default 5000
	Workers int // the dispatcher's concurrent attempts, default its own (16)
}

// Outbox enqueues o.Events events for one subscription, then lets a
// dispatcher deliver them to a local receiver that answers 204 at once,
// and measures both rates.
func Outbox(ctx context.Context, o OutboxOptions) (*OutboxReport, error) {
	def(&o.Events, 5000)
	s, closeStore, err := tempStore("kefu-bench-outbox-")
	if err != nil {
		return nil, err
	}
	defer closeStore()
	var got atomic.Int64
	done := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		if got.Add(1) == int64(o.Events) {
			close(done)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if err := s.PutSubscription(ctx, &kefu.Subscription{ID: "bench", URL: "http://" + ln.Addr().String() + "/hook", Events: kefu.EventTypes, Secret: "whsec_bench"}); err != nil {
		return nil, err
	}
	rep := &OutboxReport{Events: o.Events, Note: "bbolt on this machine's disk; the receiver (net/http, same process) answers 204 at once; " +
		"each event a conversation.message of a 300-character answer, signed"}
	var next atomic.Int64
	var wg sync.WaitGroup
	var bad atomic.Value
	t0 := time.Now()
	for range 8 {
		wg.Go(func() {
			for int(next.Add(1)) <= o.Events {
				ev, err := kefu.NewEvent(ctx, kefu.EventConversationMessage, "bench", map[string]any{"message": kefu.Message{Role: kefu.RoleBot, Text: benchAnswer}})
				if err == nil {
					err = s.Enqueue(ctx, ev)
				}
				if err != nil {
					bad.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := bad.Load().(error); err != nil {
		return nil, err
	}
	rep.EnqueuePerS = float64(o.Events) / time.Since(t0).Seconds()
	// The receiver is on loopback: allowed as an operator would
	// (--webhook-allow-hosts 127.0.0.1).
	d := webhook.New(webhook.Options{Store: s, Workers: o.Workers, Hosts: &kefu.WebhookHosts{Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	rep.Workers = o.Workers
	if rep.Workers <= 0 {
		rep.Workers = 16
	}
	dctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	t1 := time.Now()
	go func() {
		defer close(stopped)
		d.Run(dctx)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		cancel()
		<-stopped
		return nil, fmt.Errorf("bench outbox: %d of %d delivered in 10 minutes", got.Load(), o.Events)
	}
	rep.DeliverS = time.Since(t1).Seconds()
	rep.DeliveredPer = float64(o.Events) / rep.DeliverS
	cancel()
	<-stopped // the last attempts are recorded
	ds, err := s.Deliveries(ctx, kefu.DeliveryFilter{State: kefu.DeliveryDelivered, Limit: 1000})
	if err != nil {
		return nil, err
	}
	rep.Delivered = len(ds)
	if len(ds) == 1000 {
		rep.Delivered = o.Events // the listing stops at 1000; the receiver counted them all
	}
	return rep, nil
}

// tempStore opens an embedded store in a new temporary folder; done closes
// it and removes the folder.
func tempStore(prefix string) (s *index.Store, done func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	if s, err = index.Open(dir, index.Options{}); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }, nil
}
