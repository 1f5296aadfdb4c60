package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/kefu-dev/kefu"
)

// KeyPrefix starts every API key secret, so a leaked one is recognisable.
const KeyPrefix = "kefu_"

// NewKey makes an API key: the secret to give its user once, and the
// record to store, which keeps only the secret's sha256. A public key needs
// its KB and the web origins it may be used from.
func NewKey(scope kefu.Scope, kb, name string, origins ...string) (secret string, key *kefu.Key, err error) {
	if !kefu.ValidScope(scope) {
		return "", nil, kefu.Errorf(kefu.EINVALID, "scope %q: use admin, ingest, agent, query or public", scope)
	}
	if kb != "" && !kefu.ValidKBName(kb) {
		return "", nil, kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q", kb)
	}
	if len(name) > 200 {
		return "", nil, kefu.Errorf(kefu.EINVALID, "key name over 200 bytes")
	}
	var clean []string
	if scope == kefu.ScopePublic {
		if kb == "" {
			return "", nil, kefu.Errorf(kefu.EINVALID, "a public key is for one knowledge base: give its kb")
		}
		if len(origins) == 0 || len(origins) > 50 {
			return "", nil, kefu.Errorf(kefu.EINVALID, "a public key needs 1 to 50 origins, the sites its widget runs on (\"https://shop.example.com\")")
		}
		for _, o := range origins {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				return "", nil, kefu.Errorf(kefu.EINVALID, "origin %q: use scheme://host[:port], as a browser sends it", o)
			}
			clean = append(clean, normalOrigin(o))
		}
	} else if len(origins) > 0 {
		return "", nil, kefu.Errorf(kefu.EINVALID, "origins are for public keys only")
	}
	secret = KeyPrefix + base62(32)
	key = &kefu.Key{ID: "key_" + base62(10), Hash: HashSecret(secret), Name: name, Scope: scope, KB: kb, CreatedAt: time.Now().UTC(), Origins: clean}
	return secret, key, nil
}

// HashSecret returns the hex sha256 of an API key secret, as stored.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62 returns n uniformly random base-62 digits (about 5.95 bits each).
func base62(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(base62Digits)))
	for i := range b {
		d, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		b[i] = base62Digits[d.Int64()]
	}
	return string(b)
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Loopback reports whether a listen address ("host:port") only accepts
// connections from this machine. An empty host (all interfaces) is not.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// principal is who a request acts as.
type principal struct {
	keyID   string // "" in dev mode without a key
	name    string // the key's name
	scope   kefu.Scope
	kb      string   // "" for every KB
	origins []string // a public key's
}

// public reports whether the principal is a public widget key.
func (p *principal) public() bool { return p.scope == kefu.ScopePublic }

// agentName is who the principal acts as in a conversation.
func (p *principal) agentName() string {
	switch {
	case p.name != "":
		return p.name
	case p.keyID != "":
		return p.keyID
	}
	return "admin"
}

// allows reports whether the principal may touch kb.
func (p *principal) allows(kb string) bool { return p.kb == "" || p.kb == kb }

// identify finds the key of a request: "Authorization: Bearer", or the
// access_token query parameter where the route accepts it (the WebSocket:
// browsers cannot set its headers). In dev mode a request without a key
// acts as admin.
func (s *Server) identify(c fiber.Ctx, tokenInQuery bool) (*principal, error) {
	secret := ""
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, kefu.Errorf(kefu.EUNAUTHORIZED, "the Authorization header must be \"Bearer <key>\"")
		}
		secret = strings.TrimSpace(tok)
	} else if tokenInQuery {
		secret = c.Query("access_token")
	}
	if secret == "" {
		if s.dev.Load() {
			return &principal{scope: kefu.ScopeAdmin}, nil
		}
		return nil, kefu.Errorf(kefu.EUNAUTHORIZED, "an API key is required: send \"Authorization: Bearer <key>\" (create one with 'kefu keys create')")
	}
	if s.cfg.Keys == nil || len(secret) > 256 {
		return nil, kefu.Errorf(kefu.EUNAUTHORIZED, "unknown API key")
	}
	k, err := s.cfg.Keys.KeyByHash(c.Context(), HashSecret(secret))
	if err != nil {
		if kefu.ErrorCode(err) == kefu.ENOTFOUND {
			return nil, kefu.Errorf(kefu.EUNAUTHORIZED, "unknown API key")
		}
		return nil, err
	}
	return &principal{keyID: k.ID, name: k.Name, scope: k.Scope, kb: k.KB, origins: k.Origins}, nil
}

// authorize checks the request's key against the route's scope and, on
// routes with a :kb parameter, the key's KB; then its rate limit.
func (s *Server) authorize(r route) fiber.Handler {
	kbRoute := strings.Contains(r.path, ":kb")
	return func(c fiber.Ctx) error {
		p, err := s.identify(c, r.tokenInQuery)
		if err != nil {
			return err
		}
		c.Locals(localPrincipal, p)
		if !p.scope.Includes(r.scope) {
			return kefu.Errorf(kefu.EFORBIDDEN, "this key's scope %q does not allow this; it needs %q", p.scope, r.scope)
		}
		if kbRoute && !p.allows(c.Params("kb")) {
			return kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q", p.kb)
		}
		if p.public() {
			if err := s.checkPublicOrigin(c, p); err != nil {
				return err
			}
		}
		if err := s.limit(c, p); err != nil {
			return err
		}
		return c.Next()
	}
}

// limit takes a token from the principal's bucket (the client IP's in dev
// mode without a key). A public key's visitors share its own, larger
// bucket (--public-rate) and each visitor's IP has one of its own
// (--visitor-rate), so that one busy visitor cannot starve the others.
func (s *Server) limit(c fiber.Ctx, p *principal) error {
	if p.public() {
		if err := s.take(c, s.publicLimits, p.keyID); err != nil {
			return err
		}
		return s.take(c, s.visitorLimits, p.keyID+" ip:"+c.IP())
	}
	who := p.keyID
	if who == "" {
		who = "ip:" + c.IP()
	}
	return s.take(c, s.limits, who)
}

// take spends a token of who's bucket in l, or says when to retry.
func (s *Server) take(c fiber.Ctx, l *limiters, who string) error {
	if wait, ok := l.take(who); !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return kefu.Errorf(kefu.ERATELIMIT, "too many requests: retry in %.1f s", wait.Seconds())
	}
	return nil
}

// visitorLimit takes a token of a public key's visitor's conversation: a
// visitor's several tabs or a script share it.
func (s *Server) visitorLimit(c fiber.Ctx, p *principal, conversation string) error {
	if !p.public() || conversation == "" {
		return nil
	}
	return s.take(c, s.visitorLimits, p.keyID+" conv:"+conversation)
}

func principalOf(c fiber.Ctx) *principal {
	if p, ok := c.Locals(localPrincipal).(*principal); ok {
		return p
	}
	return &principal{} // public route: no scope
}

// AuthInfo is the body of GET /v1/auth: whether a key is needed and, when
// one is sent, what it may do.
type AuthInfo struct {
	DevMode bool        `json:"dev_mode"`
	Scope   *kefu.Scope `json:"scope"`
	KB      string      `json:"kb"`
	KeyID   string      `json:"key_id,omitempty"`
	// Agent is the name agent actions with this key are recorded under
	// when their body names none: the key's name, else its id.
	Agent   string `json:"agent,omitempty"`
	Warning string `json:"warning,omitempty"`
}

func (s *Server) authInfo(c fiber.Ctx) error {
	dev := s.dev.Load()
	out := AuthInfo{DevMode: dev}
	if dev {
		out.Warning = "development mode: no API key exists and every route is open to this machine; create keys with 'kefu keys create' before exposing the server"
	}
	p, err := s.identify(c, true)
	if err == nil && (p.keyID != "" || dev) {
		sc := p.scope
		out.Scope, out.KB, out.KeyID = &sc, p.kb, p.keyID
		if sc.Includes(kefu.ScopeAgent) {
			out.Agent = p.agentName()
		}
	} else if err != nil && c.Get(fiber.HeaderAuthorization) != "" {
		return err
	}
	return c.JSON(out)
}

// limiters are the token buckets by key, the least recently used dropped
// past a bound.
type limiters struct {
	rate  rate.Limit
	burst int
	lru   *lru.Cache[string, *rate.Limiter]
}

func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 {
		return &limiters{}
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	c, _ := lru.New[string, *rate.Limiter](65536)
	return &limiters{rate: rate.Limit(perSecond), burst: burst, lru: c}
}

// take spends one token of who's bucket; when there is none it says how
// long until there is.
func (l *limiters) take(who string) (time.Duration, bool) {
	if l.lru == nil {
		return 0, true
	}
	lim, ok := l.lru.Get(who)
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		if prev, found, _ := l.lru.PeekOrAdd(who, lim); found {
			lim = prev
		}
	}
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}
