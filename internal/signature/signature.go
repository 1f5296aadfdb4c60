// Package signature signs and verifies webhook bodies the way Stripe does:
// an HMAC-SHA256, keyed with the endpoint's secret, over the timestamp, a
// dot and the raw body, sent in one header with the scheme named:
//
//	Kefu-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// A receiver recomputes v1 over "t.body" with the secret, compares in
// constant time and refuses a timestamp too far from its clock, which
// bounds replays. kefu signs its webhook deliveries and channel replies so,
// and verifies the channel messages posted to it so. It imports nothing of
// kefu but the root.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
)

// Header is the signature's HTTP header.
const Header = "Kefu-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// verifier's clock.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts every signing secret kefu makes.
const SecretPrefix = "whsec_"

// maxHeader bounds a signature header a verifier reads.
const maxHeader = 1024

// NewSecret returns a new random signing secret.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return SecretPrefix + hex.EncodeToString(b[:])
}

// Compute returns the hex HMAC-SHA256 of "t.body" under secret.
func Compute(secret string, t int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(t, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the header value for body signed at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + Compute(secret, ts, body)
}

// Parsed is a signature header's parts.
type Parsed struct {
	Timestamp int64
	V1        []string // hex signatures of scheme v1 (several while a secret rotates)
}

// Parse reads a header value: comma-separated key=value pairs, t once,
// v1 at least once; other schemes are ignored.
func Parse(header string) (Parsed, error) {
	var p Parsed
	if header == "" {
		return p, kefu.Errorf(kefu.EUNAUTHORIZED, "no %s header: sign the body (t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">)", Header)
	}
	if len(header) > maxHeader {
		return p, kefu.Errorf(kefu.EUNAUTHORIZED, "%s header over %d bytes", Header, maxHeader)
	}
	seenT := false
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return p, kefu.Errorf(kefu.EUNAUTHORIZED, "%s header: %q is not key=value", Header, part)
		}
		switch k {
		case "t":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || seenT || ts <= 0 {
				return p, kefu.Errorf(kefu.EUNAUTHORIZED, "%s header: t must be one Unix time in seconds", Header)
			}
			p.Timestamp, seenT = ts, true
		case "v1":
			if len(v) != 64 {
				return p, kefu.Errorf(kefu.EUNAUTHORIZED, "%s header: v1 must be 64 hex digits", Header)
			}
			p.V1 = append(p.V1, v)
		}
	}
	if !seenT || len(p.V1) == 0 {
		return p, kefu.Errorf(kefu.EUNAUTHORIZED, "%s header needs t=<unix time> and v1=<signature>", Header)
	}
	return p, nil
}

// CheckTime refuses a parsed header whose timestamp is more than tolerance
// from now: a stale or replayed message. It needs no body, so a receiver
// can refuse before reading one.
func (p Parsed) CheckTime(now time.Time, tolerance time.Duration) error {
	d := now.Unix() - p.Timestamp
	if math.Abs(float64(d)) > tolerance.Seconds() {
		return kefu.Errorf(kefu.EUNAUTHORIZED, "%s timestamp is %d s from this server's clock (tolerance %.0f s): stale, replayed or a wrong clock", Header, d, tolerance.Seconds())
	}
	return nil
}

// Verify checks body against the parsed header under secret.
func (p Parsed) Verify(secret string, body []byte) error {
	want := []byte(Compute(secret, p.Timestamp, body))
	for _, v := range p.V1 {
		if hmac.Equal(want, []byte(strings.ToLower(v))) {
			return nil
		}
	}
	return kefu.Errorf(kefu.EUNAUTHORIZED, "%s does not match the body: wrong secret, or the body changed on the way", Header)
}

// Verify parses header, checks its time against now and its signature
// against body under secret.
func Verify(header, secret string, body []byte, now time.Time, tolerance time.Duration) error {
	p, err := Parse(header)
	if err != nil {
		return err
	}
	if err := p.CheckTime(now, tolerance); err != nil {
		return err
	}
	return p.Verify(secret, body)
}
