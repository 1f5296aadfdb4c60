package kefu_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
)

// FuzzCheckBaseURL: a KB's base_url is either refused in the API's words
// or an http(s) URL whose host, when it is a literal address, is public by
// net/netip's own classification (an independent reading of the ranges
// kefu refuses), and which carries no credentials, query or fragment.
func FuzzCheckBaseURL(f *testing.F) {
	for _, s := range []string{
		"https://api.openai.com/v1", "http://127.0.0.1:8080/v1", "http://[::1]/v1", "http://169.254.169.254/latest",
		"http://10.0.0.1/v1", "https://user:pw@api.example.com/v1", "http://0x7f.1/v1", "http://[::ffff:127.0.0.1]/v1", "https://8.8.8.8/v1?x=1",
	} {
		f.Add(s)
	}
	h := &kefu.LLMHosts{}
	f.Fuzz(func(t *testing.T, raw string) {
		err := h.CheckBaseURL(raw)
		if err != nil {
			if c := kefu.ErrorCode(err); c != kefu.EINVALID && c != kefu.EFORBIDDEN {
				t.Fatalf("CheckBaseURL(%q): %v, want invalid or forbidden", raw, err)
			}
			return
		}
		u, perr := kefu.ParseLLMURL(raw)
		if perr != nil {
			t.Fatalf("CheckBaseURL accepted %q, which ParseLLMURL refuses: %v", raw, perr)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("accepted %q with credentials, a query, a fragment or another scheme", raw)
		}
		if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
			a = a.Unmap()
			if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() ||
				a.IsMulticast() || a.IsInterfaceLocalMulticast() || netip.MustParsePrefix("100.64.0.0/10").Contains(a) {
				t.Fatalf("accepted %q, an internal address", raw)
			}
		}
	})
}
