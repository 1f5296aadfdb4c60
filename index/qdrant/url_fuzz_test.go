package qdrant

import (
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// FuzzParseURL: any --store value either names a Qdrant with a usable
// host, port, timeout and retry count, or is refused as invalid input.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"qdrant://localhost:6334", "qdrants://q.example.com?prefix=kb&timeout=5s&retries=2", "qdrant://h:0",
		"qdrant://h:99999", "qdrant://h?timeout=-1s", "qdrant://h?retries=1000000000", "http://h:6334", "qdrant://[::1]:6334?tls=1&api_key=k",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := ParseURL(raw)
		if err != nil {
			if kefu.ErrorCode(err) != kefu.EINVALID {
				t.Fatalf("ParseURL(%q): %v, want invalid", raw, err)
			}
			return
		}
		if o.Host == "" || o.Port < 0 || o.Port > 65535 || o.Timeout < 0 || o.Timeout > maxTimeout || o.Retries < 0 || o.Retries > maxRetries {
			t.Fatalf("ParseURL(%q) = %+v", raw, o)
		}
		if l := strings.ToLower(raw); !strings.HasPrefix(l, "qdrant://") && !strings.HasPrefix(l, "qdrants://") {
			t.Fatalf("ParseURL(%q) accepted another scheme", raw)
		}
	})
}

// TestParseURLBounds: the port, the timeout and the retries are checked.
func TestParseURLBounds(t *testing.T) {
	for _, bad := range []string{"qdrant://h:0", "qdrant://h:65536", "qdrant://h?timeout=0s", "qdrant://h?timeout=-1s", "qdrant://h?timeout=11m", "qdrant://h?retries=11", "qdrant://h?retries=-1"} {
		if _, err := ParseURL(bad); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("ParseURL(%q): %v, want invalid", bad, err)
		}
	}
	o, err := ParseURL("qdrants://q:6334?timeout=10m&retries=10&prefix=p")
	if err != nil || o.Port != 6334 || o.Timeout != 10*time.Minute || o.Retries != 10 || !o.TLS || o.Prefix != "p" {
		t.Fatalf("ParseURL at the bounds: %+v %v", o, err)
	}
}
