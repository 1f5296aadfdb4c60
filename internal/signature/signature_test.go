package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// Stripe's documented scheme, computed here with the standard library by
// hand as an independent check: HMAC-SHA256 over "t.body".
func TestSignMatchesTheScheme(t *testing.T) {
	secret, body := "whsec_test", []byte(`{"id":"evt_1","type":"ping"}`)
	at := time.Unix(1700000000, 0)
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(h.Sum(nil))
	if got := Sign(secret, at, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if err := Verify(want, secret, body, at.Add(time.Minute), DefaultTolerance); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	secret, body := NewSecret(), []byte(`{"text":"hi"}`)
	now := time.Now()
	good := Sign(secret, now, body)
	cases := map[string]struct {
		header, secret string
		body           []byte
		now            time.Time
		msg            string
	}{
		"missing":       {"", secret, body, now, "no Kefu-Signature"},
		"other secret":  {good, NewSecret(), body, now, "does not match"},
		"body changed":  {good, secret, []byte(`{"text":"hI"}`), now, "does not match"},
		"stale":         {good, secret, body, now.Add(6 * time.Minute), "stale"},
		"future":        {good, secret, body, now.Add(-6 * time.Minute), "stale"},
		"no v1":         {"t=" + strings.Split(good, ",")[0][2:], secret, body, now, "needs t="},
		"short v1":      {"t=1,v1=abc", secret, body, now, "64 hex"},
		"garbage":       {"nonsense", secret, body, now, "key=value"},
		"two t":         {good + ",t=5", secret, body, now, "one Unix time"},
		"huge":          {good + strings.Repeat(",x=y", 400), secret, body, now, "over 1024"},
		"old scheme v0": {strings.Replace(good, "v1=", "v0=", 1), secret, body, now, "needs t="},
	}
	for name, c := range cases {
		err := Verify(c.header, c.secret, c.body, c.now, DefaultTolerance)
		if kefu.ErrorCode(err) != kefu.EUNAUTHORIZED || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want unauthorized with %q", name, err, c.msg)
		}
	}
	// A rotation: two v1 signatures, one under the new secret.
	old := NewSecret()
	both := good + ",v1=" + Compute(old, now.Unix(), body)
	if err := Verify(both, old, body, now, DefaultTolerance); err != nil {
		t.Fatalf("rotation: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("t=1700000000,v1=" + strings.Repeat("a", 64))
	f.Add("t=1,v1=x,v1=" + strings.Repeat("0", 64) + ",v0=zz")
	f.Add(",,=,t==")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := Parse(h)
		if err != nil {
			if kefu.ErrorCode(err) != kefu.EUNAUTHORIZED {
				t.Fatalf("error code %s", kefu.ErrorCode(err))
			}
			return
		}
		if p.Timestamp <= 0 || len(p.V1) == 0 {
			t.Fatalf("parsed %+v from %q", p, h)
		}
		for _, v := range p.V1 {
			if len(v) != 64 {
				t.Fatalf("v1 %q", v)
			}
		}
		// Verifying never panics, whatever the parts.
		_ = p.Verify("s", []byte(h))
	})
}
