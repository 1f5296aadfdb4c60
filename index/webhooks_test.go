package index

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

func event(t *testing.T, typ kefu.EventType, kb string) kefu.Event {
	t.Helper()
	ev, err := kefu.NewEvent(context.Background(), typ, kb, map[string]string{"hello": kb})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func sub(t *testing.T, s *Store, id, kb string, events ...kefu.EventType) {
	t.Helper()
	if err := s.PutSubscription(context.Background(), &kefu.Subscription{ID: id, URL: "http://127.0.0.1:1/" + id, KB: kb, Events: events, Secret: "whsec_" + id}); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriptionValidation(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	ok := kefu.Subscription{ID: "w1", URL: "https://example.com/hook", Events: []kefu.EventType{kefu.EventHandoffRequested}, Secret: "s"}
	for name, mod := range map[string]func(*kefu.Subscription){
		"no events":     func(s *kefu.Subscription) { s.Events = nil },
		"unknown event": func(s *kefu.Subscription) { s.Events = []kefu.EventType{"handoff.maybe"} },
		"ping":          func(s *kefu.Subscription) { s.Events = []kefu.EventType{kefu.EventPing} },
		"ftp":           func(s *kefu.Subscription) { s.URL = "ftp://example.com" },
		"credentials":   func(s *kefu.Subscription) { s.URL = "https://user:pw@example.com/" },
		"no secret":     func(s *kefu.Subscription) { s.Secret = "" },
		"bad kb":        func(s *kefu.Subscription) { s.KB = "Bad KB" },
	} {
		sb := ok
		mod(&sb)
		if err := s.PutSubscription(ctx, &sb); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := s.PutSubscription(ctx, &ok); err != nil {
		t.Fatal(err)
	}
	got, err := s.Subscription(ctx, "w1")
	if err != nil || got.Secret != "s" || got.URL != ok.URL {
		t.Fatalf("stored %+v %v", got, err)
	}
	if err := s.DeleteSubscription(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscription(ctx, "w1"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatal(err)
	}
}

// Events fan out to the subscriptions that want them (their type, their KB
// or every KB), targeted ones to their target only; deliveries are leased,
// hidden until the lease ends, recorded, listed and redelivered, and all of
// it survives a reopen.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	newKB(t, s, "shop")
	sub(t, s, "all", "", kefu.EventHandoffRequested, kefu.EventAnswerUnknown)
	sub(t, s, "shop", "shop", kefu.EventHandoffRequested)
	sub(t, s, "help", "help", kefu.EventHandoffRequested)
	if err := s.PutChannel(ctx, &kefu.Channel{Name: "mail", KB: "shop", OutboundURL: "http://127.0.0.1:1/mail", Secret: "c"}); err != nil {
		t.Fatal(err)
	}
	hand := event(t, kefu.EventHandoffRequested, "shop")
	unknown := event(t, kefu.EventAnswerUnknown, "shop")
	nobody := event(t, kefu.EventFeedbackCreated, "shop")
	reply := event(t, kefu.EventChannelReply, "shop")
	reply.Target = kefu.TargetChannel + ":mail"
	if err := s.Enqueue(ctx, hand, unknown, nobody, reply); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, hand); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Fatalf("an event enqueued twice: %v", err)
	}
	if _, err := s.Event(ctx, nobody.ID); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("an event nobody wants was stored: %v", err)
	}
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	now := time.Now()
	leases, err := s.Lease(ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range leases {
		got = append(got, fmt.Sprint(l.Event.Type, ">", l.Delivery.TargetID))
		var ev kefu.Event
		if err := json.Unmarshal(l.Body, &ev); err != nil || ev.ID != l.Event.ID || l.URL == "" || l.Secret == "" || l.Gone != "" {
			t.Errorf("lease %+v: body %s", l.Delivery, l.Body)
		}
	}
	slices.Sort(got)
	want := []string{"answer.unknown>all", "channel.reply>mail", "handoff.requested>all", "handoff.requested>shop"}
	if !slices.Equal(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	// Leased deliveries are hidden until the lease ends.
	if again, _ := s.Lease(ctx, now.Add(30*time.Second), now.Add(2*time.Minute), 10); len(again) != 0 {
		t.Fatalf("leased twice: %d", len(again))
	}
	if at, ok, _ := s.NextDue(ctx); !ok || at.Sub(now.Add(time.Minute)).Abs() > time.Millisecond {
		t.Errorf("next due %v %v", at, ok)
	}
	// One delivered, one failing again in an hour, one dead; the fourth's
	// lease runs out and it comes back.
	next := now.Add(time.Hour)
	res := []kefu.AttemptResult{
		{DeliveryID: leases[0].Delivery.ID, Attempt: kefu.Attempt{At: now, Status: 200}, State: kefu.DeliveryDelivered, URL: leases[0].URL},
		{DeliveryID: leases[1].Delivery.ID, Attempt: kefu.Attempt{At: now, Status: 503}, State: kefu.DeliveryPending, NextAt: next},
		{DeliveryID: leases[2].Delivery.ID, Attempt: kefu.Attempt{At: now, Error: "refused"}, State: kefu.DeliveryDead},
	}
	if err := s.RecordAttempts(ctx, res); err != nil {
		t.Fatal(err)
	}
	back, _ := s.Lease(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
	if len(back) != 1 || back[0].Delivery.ID != leases[3].Delivery.ID {
		t.Fatalf("after the lease: %+v", back)
	}
	d, _ := s.Delivery(ctx, leases[1].Delivery.ID)
	if d.State != kefu.DeliveryPending || d.Attempts != 1 || d.LastStatus != 503 || !d.NextAt.Equal(next) || len(d.Log) != 1 {
		t.Errorf("retrying delivery %+v", d)
	}
	d, _ = s.Delivery(ctx, leases[0].Delivery.ID)
	if d.State != kefu.DeliveryDelivered || d.DeliveredAt == nil || d.NextAt != nil {
		t.Errorf("delivered %+v", d)
	}
	dead, _ := s.Deliveries(ctx, kefu.DeliveryFilter{State: kefu.DeliveryDead})
	if len(dead) != 1 || dead[0].ID != leases[2].Delivery.ID || dead[0].LastError != "refused" {
		t.Fatalf("dead letters %+v", dead)
	}
	byTarget, _ := s.Deliveries(ctx, kefu.DeliveryFilter{Target: kefu.TargetSubscription, TargetID: "all"})
	if len(byTarget) != 2 || byTarget[0].ID < byTarget[1].ID {
		t.Errorf("the subscription's deliveries, newest first: %+v", byTarget)
	}
	// Redelivery makes a dead letter pending and due now.
	r, err := s.Redeliver(ctx, dead[0].ID)
	if err != nil || r.State != kefu.DeliveryPending || r.RetryUntil.Before(time.Now().Add(DefaultRetryFor-time.Minute)) {
		t.Fatalf("redelivered %+v %v", r, err)
	}
	again, _ := s.Lease(ctx, time.Now(), time.Now().Add(time.Minute), 10)
	if len(again) != 1 || again[0].Delivery.ID != dead[0].ID {
		t.Fatalf("redelivered lease %+v", again)
	}
	// A deleted subscription's delivery is leased as gone.
	if err := s.DeleteSubscription(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	gone, _ := s.Lease(ctx, now.Add(2*time.Hour), now.Add(3*time.Hour), 10)
	if len(gone) != 3 {
		t.Fatalf("%d deliveries due in two hours, want the three pending", len(gone))
	}
	for _, l := range gone {
		if (l.Gone != "") != (l.Delivery.TargetID == "all") {
			t.Errorf("delivery to %s: gone %q", l.Delivery.TargetID, l.Gone)
		}
	}
}

// The attempt log keeps the newest MaxAttemptLog attempts.
func TestAttemptLogBounded(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	sub(t, s, "w", "", kefu.EventAnswerUnknown)
	if err := s.Enqueue(ctx, event(t, kefu.EventAnswerUnknown, "kb")); err != nil {
		t.Fatal(err)
	}
	ls, _ := s.Lease(ctx, time.Now(), time.Now(), 1)
	for i := range kefu.MaxAttemptLog + 5 {
		if err := s.RecordAttempts(ctx, []kefu.AttemptResult{{DeliveryID: ls[0].Delivery.ID, Attempt: kefu.Attempt{Status: 500 + i}, State: kefu.DeliveryPending, NextAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := s.Delivery(ctx, ls[0].Delivery.ID)
	if d.Attempts != kefu.MaxAttemptLog+5 || len(d.Log) != kefu.MaxAttemptLog || d.Log[len(d.Log)-1].Status != 500+kefu.MaxAttemptLog+4 || d.Log[0].Status != 505 {
		t.Fatalf("attempts %d, log %d from %d", d.Attempts, len(d.Log), d.Log[0].Status)
	}
}

// document.ingested is enqueued in the transaction that stores the
// document, only when a subscription wants it.
func TestDocumentIngestedEvent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "kb")
	put(t, s, "kb", "d0", passages("before any subscription"))
	sub(t, s, "docs", "kb", kefu.EventDocumentIngested)
	put(t, s, "kb", "d1", passages("orchids need little water"))
	ds, _ := s.Deliveries(ctx, kefu.DeliveryFilter{})
	if len(ds) != 1 || ds[0].EventType != kefu.EventDocumentIngested {
		t.Fatalf("deliveries %+v", ds)
	}
	ev, err := s.Event(ctx, ds[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	var data struct{ Document kefu.Document }
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.Document.ID != "d1" || data.Document.Chunks != 1 || ev.KB != "kb" {
		t.Fatalf("event %s: %v", ev.Data, err)
	}
}

// Finished deliveries older than the retention are pruned with their
// events; pending ones stay.
func TestDeliveryLogPruned(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{DeliveryRetention: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub(t, s, "w", "", kefu.EventAnswerUnknown)
	first := event(t, kefu.EventAnswerUnknown, "kb")
	second := event(t, kefu.EventAnswerUnknown, "kb")
	if err := s.Enqueue(ctx, first, second); err != nil {
		t.Fatal(err)
	}
	ls, _ := s.Lease(ctx, time.Now(), time.Now(), 2)
	if err := s.RecordAttempts(ctx, []kefu.AttemptResult{{DeliveryID: ls[0].Delivery.ID, Attempt: kefu.Attempt{Status: 200}, State: kefu.DeliveryDelivered}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	for i := 0; i < pruneEvery; i++ {
		if err := s.Enqueue(ctx, event(t, kefu.EventAnswerUnknown, "kb")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delivery(ctx, ls[0].Delivery.ID); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("a delivered, old delivery was kept: %v", err)
	}
	if _, err := s.Event(ctx, ls[0].Event.ID); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("its event was kept: %v", err)
	}
	if d, err := s.Delivery(ctx, ls[1].Delivery.ID); err != nil || d.State != kefu.DeliveryPending {
		t.Errorf("a pending delivery was pruned: %v", err)
	}
}
