// Package netguard makes the HTTP transports kefu reaches URLs its users
// give with (a KB's own LLM, webhook receivers, channels' outbound URLs):
// they connect only where a Policy allows, checking each address a name
// resolves to as the connection is made (a net.Dialer Control function),
// so a name that resolves, or is made to resolve later (DNS rebinding), to
// an internal address is refused. They connect directly: a proxy would
// resolve names where they cannot be checked.
//
// Written by hand: the check must run inside the dialer, between
// resolution and connection, which no HTTP client library offers as a
// setting. It imports only the standard library.
package netguard

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Policy says where connections may go (kefu.LLMHosts, kefu.WebhookHosts).
type Policy interface {
	// CheckHost is asked before host is resolved: an error refuses it;
	// listed means it may be at any address.
	CheckHost(host, port string) (listed bool, err error)
	// CheckAddr is asked for each address an unlisted host resolved to,
	// just before kefu connects to it.
	CheckAddr(host string, addr netip.AddrPort) error
}

// Transport returns a transport (http.DefaultTransport's settings, without
// a proxy) whose connections p allows, resolving names with r (nil: the
// default resolver).
func Transport(p Policy, r *net.Resolver) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		listed, err := p.CheckHost(host, port)
		if err != nil {
			return nil, err
		}
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Resolver: r}
		if !listed {
			d.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return err
				}
				return p.CheckAddr(host, ap)
			}
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}
