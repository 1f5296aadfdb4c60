package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/valyala/fasthttp"

	"github.com/kefu-dev/kefu"
)

// Request bodies are read here and nowhere else in package api: no
// c.Body(), BodyParser, MultipartForm or FormValue (Fiber's c.Body()
// inflates gzip, deflate and brotli without a cap, and on a decode error
// returns the library's message as the body). The server streams request
// bodies (Config.StreamRequestBody, no multipart pre-parsing), so a route's
// handlers run once the headers are in: the request id, readiness, the
// route, the key, its scope and KB and the rate limit are all checked before
// a byte of the body is read. Then Server.body reads it, decoded and
// through the route's limit; drainBody settles what a handler left unread.

// bodyLimit is a route's bound on its request body, in bytes after
// decoding, and how an error names it.
type bodyLimit struct {
	max   int64  // bytes read at most: the limit plus any framing allowed
	shown int64  // the limit as its flag sets it
	what  string // "request body" or "upload"
	flag  string // the flag that sets it
}

func (l bodyLimit) tooLarge(decoded bool) error {
	after := ""
	if decoded {
		after = " after decompression"
	}
	return kefu.Errorf(kefu.ETOOLARGE, "%s over %d bytes%s (%s)", l.what, l.shown, after, l.flag)
}

// jsonLimit bounds a JSON body (--body-limit).
func (s *Server) jsonLimit() bodyLimit {
	n := int64(s.cfg.BodyLimit)
	return bodyLimit{max: n, shown: n, what: "request body", flag: "--body-limit"}
}

// uploadLimit bounds a multipart upload: its files together get
// --upload-limit, the multipart framing 64 KiB more.
func (s *Server) uploadLimit() bodyLimit {
	n := int64(s.cfg.UploadLimit)
	return bodyLimit{max: n + uploadFraming, shown: n, what: "upload", flag: "--upload-limit"}
}

// uploadFraming is room for an upload's multipart headers and boundaries.
const uploadFraming = 64 << 10

// bodyEncodings are the Content-Encodings the API decodes: gzip and deflate
// keep a 32 KiB window whatever the body says. zstd and brotli are not
// decoded: their streams choose the window the decoder must keep (zstd 8
// MiB at its encoder's default level — decoding 1 MiB of such a body
// allocated 9.7 MB — brotli up to 16 MiB), more than a request may cost.
var bodyEncodings = []string{"identity", "gzip", "deflate"}

// body returns the request body, decoded as its Content-Encoding says and
// limited to lim: a body over it, before or after decoding, fails with a
// 413 that names the limit and its flag. The reader's errors are domain
// errors in the API's words.
func (s *Server) body(c fiber.Ctx, lim bodyLimit) (io.Reader, error) {
	coding, err := contentCoding(c.Get(fiber.HeaderContentEncoding))
	if err != nil {
		return nil, err
	}
	if n := c.Request().Header.ContentLength(); n > 0 && int64(n) > lim.max {
		return nil, lim.tooLarge(false)
	}
	r, wire, err := decodeBody(requestStream(c), coding, lim)
	c.Locals(localBody, wire) // for drainBody
	return r, err
}

// contentCoding reads a Content-Encoding header: one of bodyEncodings.
func contentCoding(header string) (string, error) {
	coding := strings.ToLower(strings.TrimSpace(header))
	switch coding {
	case "":
		return "identity", nil
	case "x-gzip":
		return "gzip", nil
	}
	for _, e := range bodyEncodings {
		if e == coding {
			return coding, nil
		}
	}
	return "", kefu.Errorf(kefu.EUNSUPPORTED, "Content-Encoding %q is not supported: send %s", coding, strings.Join(bodyEncodings, ", "))
}

// decodeBody reads raw, the body as sent, within lim, and decodes it.
func decodeBody(raw io.Reader, coding string, lim bodyLimit) (io.Reader, *wireBody, error) {
	wire := &wireBody{r: raw, left: lim.max, lim: lim}
	var r io.Reader = wire
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(wire)
		if err != nil {
			return nil, wire, decodeError(coding, err)
		}
		r = zr
	case "deflate":
		r = inflater(wire)
	}
	return &decodedBody{r: r, left: lim.max, lim: lim, coding: coding}, wire, nil
}

// requestStream is the raw body: fasthttp's stream of it, or, for a request
// whose body was read before the handler (a server not streaming), the
// bytes read.
func requestStream(c fiber.Ctx) io.Reader {
	if r := c.RequestCtx().RequestBodyStream(); r != nil {
		return r
	}
	return bytes.NewReader(c.Request().Body())
}

// inflater reads a "deflate" body: zlib-wrapped as RFC 9110 says, or raw
// deflate as some clients send it.
func inflater(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
		zr, err := zlib.NewReader(br)
		if err == nil {
			return zr
		}
		return errReader{decodeError("deflate", err)}
	}
	return flate.NewReader(br)
}

// wireBody reads the raw body within the limit, and remembers whether it
// reached the end (drainBody needs to know).
type wireBody struct {
	r    io.Reader
	left int64
	lim  bodyLimit
	n    int64
	eof  bool
}

func (w *wireBody) Read(p []byte) (int, error) {
	if w.left < 0 {
		return 0, w.lim.tooLarge(false)
	}
	if int64(len(p)) > w.left+1 {
		p = p[:w.left+1]
	}
	n, err := w.r.Read(p)
	w.n += int64(n)
	w.left -= int64(n)
	if errors.Is(err, io.EOF) {
		w.eof = true
	}
	if w.left < 0 {
		return n + int(w.left), w.lim.tooLarge(false) // the byte over the limit is not passed on
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, readFailed(err)
	}
	return n, err
}

// decodedBody limits the decoded body and turns decoder errors into
// domain errors.
type decodedBody struct {
	r      io.Reader
	left   int64
	lim    bodyLimit
	coding string
}

func (d *decodedBody) Read(p []byte) (int, error) {
	if d.left < 0 {
		return 0, d.lim.tooLarge(d.coding != "identity")
	}
	if int64(len(p)) > d.left+1 {
		p = p[:d.left+1]
	}
	n, err := d.r.Read(p)
	d.left -= int64(n)
	if d.left < 0 {
		return n + int(d.left), d.lim.tooLarge(d.coding != "identity")
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	return n, decodeError(d.coding, err)
}

// decodeError is the error of a body its Content-Encoding cannot decode,
// without the library's message; the wire's own errors (too large, cut
// short) pass as they are.
func decodeError(coding string, err error) error {
	var ke *kefu.Error
	if errors.As(err, &ke) {
		return err
	}
	if coding == "identity" {
		return readFailed(err)
	}
	return kefu.Errorf(kefu.EINVALID, "the request body is not valid %s data (Content-Encoding: %s)", coding, coding)
}

// readFailed is the error of a body that did not arrive whole.
func readFailed(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return kefu.Errorf(kefu.EINVALID, "the request body did not arrive in time")
	}
	return kefu.Errorf(kefu.EINVALID, "the request body ended before its announced length")
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Unread bodies. fasthttp does not skip what a handler left of a streamed
// body: the next request on the connection would be parsed from the middle
// of it. drainBody, the outermost handler, reads what is left when that is
// little (up to maxDrain, for at most drainTime) so the connection can be
// kept; otherwise the response closes it, and the connection lingers
// (lingerConn) so the client reads the response rather than a reset.
const (
	maxDrain  = 64 << 10
	drainTime = 500 * time.Millisecond
)

func (s *Server) drainBody(c fiber.Ctx) error {
	err := c.Next()
	req := &c.RequestCtx().Request
	if c.RequestCtx().Hijacked() || !req.IsBodyStream() {
		return err
	}
	wire, _ := c.Locals(localBody).(*wireBody)
	if wire != nil && wire.eof {
		return err
	}
	left := int64(req.Header.ContentLength()) // -1: chunked
	if wire != nil && left >= 0 {
		left -= wire.n
	}
	if left == 0 {
		return err
	}
	if left > 0 && left <= maxDrain {
		conn := c.RequestCtx().Conn()
		_ = conn.SetReadDeadline(time.Now().Add(drainTime))
		n, derr := io.Copy(io.Discard, io.LimitReader(requestStream(c), maxDrain+1))
		if derr == nil && n == left {
			return err
		}
	}
	c.Response().Header.SetConnectionClose()
	if lc, ok := c.RequestCtx().Conn().(*lingerConn); ok {
		lc.linger.Store(true)
	}
	return err
}

// lingerListener hands out lingerConns.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn closes a connection whose request body was left unread as Go's
// net/http does: it stops writing, reads what the client still sends for a
// moment, then closes. Closing at once with unread data makes the kernel
// send a reset, which can destroy the response before the client reads it.
type lingerConn struct {
	net.Conn
	linger atomic.Bool
	closed atomic.Bool
	mu     sync.Mutex
	early  []byte // read by watch (deadline.go) before the server asked
}

func (c *lingerConn) Close() error {
	if !c.linger.Load() || c.closed.Swap(true) {
		return c.Conn.Close()
	}
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return c.Conn.Close()
	}
	_ = cw.CloseWrite()
	go func() { // ends within drainTime
		_ = c.Conn.SetReadDeadline(time.Now().Add(drainTime))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20))
		_ = c.Conn.Close()
	}()
	return nil
}

// headerReceived makes fasthttp read no more than a byte of a body before
// the handlers run (it reads up to 8 KiB otherwise, and waits for them):
// the rest is read by Server.body, after authentication, or never.
func headerReceived(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{MaxRequestBodySize: 1}
}
