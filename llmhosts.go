package kefu

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// RedactedKey stands for an LLM API key wherever settings are shown (API
// responses, `kefu kb show`); sent back in a settings update, it keeps the
// stored key, unless the base URL changes.
const RedactedKey = "********"

// Redacted returns the settings with the API key replaced by RedactedKey.
func (s *LLMSettings) Redacted() *LLMSettings {
	if s == nil || s.APIKey == "" {
		return s
	}
	c := *s
	c.APIKey = RedactedKey
	return &c
}

// Redacted returns the KB with its LLM key replaced by RedactedKey.
func (kb *KB) Redacted() *KB {
	if kb.Settings.LLM == nil || kb.Settings.LLM.APIKey == "" {
		return kb
	}
	c := *kb
	c.Settings.LLM = kb.Settings.LLM.Redacted()
	return &c
}

// ParseLLMURL checks the form of an LLM base URL: absolute http or https,
// with a host, and without user info, query or fragment (a key goes in the
// API key, never in the URL).
func ParseLLMURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return nil, Errorf(EINVALID, "base_url %q must be an absolute http or https URL with a host, like https://api.example.com/v1 (no user info, query or fragment)", raw)
	}
	return u, nil
}

// LLMHosts says where a KB's own LLM settings may send requests — and with
// them the KB's API key and its customers' questions. The global LLM
// (kefu serve --llm-base-url) is the operator's and is not checked.
//
// A KB's base URL may name a host of Allow, or the global LLM's host and
// port; any other host only when Allow is empty, and only at public
// addresses: never loopback, private, link-local (cloud metadata at
// 169.254.169.254 included), shared (100.64/10), unspecified, multicast or
// reserved ones. The form and literal addresses are checked when settings
// are written (CheckBaseURL), the addresses a name resolves to when the
// connection is made (CheckHost, PublicAddr), so DNS cannot move a name
// inside. An operator who runs a KB's LLM on an internal host lists it.
type LLMHosts struct {
	// Allow are "host", "host:port" or "*.example.com" (every subdomain of
	// example.com); from kefu serve --llm-allow-hosts.
	Allow []string
	// Global is the global LLM's base URL, if any.
	Global string
}

// ParseAllowHosts reads a comma-separated --llm-allow-hosts value.
func ParseAllowHosts(list string) ([]string, error) {
	var out []string
	for _, h := range splitList(list) {
		if err := checkHostEntry(h); err != nil {
			return nil, Errorf(EINVALID, "--llm-allow-hosts: %q is not host, host:port or *.domain", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// splitList splits a comma-separated flag value into lower-case entries.
func splitList(list string) []string {
	var out []string
	for _, h := range strings.Split(list, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// checkHostEntry checks an allow-list entry's form: host, host:port or
// *.domain.
func checkHostEntry(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if host, port, err := net.SplitHostPort(name); err == nil {
		name = host
		if port == "" || strings.Trim(port, "0123456789") != "" {
			name = ""
		}
	}
	if name == "" || strings.ContainsAny(name, "/@?#* ") {
		return errors.New("not host, host:port or *.domain")
	}
	return nil
}

// CheckBaseURL checks a KB's base_url as it is written: its form
// (ParseLLMURL), then its host, without resolving names.
func (h *LLMHosts) CheckBaseURL(raw string) error {
	u, err := ParseLLMURL(raw)
	if err != nil {
		return err
	}
	_, err = h.CheckHost(u.Hostname(), effectivePort(u))
	return err
}

// CheckHost says whether a KB's LLM may be reached at host and port. listed
// is true for a host of Allow or the global LLM's: it may be at any address.
// Otherwise the host must be a public address, or a name, whose addresses
// must then be checked with PublicAddr as the connection is made.
func (h *LLMHosts) CheckHost(host, port string) (listed bool, err error) {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if h != nil {
		if g, gerr := ParseLLMURL(h.Global); h.Global != "" && gerr == nil &&
			strings.EqualFold(strings.Trim(g.Hostname(), "[]"), host) && effectivePort(g) == port {
			return true, nil
		}
		for _, a := range h.Allow {
			if allowMatches(a, host, port) {
				return true, nil
			}
		}
		if len(h.Allow) > 0 {
			return false, Errorf(EFORBIDDEN, "base_url host %s is not one kefu serve --llm-allow-hosts allows (%s)", net.JoinHostPort(host, port), strings.Join(h.Allow, ","))
		}
	}
	if internalHost(host) {
		return false, Errorf(EFORBIDDEN, "base_url host %s is a loopback, private, link-local or otherwise internal address; a KB's LLM may be there only if kefu serve --llm-allow-hosts lists it", host)
	}
	return false, nil
}

// CheckAddr says whether a KB's LLM named host, not listed, may be at
// addr, an address the name resolved to as the connection is made: a public
// one (PublicAddr).
func (h *LLMHosts) CheckAddr(host string, addr netip.AddrPort) error {
	if !PublicAddr(addr.Addr()) {
		return Errorf(EFORBIDDEN, "a KB's LLM host %s resolved to %s, an internal address (kefu serve --llm-allow-hosts may list the host)", host, addr.Addr())
	}
	return nil
}

// internalHost reports whether host is, by its name or as a literal
// address, internal: localhost and its subdomains, or an address that is
// not PublicAddr.
func internalHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return !PublicAddr(ip)
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// allowMatches reports whether an --llm-allow-hosts entry covers host:port.
func allowMatches(entry, host, port string) bool {
	name, p := entry, ""
	if h, hp, err := net.SplitHostPort(entry); err == nil {
		name, p = h, hp
	}
	name = strings.Trim(name, "[]")
	if p != "" && p != port {
		return false
	}
	if sub, ok := strings.CutPrefix(name, "*."); ok {
		return strings.HasSuffix(host, "."+sub)
	}
	return host == name
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// nonPublic are address ranges that netip's predicates do not cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // this network
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT; some clouds' metadata)
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64: could embed any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"), // documentation
}

// PublicAddr reports whether ip is a public unicast address: not loopback,
// private, link-local, unspecified, multicast, shared or reserved.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
