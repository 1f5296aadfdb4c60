package answer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/netguard"
)

// errRedirect refuses an LLM's redirect: a KB's LLM is reached only where
// its settings say, which the redirect target was not checked against.
var errRedirect = errors.New("the LLM answered with a redirect, which is not followed")

// kbHTTPClient is the HTTP client for LLMs a KB's own settings name: it
// connects only where hosts allows (kefu.LLMHosts), checking the address a
// name resolved to as the connection is made (netguard), and follows no
// redirect.
func kbHTTPClient(hosts *kefu.LLMHosts) *http.Client {
	return &http.Client{Transport: netguard.Transport(hosts, nil), CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect }}
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
