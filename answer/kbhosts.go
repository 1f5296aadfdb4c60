package answer

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/kefu-dev/kefu"
)

// errRedirect refuses an LLM's redirect: a KB's LLM is reached only where
// its settings say, which the redirect target was not checked against.
var errRedirect = errors.New("the LLM answered with a redirect, which is not followed")

// kbHTTPClient is the HTTP client for LLMs a KB's own settings name: it
// connects only where hosts allows (kefu.LLMHosts), checking the address a
// name resolved to as the connection is made — so a name that resolves, or
// is made to resolve later, to an internal address is refused — directly
// (a proxy would resolve names where they cannot be checked), and follows
// no redirect.
func kbHTTPClient(hosts *kefu.LLMHosts) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	public := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !kefu.PublicAddr(ap.Addr()) {
				return kefu.Errorf(kefu.EFORBIDDEN, "a KB's LLM host resolved to %s, an internal address (kefu serve --llm-allow-hosts may list the host)", address)
			}
			return nil
		}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		listed, err := hosts.CheckHost(host, port)
		if err != nil {
			return nil, err
		}
		if listed {
			return dialer.DialContext(ctx, network, addr)
		}
		return public.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect }}
}

// redactKey hides key in err's text: a failing LLM may quote the request's
// Authorization header in its error, which is logged.
func redactKey(err error, key string) error {
	if err == nil || key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	return &redacted{err: err, key: key}
}

type redacted struct {
	err error
	key string
}

func (r *redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.key, kefu.RedactedKey) }
func (r *redacted) Unwrap() error { return r.err }
