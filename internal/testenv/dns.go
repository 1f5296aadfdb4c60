package testenv

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a DNS server for tests on a loopback UDP port: it answers A and
// AAAA queries for the names Set gives, with a TTL of 0, and NXDOMAIN for
// any other name. A name's address may change between two queries, as a
// rebinding attacker's server does. It is test equipment: it shows what
// kefu does with the answers a resolver gets, not how real resolvers cache,
// fall back to TCP or search domains.
type DNS struct {
	conn  net.PacketConn
	mu    sync.Mutex
	addrs map[string]netip.Addr
}

// StartDNS starts a DNS server until the test ends.
func StartDNS(tb testing.TB) *DNS {
	tb.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	d := &DNS{conn: conn, addrs: map[string]netip.Addr{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.serve()
	}()
	tb.Cleanup(func() {
		conn.Close()
		<-done
	})
	return d
}

// Set makes name resolve to addr from the next query on.
func (d *DNS) Set(name string, addr netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs[strings.ToLower(strings.TrimSuffix(name, "."))] = addr
}

// Resolver is a resolver that asks only this server (the Go resolver;
// /etc/hosts is still read first, as for every resolver).
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

func (d *DNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, ok := d.answer(buf[:n]); ok {
			d.conn.WriteTo(out, from)
		}
	}
}

// answer builds the reply to one query.
func (d *DNS) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	d.mu.Lock()
	addr, known := d.addrs[strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))]
	d.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	res := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
	switch {
	case known && q.Type == dnsmessage.TypeA && addr.Is4():
		if b.AResource(res, dnsmessage.AResource{A: addr.As4()}) != nil {
			return nil, false
		}
	case known && q.Type == dnsmessage.TypeAAAA && addr.Is6():
		if b.AAAAResource(res, dnsmessage.AAAAResource{AAAA: addr.As16()}) != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
