package kefu

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the api package and to one
// exit status in the CLI, so callers branch on the code, never on the text.
const (
	ECONFLICT     = "conflict"       // the resource exists or changed meanwhile
	EINTERNAL     = "internal"       // a bug or an unexpected failure
	EINVALID      = "invalid"        // the input is malformed or out of range
	ENOTFOUND     = "not_found"      // no such KB, document, job, model…
	EUNAUTHORIZED = "unauthorized"   // no or unknown credentials
	EFORBIDDEN    = "forbidden"      // credentials lack the scope or the KB
	ETOOLARGE     = "too_large"      // a limit on size, rows, pages or time was hit
	ERATELIMIT    = "rate_limited"   // too many requests; retry later
	EUNAVAILABLE  = "unavailable"    // a dependency (LLM, Qdrant, ONNX Runtime) is down or missing
	ETIMEOUT      = "timeout"        // a deadline passed
	EUNSUPPORTED  = "unsupported"    // a format or feature this build does not handle
	EMODEL        = "model_mismatch" // the KB was embedded with another model
)

// Error is a domain error: a stable code and a message fit for the user.
type Error struct {
	Code    string
	Message string
	Err     error // the underlying cause, if any; not shown to API clients
}

func (e *Error) Error() string {
	if e.Message == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and a formatted message.
// A %w verb in format wraps the cause, as with fmt.Errorf.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// ErrorCode returns the code of the first Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of the first Error in err's
// chain. An EINTERNAL error, and any error that is no Error, gets
// InternalMessage: its text may hold a library's words, file paths or
// other internals, which belong in the server's log (err.Error()), not in
// a client's answer.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return InternalMessage
}

// InternalMessage is all a client learns of an internal error.
const InternalMessage = "internal error"
