package kefu

import "context"

type requestIDKey struct{}

// WithRequestID returns a context that carries the id of the request it
// serves, which the answer log, the stored turn, the LLM call (an
// X-Request-ID header) and every webhook delivery repeat.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries, "" when none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
