package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// statusOf maps a domain error code to its HTTP status.
var statusOf = map[string]int{
	kefu.ECONFLICT:     http.StatusConflict,
	kefu.EINTERNAL:     http.StatusInternalServerError,
	kefu.EINVALID:      http.StatusBadRequest,
	kefu.ENOTFOUND:     http.StatusNotFound,
	kefu.EUNAUTHORIZED: http.StatusUnauthorized,
	kefu.EFORBIDDEN:    http.StatusForbidden,
	kefu.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	kefu.ERATELIMIT:    http.StatusTooManyRequests,
	kefu.EUNAVAILABLE:  http.StatusServiceUnavailable,
	kefu.ETIMEOUT:      http.StatusGatewayTimeout,
	kefu.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	kefu.EMODEL:        http.StatusConflict,
}

// codeOfStatus maps Fiber's own errors (unknown route, body too large…)
// back to domain codes.
var codeOfStatus = map[int]string{
	http.StatusNotFound:                    kefu.ENOTFOUND,
	http.StatusMethodNotAllowed:            kefu.ENOTFOUND,
	http.StatusRequestEntityTooLarge:       kefu.ETOOLARGE,
	http.StatusRequestHeaderFieldsTooLarge: kefu.ETOOLARGE,
	http.StatusBadRequest:                  kefu.EINVALID,
	http.StatusUnsupportedMediaType:        kefu.EUNSUPPORTED,
	http.StatusTooManyRequests:             kefu.ERATELIMIT,
	http.StatusRequestTimeout:              kefu.ETIMEOUT,
}

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	if s, ok := statusOf[kefu.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorDetail carries a stable code and a human message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorHandler writes every error in the API's shape: a domain error with
// its status, Fiber's own errors translated (fromFiber), and an internal
// error's cause only in the log.
func (s *Server) errorHandler(c fiber.Ctx, err error) error {
	status := 0
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, err = fromFiber(c, fe)
	}
	id := requestID(c)
	if id == "" { // refused before the middleware ran (e.g. a body over the limit)
		id = newID("req_")
		c.Locals(localRequestID, id)
		c.Set(fiber.HeaderXRequestID, id)
	}
	if status == 0 {
		status = ErrorStatus(err)
	}
	msg := kefu.ErrorMessage(err)
	if kefu.ErrorCode(err) == kefu.EINTERNAL {
		// The cause stays in the log, under the request id the client sees.
		s.log.Error("request failed", "request_id", id, "path", c.Path(), "err", err)
		msg = fmt.Sprintf("%s (request %s; the server's log has the cause)", kefu.InternalMessage, id)
	}
	return c.Status(status).JSON(ErrorBody{
		Error:     ErrorDetail{Code: kefu.ErrorCode(err), Message: msg},
		RequestID: id,
	})
}

// fromFiber translates an error Fiber or fasthttp raised before or instead
// of a handler into a domain error in the API's words, with the status to
// send when it is not the code's own (else 0).
func fromFiber(c fiber.Ctx, fe *fiber.Error) (int, error) {
	code, ok := codeOfStatus[fe.Code]
	if !ok {
		code = kefu.EINTERNAL
	}
	switch fe.Code {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		// Fiber v3 says only "Not Found" (v2 said "Cannot GET /path").
		path := c.Path()
		if len(path) > 200 {
			path = path[:200] + "…"
		}
		return 0, &kefu.Error{Code: code, Message: fmt.Sprintf("no route %s %s (the API is under /v1)", c.Method(), path)}
	case http.StatusRequestHeaderFieldsTooLarge:
		// fasthttp closes the connection with the rest of the headers
		// unread: lingering, the client reads this answer rather than a
		// reset.
		c.Response().Header.SetConnectionClose()
		if lc, ok := c.RequestCtx().Conn().(*lingerConn); ok {
			lc.linger.Store(true)
		}
		return fe.Code, &kefu.Error{Code: code, Message: fmt.Sprintf("the request's headers are over %d bytes in all", readBufferSize)}
	}
	return 0, &kefu.Error{Code: code, Message: fe.Message}
}
