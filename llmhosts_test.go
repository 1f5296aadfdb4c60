package kefu_test

import (
	"net/netip"
	"testing"

	"github.com/kefu-dev/kefu"
)

// TestLLMHosts checks where a KB's LLM base_url may point, by the rules of
// kefu.LLMHosts: with no allow-list public hosts and the global LLM's;
// with one, only its hosts and the global LLM's.
func TestLLMHosts(t *testing.T) {
	open := &kefu.LLMHosts{Global: "http://localhost:11434/v1"}
	listed := &kefu.LLMHosts{Allow: []string{"llm.corp.internal", "10.1.2.3:8000", "*.example.com", "[::1]:9000"}, Global: "https://api.openai.com/v1"}
	for _, c := range []struct {
		hosts *kefu.LLMHosts
		url   string
		code  string // "" when allowed
	}{
		{open, "https://api.openai.com/v1", ""},
		{open, "http://llm.example.org:8080/v1", ""},
		{open, "http://8.8.8.8/v1", ""},
		{open, "http://localhost:11434/v1", ""},                            // the global LLM's host and port
		{open, "http://localhost:11435/v1", kefu.EFORBIDDEN},               // another port of it
		{open, "file:///etc/passwd", kefu.EINVALID},                        // not http(s)
		{open, "gopher://x/", kefu.EINVALID},                               //
		{open, "/v1", kefu.EINVALID},                                       // not absolute
		{open, "http:///v1", kefu.EINVALID},                                // no host
		{open, "https://user:pass@api.openai.com/v1", kefu.EINVALID},       // user info
		{open, "https://api.openai.com/v1?x=1", kefu.EINVALID},             // query
		{open, "https://api.openai.com/v1#f", kefu.EINVALID},               // fragment
		{open, "http://127.0.0.1:8080/v1", kefu.EFORBIDDEN},                // loopback
		{open, "http://127.9.9.9/", kefu.EFORBIDDEN},                       //
		{open, "http://[::1]:8080/", kefu.EFORBIDDEN},                      //
		{open, "http://[::ffff:127.0.0.1]/", kefu.EFORBIDDEN},              // mapped
		{open, "http://LOCALHOST./v1", kefu.EFORBIDDEN},                    // by name
		{open, "http://a.localhost/v1", kefu.EFORBIDDEN},                   //
		{open, "http://169.254.169.254/latest/meta-data", kefu.EFORBIDDEN}, // cloud metadata
		{open, "http://[fd00:ec2::254]/", kefu.EFORBIDDEN},                 // AWS IPv6 metadata
		{open, "http://100.100.100.200/", kefu.EFORBIDDEN},                 // shared space (Alibaba metadata)
		{open, "http://10.0.0.5/v1", kefu.EFORBIDDEN},                      // private
		{open, "http://192.168.1.1/v1", kefu.EFORBIDDEN},                   //
		{open, "http://172.16.0.1/v1", kefu.EFORBIDDEN},                    //
		{open, "http://0.0.0.0:8080/", kefu.EFORBIDDEN},                    // unspecified
		{open, "http://224.0.0.1/", kefu.EFORBIDDEN},                       // multicast
		{open, "http://[64:ff9b::7f00:1]/", kefu.EFORBIDDEN},               // NAT64 of 127.0.0.1
		{listed, "http://llm.corp.internal:8000/v1", ""},                   // listed, any port
		{listed, "http://10.1.2.3:8000/v1", ""},                            // listed with its port
		{listed, "http://10.1.2.3:8001/v1", kefu.EFORBIDDEN},               // not that port
		{listed, "https://a.b.example.com/v1", ""},                         // a subdomain
		{listed, "https://example.com/v1", kefu.EFORBIDDEN},                // not the domain itself
		{listed, "https://evilexample.com/v1", kefu.EFORBIDDEN},            //
		{listed, "http://[::1]:9000/v1", ""},                               //
		{listed, "https://api.openai.com/v1/x", ""},                        // the global LLM's host
		{listed, "https://llm.example.org/v1", kefu.EFORBIDDEN},            // public but not listed
		{nil, "https://api.openai.com/v1", ""},                             // nil: public hosts
		{nil, "http://127.0.0.1/v1", kefu.EFORBIDDEN},
	} {
		err := c.hosts.CheckBaseURL(c.url)
		if kefu.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want code %q", c.url, err, c.code)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.2.3.4": false, "169.254.169.254": false, "100.64.0.1": false,
		"::1": false, "fe80::1": false, "fc00::1": false, "::": false, "::ffff:10.0.0.1": false,
		"255.255.255.255": false, "198.18.0.1": false, "ff02::1": false,
	} {
		if got := kefu.PublicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("%s: public %v, want %v", addr, got, public)
		}
	}
}

func TestParseAllowHosts(t *testing.T) {
	got, err := kefu.ParseAllowHosts(" llm.corp:8000, *.Example.com ,,[::1]:9000")
	if err != nil || len(got) != 3 || got[0] != "llm.corp:8000" || got[1] != "*.example.com" || got[2] != "[::1]:9000" {
		t.Errorf("%q %v", got, err)
	}
	for _, bad := range []string{"http://x", "a/b", "*", "x:port", "user@x"} {
		if _, err := kefu.ParseAllowHosts(bad); kefu.ErrorCode(err) != kefu.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
