package kefu

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// WebhookHosts says where kefu may POST webhook deliveries and channel
// replies, whose URLs API users give. By default only to public addresses:
// never loopback, private, link-local (cloud metadata at 169.254.169.254
// included), shared, unspecified, multicast or reserved ones (PublicAddr),
// nor localhost by name; else an admin key could make kefu reach the
// services inside its own network (server-side request forgery).
//
// A URL is checked when it is registered (CheckURL: its literal address, or
// the addresses its name resolves to then), and every address again as each
// delivery connects (CheckHost before resolving, CheckAddr on each address
// the name resolved to), so DNS cannot move a name inside afterwards. The
// operator opts in to internal receivers with kefu serve
// --webhook-allow-hosts (ParseWebhookHosts). A nil *WebhookHosts allows
// public addresses only.
type WebhookHosts struct {
	// Hosts may be at any address: "host", "host:port" or "*.example.com"
	// (every subdomain of example.com).
	Hosts []string
	// Nets are networks receivers may be in, whatever their names, such as
	// 10.0.0.0/8 or 127.0.0.1/32.
	Nets []netip.Prefix
	// Resolver resolves names, at registration and as deliveries connect;
	// nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// ParseWebhookHosts reads a comma-separated --webhook-allow-hosts value:
// host, host:port, *.domain, an address or a network (CIDR).
func ParseWebhookHosts(list string) (*WebhookHosts, error) {
	h := &WebhookHosts{}
	for _, e := range splitList(list) {
		if p, err := netip.ParsePrefix(e); err == nil {
			h.Nets = append(h.Nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
			h.Nets = append(h.Nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if checkHostEntry(e) != nil {
			return nil, Errorf(EINVALID, "--webhook-allow-hosts: %q is not host, host:port, *.domain, an address or a network like 10.0.0.0/8", e)
		}
		h.Hosts = append(h.Hosts, e)
	}
	return h, nil
}

// String is the list as --webhook-allow-hosts takes it.
func (h *WebhookHosts) String() string {
	if h == nil {
		return ""
	}
	out := append([]string(nil), h.Hosts...)
	for _, p := range h.Nets {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}

// resolveTimeout bounds the name lookup of CheckURL.
const resolveTimeout = 5 * time.Second

// CheckURL checks a receiver's URL as it is registered: its form
// (ValidWebhookURL), its host (CheckHost), and, for a name no entry lists,
// each address it resolves to now (CheckAddr). A name that does not resolve
// is accepted: its deliveries are checked as they connect.
func (h *WebhookHosts) CheckURL(ctx context.Context, raw string) error {
	if err := ValidWebhookURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	if err := h.checkURLHost(ctx, u.Hostname(), effectivePort(u)); err != nil {
		return Errorf(ErrorCode(err), "url %s: %s", raw, ErrorMessage(err))
	}
	return nil
}

func (h *WebhookHosts) checkURLHost(ctx context.Context, host, port string) error {
	listed, err := h.CheckHost(host, port)
	if err != nil || listed {
		return err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // checked by CheckHost
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := h.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := h.CheckAddr(host, netip.AddrPortFrom(a, 0)); err != nil {
			return err
		}
	}
	return nil
}

// CheckHost says whether a receiver may be at host and port, before its
// name is resolved. listed is true for a host --webhook-allow-hosts names:
// it may be at any address. Otherwise a literal address must be public or
// in Nets, and localhost is refused by name; any other name's addresses
// must then be checked with CheckAddr as the connection is made.
func (h *WebhookHosts) CheckHost(host, port string) (listed bool, err error) {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if h != nil {
		for _, a := range h.Hosts {
			if allowMatches(a, host, port) {
				return true, nil
			}
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return false, h.CheckAddr(host, netip.AddrPortFrom(ip, 0))
	}
	if internalHost(host) {
		return false, h.refuse(host, "")
	}
	return false, nil
}

// CheckAddr says whether a receiver named host may be at addr: a public
// address, or one in Nets.
func (h *WebhookHosts) CheckAddr(host string, addr netip.AddrPort) error {
	ip := addr.Addr().Unmap()
	if PublicAddr(ip) {
		return nil
	}
	if h != nil {
		for _, p := range h.Nets {
			if p.Contains(ip) {
				return nil
			}
		}
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return h.refuse(host, "") // a literal address
	}
	return h.refuse(host, ip.String())
}

func (h *WebhookHosts) refuse(host, resolved string) error {
	allowed := "it lists none"
	if l := h.String(); l != "" {
		allowed = "it lists " + l
	}
	at := host + " is"
	if resolved != "" {
		at = host + " resolves to " + resolved + ","
	}
	return Errorf(EFORBIDDEN, "%s a loopback, private, link-local or otherwise internal address; kefu sends webhooks and channel replies there only if kefu serve --webhook-allow-hosts allows it (%s)", at, allowed)
}

func (h *WebhookHosts) resolver() *net.Resolver {
	if h == nil || h.Resolver == nil {
		return net.DefaultResolver
	}
	return h.Resolver
}
