package kefu

import (
	"errors"
	"testing"
)

// A client learns an error's message unless it is internal: then only
// InternalMessage, whatever the cause says.
func TestErrorMessage(t *testing.T) {
	cause := errors.New("bbolt: open /var/lib/kefu/kefu.db: permission denied")
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{Errorf(EINVALID, "k must be an integer from 1 to 100, not 0"), "k must be an integer from 1 to 100, not 0"},
		{Errorf(EINTERNAL, "store documents: %w", cause), InternalMessage},
		{&Error{Code: EINTERNAL, Err: cause}, InternalMessage},
		{cause, InternalMessage},
		{Errorf(ENOTFOUND, "knowledge base %q not found", "a"), `knowledge base "a" not found`},
	} {
		if got := ErrorMessage(c.err); got != c.want {
			t.Errorf("ErrorMessage(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
