package api

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/cors"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/kefu-dev/kefu"
)

// Browsers on other origins may call the API when their origin is in
// --cors-origins (Config.CORSOrigins) or among a public key's origins. A
// request from an origin that is neither gets no CORS headers, so the
// browser refuses the answer; the server logs it (once per origin per
// corsLogEvery) with the flag that would allow it.

// corsLogEvery is how often a refused origin is logged again.
const corsLogEvery = 10 * time.Minute

// origins are the origins allowed beside the server's own.
type origins struct {
	static []string                        // --cors-origins
	any    bool                            // "*" among them
	public atomic.Pointer[map[string]bool] // every public key's origins
	logged *lru.Cache[string, time.Time]   // refused origin → when last logged
	loadMu sync.Mutex
	loaded atomic.Int64 // when public was last read (Unix ns)
}

// reloadEvery bounds how often an origin that is not allowed makes the
// server read the public keys again (a key created by another process, or
// straight in the store, is found within it).
const reloadEvery = 5 * time.Second

func newOrigins(static []string) *origins {
	o := &origins{}
	for _, s := range static {
		if s == "*" {
			o.any = true
			continue
		}
		o.static = append(o.static, normalOrigin(s))
	}
	o.logged, _ = lru.New[string, time.Time](1024)
	empty := map[string]bool{}
	o.public.Store(&empty)
	return o
}

// normalOrigin lower-cases an origin and drops a trailing slash.
func normalOrigin(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "/")
}

// reload reads the public keys' origins from the key store.
func (s *Server) reloadOrigins(ctx context.Context) {
	o := s.origins
	o.loadMu.Lock()
	defer o.loadMu.Unlock()
	m := map[string]bool{}
	if s.cfg.Keys != nil {
		keys, err := s.cfg.Keys.Keys(ctx)
		if err != nil {
			s.log.Error("reading the public keys' origins", "err", err)
			return
		}
		for _, k := range keys {
			if k.Scope == kefu.ScopePublic {
				for _, og := range k.Origins {
					m[normalOrigin(og)] = true
				}
			}
		}
	}
	o.public.Store(&m)
	o.loaded.Store(time.Now().UnixNano())
}

// originOK reports whether a browser on origin may call the API, reading the public keys again first when origin is not allowed and they
// were read more than reloadEvery ago.
func (s *Server) originOK(ctx context.Context, origin string) bool {
	if s.origins.allowed(origin) {
		return true
	}
	if time.Since(time.Unix(0, s.origins.loaded.Load())) < reloadEvery {
		return false
	}
	s.reloadOrigins(ctx)
	return s.origins.allowed(origin)
}

// allowed reports whether a browser on origin may call the API.
func (o *origins) allowed(origin string) bool {
	origin = normalOrigin(origin)
	if o.any || (*o.public.Load())[origin] {
		return true
	}
	for _, a := range o.static {
		if a == origin {
			return true
		}
	}
	return false
}

// sameOrigin reports whether the request's Origin is the server itself (the
// console), for which CORS does not apply.
func sameOrigin(c fiber.Ctx) bool {
	u, err := url.Parse(c.Get(fiber.HeaderOrigin))
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, c.Host())
}

// cors is the CORS middleware over the allowed origins; a refused origin
// is logged.
func (s *Server) cors() fiber.Handler {
	return cors.New(cors.Config{
		Next: func(c fiber.Ctx) bool { return c.Get(fiber.HeaderOrigin) == "" || sameOrigin(c) },
		AllowOriginsFunc: func(origin string) bool {
			if s.originOK(context.Background(), origin) {
				return true
			}
			s.corsRefused(origin)
			return false
		},
		AllowMethods:  []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"},
		AllowHeaders:  []string{"Authorization", "Content-Type", "Accept", "X-Request-ID", "Last-Event-ID"},
		ExposeHeaders: []string{"X-Request-ID", "Retry-After"},
		MaxAge:        600,
	})
}

// corsRefused logs a refused origin, at most once per corsLogEvery.
func (s *Server) corsRefused(origin string) {
	if len(origin) > 200 {
		origin = origin[:200]
	}
	now := time.Now()
	if last, ok := s.origins.logged.Get(origin); ok && now.Sub(last) < corsLogEvery {
		return
	}
	s.origins.logged.Add(origin, now)
	s.log.Warn("CORS: a browser on an origin that is not allowed called the API; its page cannot read the answer",
		"origin", origin, "allow_with", "--cors-origins "+origin+" (or add it to a public key's origins)")
}

// requestOrigin is the browser origin of a request: its Origin header, else
// the origin of its Referer; "" for clients that send neither.
func requestOrigin(c fiber.Ctx) string {
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != "null" {
		return normalOrigin(o)
	}
	if r := c.Get(fiber.HeaderReferer); r != "" {
		if u, err := url.Parse(r); err == nil && u.Scheme != "" && u.Host != "" {
			return normalOrigin(u.Scheme + "://" + u.Host)
		}
	}
	return ""
}

// checkPublicOrigin refuses a public key used from a page that is not on
// its origins, or by a client that says no origin.
func (s *Server) checkPublicOrigin(c fiber.Ctx, p *principal) error {
	o := requestOrigin(c)
	for _, a := range p.origins {
		if normalOrigin(a) == o && o != "" {
			return nil
		}
	}
	if o == "" {
		return kefu.Errorf(kefu.EFORBIDDEN, "a public key is for web pages on its origins: this request names no origin (Origin or Referer)")
	}
	s.log.Warn("public key used from an origin it does not allow", "key_id", p.keyID, "origin", o, "allow_with", "the key's origins (delete it and create one with this origin)")
	return kefu.Errorf(kefu.EFORBIDDEN, "origin %s may not use this public key: it allows %s", o, strings.Join(p.origins, ", "))
}
