package webhook

import (
	"testing"
	"time"
)

// Each wait lies between half and the whole of Backoff doubled per failure,
// capped at MaxBackoff, and is at least a receiver's Retry-After.
func TestBackoffBounds(t *testing.T) {
	d := New(Options{Store: nil, Backoff: 10 * time.Second, MaxBackoff: time.Hour})
	for n := 1; n <= 60; n++ {
		full := 10 * time.Second
		for i := 1; i < n && full < time.Hour; i++ {
			full *= 2
		}
		full = min(full, time.Hour)
		var lo, hi time.Duration = full, 0
		for range 200 {
			w := d.backoff(n, 0)
			lo, hi = min(lo, w), max(hi, w)
		}
		if lo < full/2 || hi > full || hi-lo < full/10 {
			t.Fatalf("attempt %d: waits in [%v, %v], want spread within [%v, %v]", n, lo, hi, full/2, full)
		}
	}
	if w := d.backoff(1, 30*time.Second); w < 30*time.Second {
		t.Errorf("Retry-After 30 s, waited %v", w)
	}
	if w := d.backoff(1, 48*time.Hour); w > time.Hour {
		t.Errorf("Retry-After of two days waited %v, more than MaxBackoff", w)
	}
	// Retries over the default window: at least a day of attempts.
	elapsed, attempts := time.Duration(0), 0
	for elapsed < 24*time.Hour {
		attempts++
		elapsed += d.backoff(attempts, 0)
	}
	if attempts < 25 || attempts > 60 {
		t.Errorf("%d attempts in the first day", attempts)
	}
}
