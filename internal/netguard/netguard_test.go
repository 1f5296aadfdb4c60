package netguard_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kefu-dev/kefu/internal/netguard"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// policy lists listed.test and refuses every address but those of allow,
// noting each address it is asked about.
type policy struct {
	allow netip.Addr
	mu    sync.Mutex
	asked []string
}

var errRefused = errors.New("refused by the policy")

func (p *policy) CheckHost(host, _ string) (bool, error) {
	return host == "listed.test", nil
}

func (p *policy) CheckAddr(host string, addr netip.AddrPort) error {
	p.mu.Lock()
	p.asked = append(p.asked, host+"="+addr.Addr().String())
	p.mu.Unlock()
	if addr.Addr() != p.allow {
		return errRefused
	}
	return nil
}

// The transport asks the policy about the address a name resolves to just
// before it connects, and connects only when the policy allows it; a
// listed host is not asked about.
func TestTransport(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	dns := testenv.StartDNS(t)
	for _, n := range []string{"inside.test", "listed.test"} {
		dns.Set(n, netip.MustParseAddr("127.0.0.1"))
	}
	p := &policy{}
	c := &http.Client{Transport: netguard.Transport(p, dns.Resolver())}
	get := func(host string) error {
		res, err := c.Get("http://" + host + ":" + port + "/")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return err
	}
	if err := get("inside.test"); !errors.Is(err, errRefused) {
		t.Errorf("a name of a refused address: %v", err)
	}
	if err := get("127.0.0.1"); !errors.Is(err, errRefused) {
		t.Errorf("a refused address: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("refused connections reached the server %d times", n)
	}
	if strings.Join(p.asked, " ") != "inside.test=127.0.0.1 127.0.0.1=127.0.0.1" {
		t.Errorf("the policy was asked about %q", p.asked)
	}
	if err := get("listed.test"); err != nil || hits.Load() != 1 {
		t.Errorf("a listed host: %v, %d hits", err, hits.Load())
	}
	p.allow = netip.MustParseAddr("127.0.0.1")
	c.Transport.(*http.Transport).CloseIdleConnections()
	if err := get("inside.test"); err != nil || hits.Load() != 2 {
		t.Errorf("an allowed address: %v, %d hits", err, hits.Load())
	}
}

// BenchmarkDial measures what the check adds to a new connection (keep-alive
// off, so every request dials): a loopback GET through the guarded
// transport and through the same transport without the guard.
func BenchmarkDial(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	allow := &policy{allow: netip.MustParseAddr("127.0.0.1")}
	guarded := netguard.Transport(allow, nil)
	guarded.DisableKeepAlives = true
	plain := http.DefaultTransport.(*http.Transport).Clone()
	plain.DisableKeepAlives = true
	for _, c := range []struct {
		name string
		tr   *http.Transport
	}{{"plain", plain}, {"guarded", guarded}} {
		b.Run(c.name, func(b *testing.B) {
			cl := &http.Client{Transport: c.tr}
			for b.Loop() {
				res, err := cl.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}
