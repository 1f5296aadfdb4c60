package api

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// DefaultAskTimeout bounds a JSON answer when Config.AskTimeout is 0.
const DefaultAskTimeout = 60 * time.Second

var (
	errAskTimeout = errors.New("ask timeout")
	errClientGone = errors.New("client gone")
)

// answerContext is the context of an answer sent as one JSON response: it
// ends at Config.AskTimeout, when the client closes its connection, and
// when the server shuts down past its grace. (fasthttp cancels nothing
// when a client goes: an event stream learns it from a failed write, a
// WebSocket from its reader, and a JSON response, which writes nothing
// until the end, from watchClient.) Call it once the request body is read;
// stop before writing the response.
func (s *Server) answerContext(c fiber.Ctx) (ctx context.Context, stop func()) {
	timeout := s.cfg.AskTimeout
	if timeout <= 0 {
		timeout = DefaultAskTimeout
	}
	ctx, cancel := context.WithCancelCause(c.Context())
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, errAskTimeout)
	unbase := context.AfterFunc(s.base, func() { cancel(context.Canceled) })
	unwatch := func() {}
	if lc, ok := c.RequestCtx().Conn().(*lingerConn); ok {
		unwatch = lc.watch(func() { cancel(errClientGone) })
	}
	return ctx, func() {
		unwatch()
		unbase()
		cancelTimeout()
		cancel(nil)
	}
}

// answerError is the error of an answer whose context ended: the deadline
// named with its flag, or the answerer's own error.
func (s *Server) answerError(ctx context.Context, err error) error {
	switch context.Cause(ctx) {
	case errAskTimeout:
		timeout := s.cfg.AskTimeout
		if timeout <= 0 {
			timeout = DefaultAskTimeout
		}
		return kefu.Errorf(kefu.ETIMEOUT, "no answer within %s (--ask-timeout)", timeout)
	case errClientGone:
		return kefu.Errorf(kefu.ETIMEOUT, "the client closed the connection before the answer was ready")
	}
	return err
}

// watch reads the connection while a handler works on a request whose body
// is read, and calls gone when the client closes it. Bytes that arrive
// meanwhile (a pipelined request) are kept for the server's next read. The
// returned stop ends the watch before the handler writes its response.
func (c *lingerConn) watch(gone func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Conn.Read(buf)
			if n > 0 {
				c.mu.Lock()
				c.early = append(c.early, buf[:n]...)
				full := len(c.early) >= maxEarly
				c.mu.Unlock()
				if full {
					return // the client is there; nothing more to learn
				}
			}
			var ne net.Error
			switch {
			case err == nil:
			case errors.As(err, &ne) && ne.Timeout():
				return // stopped
			default:
				gone()
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = c.Conn.SetReadDeadline(time.Now())
			<-done
			_ = c.Conn.SetReadDeadline(time.Time{})
		})
	}
}

// maxEarly bounds what watch keeps of a client's next request.
const maxEarly = 64 << 10

// Read returns what watch read early first.
func (c *lingerConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
