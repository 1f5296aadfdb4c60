package kefu_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// TestWebhookHosts checks where a receiver's URL may point when it is
// registered, by the rules of kefu.WebhookHosts: by default public
// addresses only; with --webhook-allow-hosts, its hosts at any address and
// any address of its networks. Names resolve through a test DNS server.
func TestWebhookHosts(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("public.test", netip.MustParseAddr("93.184.215.14"))
	dns.Set("inside.test", netip.MustParseAddr("10.1.2.3"))
	dns.Set("metadata.test", netip.MustParseAddr("169.254.169.254"))
	dns.Set("loop6.test", netip.MustParseAddr("::1"))
	r := dns.Resolver()
	def := &kefu.WebhookHosts{Resolver: r}
	allow, err := kefu.ParseWebhookHosts("127.0.0.1, 10.0.0.0/8, hooks.corp:8443, *.internal.test, ::1")
	if err != nil {
		t.Fatal(err)
	}
	allow.Resolver = r
	for _, c := range []struct {
		hosts *kefu.WebhookHosts
		url   string
		code  string // "" when accepted
	}{
		{def, "https://hooks.example.com/kefu", ""}, // does not resolve here: checked as it connects
		{def, "http://public.test/hook", ""},
		{def, "http://93.184.215.14:8080/hook", ""},
		{def, "http://127.0.0.1:9/hook", kefu.EFORBIDDEN},
		{def, "http://127.1.2.3/hook", kefu.EFORBIDDEN},
		{def, "http://10.0.0.5/hook", kefu.EFORBIDDEN},
		{def, "http://172.16.0.1/hook", kefu.EFORBIDDEN},
		{def, "http://192.168.1.1/hook", kefu.EFORBIDDEN},
		{def, "http://169.254.169.254/latest/meta-data", kefu.EFORBIDDEN},
		{def, "http://[::1]:8080/hook", kefu.EFORBIDDEN},
		{def, "http://[::ffff:127.0.0.1]/hook", kefu.EFORBIDDEN},
		{def, "http://[fd00:ec2::254]/", kefu.EFORBIDDEN},
		{def, "http://0.0.0.0:8080/", kefu.EFORBIDDEN},
		{def, "http://localhost:8080/hook", kefu.EFORBIDDEN},
		{def, "http://LocalHost./hook", kefu.EFORBIDDEN},
		{def, "http://inside.test/hook", kefu.EFORBIDDEN},   // a name of a private address
		{def, "http://metadata.test/hook", kefu.EFORBIDDEN}, // of the metadata service
		{def, "http://loop6.test/hook", kefu.EFORBIDDEN},    // of ::1
		{def, "ftp://public.test/", kefu.EINVALID},
		{def, "http://user:pw@public.test/", kefu.EINVALID},
		{nil, "http://public.test/hook", ""}, // nil: the default, public only
		{nil, "http://127.0.0.1/hook", kefu.EFORBIDDEN},
		{allow, "http://127.0.0.1:9/hook", ""},
		{allow, "http://127.0.0.2:9/hook", kefu.EFORBIDDEN}, // not that address
		{allow, "http://10.200.0.1/hook", ""},               // in 10.0.0.0/8
		{allow, "http://inside.test/hook", ""},              // resolves into 10.0.0.0/8
		{allow, "http://[::1]:8080/hook", ""},
		{allow, "http://192.168.1.1/hook", kefu.EFORBIDDEN},
		{allow, "http://169.254.169.254/", kefu.EFORBIDDEN},
		{allow, "http://metadata.test/", kefu.EFORBIDDEN},
		{allow, "https://hooks.corp:8443/kefu", ""},           // listed with its port: any address
		{allow, "https://hooks.corp/kefu", ""},                // not that port, but does not resolve
		{allow, "http://a.internal.test/", ""},                // a subdomain listed
		{allow, "http://localhost/", kefu.EFORBIDDEN},         // not listed by name
		{allow, "http://public.test/hook", ""},                // public hosts stay allowed
		{allow, "http://93.184.215.14/hook", ""},              //
		{allow, "http://[::ffff:127.0.0.1]:9/hook", ""},       // mapped 127.0.0.1
		{allow, "http://[::ffff:10.9.9.9]:9/hook", ""},        // mapped, in 10/8
		{allow, "http://[64:ff9b::7f00:1]/", kefu.EFORBIDDEN}, // NAT64 of 127.0.0.1 is not 127.0.0.1
	} {
		err := c.hosts.CheckURL(context.Background(), c.url)
		if kefu.ErrorCode(err) != c.code {
			t.Errorf("%s (allow %q): %v, want code %q", c.url, c.hosts.String(), err, c.code)
		}
		if c.code == kefu.EFORBIDDEN && !strings.Contains(kefu.ErrorMessage(err), "--webhook-allow-hosts") {
			t.Errorf("%s: the refusal does not say how to allow it: %v", c.url, err)
		}
	}
}

func TestParseWebhookHosts(t *testing.T) {
	h, err := kefu.ParseWebhookHosts(" Hooks.Corp:8443, *.Example.com ,,10.0.0.1/8, 127.0.0.1, [::1], fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.String(); got != "hooks.corp:8443,*.example.com,10.0.0.0/8,127.0.0.1/32,::1/128,fd00::/8" {
		t.Errorf("parsed as %q", got)
	}
	for _, bad := range []string{"http://x", "a/b", "*", "x:port", "user@x", "10.0.0.0/33"} {
		if _, err := kefu.ParseWebhookHosts(bad); kefu.ErrorCode(err) != kefu.EINVALID || !strings.Contains(err.Error(), "--webhook-allow-hosts") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// FuzzWebhookHosts: any allow-list either parses into one that prints back
// to itself or is refused as invalid; any URL is accepted, invalid or
// forbidden, and a literal address is accepted only when it is public or
// the list allows it.
func FuzzWebhookHosts(f *testing.F) {
	f.Add("127.0.0.1,10.0.0.0/8,hooks.corp:8443,*.example.com", "http://10.1.2.3:8080/hook")
	f.Add("", "http://[::ffff:127.0.0.1]/")
	f.Add("::1,fd00::/8", "https://[fd00::1]:8443/x")
	f.Add("a:b:c", "http://169.254.169.254/latest")
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	f.Fuzz(func(t *testing.T, list, raw string) {
		h, err := kefu.ParseWebhookHosts(list)
		if err != nil {
			if kefu.ErrorCode(err) != kefu.EINVALID {
				t.Fatalf("%q: %v", list, err)
			}
			h = nil
		} else if again, err := kefu.ParseWebhookHosts(h.String()); err != nil || again.String() != h.String() {
			t.Fatalf("%q prints as %q, which parses as %v %v", list, h.String(), again, err)
		}
		if h != nil {
			h.Resolver = noDNS
		} else {
			h = &kefu.WebhookHosts{Resolver: noDNS}
		}
		err = h.CheckURL(context.Background(), raw)
		switch kefu.ErrorCode(err) {
		case "", kefu.EINVALID, kefu.EFORBIDDEN:
		default:
			t.Fatalf("%q: %v", raw, err)
		}
		u, perr := url.Parse(raw)
		if err != nil || perr != nil {
			return
		}
		ip, perr := netip.ParseAddr(strings.Trim(u.Hostname(), "[]"))
		if perr != nil || kefu.PublicAddr(ip) {
			return
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		inNets := slices.ContainsFunc(h.Nets, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) })
		if listed, _ := h.CheckHost(u.Hostname(), port); !inNets && !listed {
			t.Fatalf("%s accepted at internal address %s with allow-list %q", raw, ip, h.String())
		}
	})
}
