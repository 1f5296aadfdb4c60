package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/internal/signature"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/webhook"
)

// loopback lets the tests' receivers, which listen on 127.0.0.1, be
// delivered to: the operator's opt-in (kefu serve --webhook-allow-hosts
// 127.0.0.1); without it, deliveries there are refused.
var loopback = &kefu.WebhookHosts{Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func openStore(t *testing.T, opts index.Options) *index.Store {
	t.Helper()
	s, err := index.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func subscribe(t *testing.T, s *index.Store, id, url, secret string) {
	t.Helper()
	if err := s.PutSubscription(context.Background(), &kefu.Subscription{ID: id, URL: url, Events: kefu.EventTypes, Secret: secret}); err != nil {
		t.Fatal(err)
	}
}

func enqueue(t *testing.T, s *index.Store, typ kefu.EventType, requestID string) kefu.Event {
	t.Helper()
	ev, err := kefu.NewEvent(kefu.WithRequestID(context.Background(), requestID), typ, "shop", map[string]string{"q": "退款多久能到账？"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// Deliveries reach a receiver written with Node's crypto, which verifies
// every signature; while it is down they are retried, and once it is back
// each event arrives, signed anew, with its id and request id.
func TestDeliveriesVerifiedByNode(t *testing.T) {
	recv := startReceiver(t)
	s := openStore(t, index.Options{})
	secret := signature.NewSecret()
	subscribe(t, s, "node", recv.URL, secret)
	recv.control(t, secret, true)
	d := webhook.New(webhook.Options{Store: s, Hosts: loopback, Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Poll: 20 * time.Millisecond})
	run(t, d.Run)
	var want []kefu.Event
	for i, typ := range kefu.EventTypes {
		want = append(want, enqueue(t, s, typ, "req_"+string(rune('a'+i))))
	}
	d.Notify()
	waitFor(t, "failed attempts while the receiver is down", 10*time.Second, func() bool { return len(recv.requests()) >= 2*len(want) })
	recv.control(t, secret, false)
	waitFor(t, "every event", 20*time.Second, func() bool { return len(recv.accepted()) == len(want) })
	got := recv.accepted()
	for _, ev := range want {
		g, ok := got[ev.ID]
		if !ok || !g.Verified || g.Type != string(ev.Type) || g.HeaderEventID != ev.ID || g.RequestID != ev.RequestID || g.Attempt < 2 {
			t.Errorf("event %s (%s): received %+v", ev.ID, ev.Type, g)
		}
	}
	for _, g := range recv.requests() {
		if !g.Verified {
			t.Errorf("the receiver could not verify %+v", g)
		}
	}
	// The dispatcher records an attempt after the receiver has answered it.
	var ds []kefu.Delivery
	waitFor(t, "every delivery recorded", 10*time.Second, func() bool {
		ds, _ = s.Deliveries(context.Background(), kefu.DeliveryFilter{})
		return len(ds) == len(want) && !slices.ContainsFunc(ds, func(dl kefu.Delivery) bool { return dl.State != kefu.DeliveryDelivered })
	})
	for _, dl := range ds {
		if dl.State != kefu.DeliveryDelivered || dl.Attempts < 2 || dl.Log[0].Status != 503 || dl.Log[len(dl.Log)-1].Status != 200 {
			t.Errorf("delivery %+v", dl)
		}
	}
	// A receiver with another secret refuses the signature: 400, retried.
	recv.control(t, "whsec_wrong", false)
	ev := enqueue(t, s, kefu.EventFeedbackCreated, "req_x")
	d.Notify()
	waitFor(t, "a refused signature", 10*time.Second, func() bool {
		for _, g := range recv.requests() {
			if g.EventID == ev.ID && g.Status == 400 && g.Reason == "bad signature" {
				return true
			}
		}
		return false
	})
}

// A Go receiver scripts failures: each failing status, a redirect and a
// timeout are retried; Retry-After is waited; a delivery whose retry window
// runs out goes dead, and a redelivery by hand sends it again.
func TestRetriesDeadLetterRedelivery(t *testing.T) {
	var mu sync.Mutex
	var calls []time.Time
	script := []int{500, 302, 429, 0, 200} // 0: too slow
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		mu.Lock()
		calls = append(calls, time.Now())
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		st := 200
		if i < len(script) {
			st = script[i]
		}
		switch st {
		case 0:
			time.Sleep(400 * time.Millisecond)
			return
		case 302:
			w.Header().Set("Location", "http://127.0.0.1:1/")
		case 429:
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(st)
	}))
	defer srv.Close()
	s := openStore(t, index.Options{})
	subscribe(t, s, "go", srv.URL, "s")
	d := webhook.New(webhook.Options{Store: s, Hosts: loopback, Timeout: 200 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBackoff: 2 * time.Second, Poll: 10 * time.Millisecond})
	run(t, d.Run)
	enqueue(t, s, kefu.EventAnswerUnknown, "")
	d.Notify()
	ctx := context.Background()
	waitFor(t, "the delivery", 20*time.Second, func() bool {
		ds, _ := s.Deliveries(ctx, kefu.DeliveryFilter{State: kefu.DeliveryDelivered})
		return len(ds) == 1
	})
	ds, _ := s.Deliveries(ctx, kefu.DeliveryFilter{})
	dl := ds[0]
	var statuses []int
	for _, a := range dl.Log {
		statuses = append(statuses, a.Status)
	}
	if dl.Attempts != 5 || fmt.Sprint(statuses) != "[500 302 429 0 200]" {
		t.Fatalf("attempts %d, statuses %v", dl.Attempts, statuses)
	}
	if !strings.Contains(dl.Log[3].Error, "no answer within") {
		t.Errorf("timeout attempt %+v", dl.Log[3])
	}
	mu.Lock()
	if wait := calls[3].Sub(calls[2]); wait < time.Second {
		t.Errorf("Retry-After: 1 waited %v", wait)
	}
	mu.Unlock()

	// A receiver that never answers 2xx, with a short retry window: dead.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	s2 := openStore(t, index.Options{RetryFor: 300 * time.Millisecond})
	subscribe(t, s2, "bad", bad.URL, "s")
	d2 := webhook.New(webhook.Options{Store: s2, Hosts: loopback, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Poll: 10 * time.Millisecond})
	run(t, d2.Run)
	enqueue(t, s2, kefu.EventHandoffRequested, "")
	d2.Notify()
	waitFor(t, "a dead letter", 20*time.Second, func() bool {
		ds, _ := s2.Deliveries(ctx, kefu.DeliveryFilter{State: kefu.DeliveryDead})
		return len(ds) == 1
	})
	dead, _ := s2.Deliveries(ctx, kefu.DeliveryFilter{State: kefu.DeliveryDead})
	if dead[0].Attempts < 2 || dead[0].LastStatus != 500 {
		t.Errorf("dead letter %+v", dead[0])
	}
	bad.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer good.Close()
	sub, _ := s2.Subscription(ctx, "bad")
	sub.URL = good.URL
	if err := s2.PutSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Redeliver(ctx, dead[0].ID); err != nil {
		t.Fatal(err)
	}
	d2.Notify()
	waitFor(t, "the redelivery", 10*time.Second, func() bool {
		dl, _ := s2.Delivery(ctx, dead[0].ID)
		return dl.State == kefu.DeliveryDelivered && dl.URL == good.URL
	})
}

// A dispatcher that died mid-attempt (its lease taken, nothing recorded)
// leaves the delivery to the next, once the lease ends.
func TestLeaseOfADeadDispatcher(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Kefu-Event-Id") }))
	defer srv.Close()
	s := openStore(t, index.Options{})
	subscribe(t, s, "go", srv.URL, "s")
	ev := enqueue(t, s, kefu.EventAnswerUnknown, "")
	if ls, err := s.Lease(context.Background(), time.Now(), time.Now().Add(300*time.Millisecond), 10); err != nil || len(ls) != 1 {
		t.Fatalf("lease %v %v", ls, err)
	}
	start := time.Now()
	d := webhook.New(webhook.Options{Store: s, Hosts: loopback, Poll: 10 * time.Millisecond, Lease: time.Second})
	run(t, d.Run)
	select {
	case id := <-got:
		if id != ev.ID || time.Since(start) < 250*time.Millisecond {
			t.Fatalf("delivered %s after %v", id, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the leased delivery was never sent")
	}
}

// A receiver's name that resolved to a public address when it was
// registered and resolves to an internal one when a delivery connects (DNS
// rebinding) is refused at that moment: the receiver, reachable at that
// address, gets nothing, and the attempt is recorded as failed with the
// reason. The same delivery goes through once the operator allows the
// address, so the refusal was the rule's, not a broken name.
func TestDeliveryToInternalAddressRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	dns := testenv.StartDNS(t)
	hosts := &kefu.WebhookHosts{Resolver: dns.Resolver()}
	url := "http://rebind.test:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:] + "/hook"
	dns.Set("rebind.test", netip.MustParseAddr("93.184.215.14"))
	if err := hosts.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("registration while the name was public: %v", err)
	}
	dns.Set("rebind.test", netip.MustParseAddr("127.0.0.1"))

	ctx := context.Background()
	s := openStore(t, index.Options{})
	subscribe(t, s, "rebind", url, "s")
	d := webhook.New(webhook.Options{Store: s, Hosts: hosts, Backoff: time.Hour, Poll: 10 * time.Millisecond})
	stop := make(chan struct{})
	dctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(stop)
		d.Run(dctx)
	}()
	enqueue(t, s, kefu.EventAnswerUnknown, "")
	d.Notify()
	var dl kefu.Delivery
	waitFor(t, "the refused attempt", 10*time.Second, func() bool {
		ds, _ := s.Deliveries(ctx, kefu.DeliveryFilter{})
		if len(ds) == 1 && ds[0].Attempts == 1 {
			dl = ds[0]
			return true
		}
		return false
	})
	cancel()
	<-stop
	if hits.Load() != 0 {
		t.Fatalf("the receiver at an internal address got %d requests", hits.Load())
	}
	if dl.State != kefu.DeliveryPending || len(dl.Log) != 1 || dl.LastStatus != 0 {
		t.Fatalf("delivery after the refusal: %+v", dl)
	}
	if e := dl.Log[0].Error; !strings.HasPrefix(e, "refused: rebind.test resolves to 127.0.0.1,") || !strings.Contains(e, "--webhook-allow-hosts") {
		t.Errorf("the attempt's reason: %q", e)
	}

	// The operator allows the address: the delivery is retried and lands.
	allowed := &kefu.WebhookHosts{Nets: loopback.Nets, Resolver: dns.Resolver()}
	if _, err := s.Redeliver(ctx, dl.ID); err != nil {
		t.Fatal(err)
	}
	d2 := webhook.New(webhook.Options{Store: s, Hosts: allowed, Poll: 10 * time.Millisecond})
	run(t, d2.Run)
	d2.Notify()
	waitFor(t, "the allowed delivery", 10*time.Second, func() bool {
		got, _ := s.Delivery(ctx, dl.ID)
		return got.State == kefu.DeliveryDelivered
	})
	if hits.Load() != 1 {
		t.Errorf("the receiver got %d requests, want 1", hits.Load())
	}
}
