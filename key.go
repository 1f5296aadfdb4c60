package kefu

import (
	"context"
	"time"
)

// Scope is what an API key may do. Scopes nest: admin includes every other;
// ingest and agent each include query; query includes public.
type Scope string

// Scopes.
const (
	// ScopePublic is a chat widget's key, published in a web page: it may
	// only ask and chat on its KB (and read its own conversations' live
	// messages), from its allowed origins, under per-visitor rate limits.
	ScopePublic Scope = "public"
	ScopeQuery  Scope = "query"  // search, ask, chat, feedback, OpenAI-compatible endpoints, KB settings (read)
	ScopeIngest Scope = "ingest" // query, plus documents, jobs, unanswered questions and feedback, eval reports
	ScopeAgent  Scope = "agent"  // query, plus conversations, the hand-off queue and agent actions
	ScopeAdmin  Scope = "admin"  // everything: KB settings, keys, webhooks, channels
)

// Includes reports whether a key of scope s may do what needs scope need.
func (s Scope) Includes(need Scope) bool {
	if !ValidScope(s) || !ValidScope(need) {
		return false
	}
	return s == need || s == ScopeAdmin || scopeIncludes[s][need]
}

// scopeIncludes lists, for each scope, the other scopes it includes.
var scopeIncludes = map[Scope]map[Scope]bool{
	ScopeIngest: {ScopeQuery: true, ScopePublic: true},
	ScopeAgent:  {ScopeQuery: true, ScopePublic: true},
	ScopeQuery:  {ScopePublic: true},
}

// ValidScope reports whether s names a scope.
func ValidScope(s Scope) bool {
	switch s {
	case ScopePublic, ScopeQuery, ScopeIngest, ScopeAgent, ScopeAdmin:
		return true
	}
	return false
}

// Key is an API key as stored: only a hash of the secret is kept.
type Key struct {
	ID        string    `json:"id"`   // public identifier, shown in logs
	Hash      string    `json:"-"`    // sha256 of the secret, hex
	Name      string    `json:"name"` // what it is for
	Scope     Scope     `json:"scope"`
	KB        string    `json:"kb,omitempty"` // "" for every KB; a public key always has one
	CreatedAt time.Time `json:"created_at"`
	// Origins are the web origins ("https://shop.example.com") a public
	// key may be used from; browsers on other origins are refused.
	Origins []string `json:"origins,omitempty"`
}

// KeyStore keeps API keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k *Key) error
	// KeyByHash finds a key by the sha256 of its secret.
	KeyByHash(ctx context.Context, hash string) (*Key, error)
	Keys(ctx context.Context) ([]*Key, error)
	DeleteKey(ctx context.Context, id string) error
}

// SourceStore keeps the bytes a document was made from, so it can be
// re-indexed (with new chunking settings, say) without a new upload.
type SourceStore interface {
	PutSource(ctx context.Context, kb, docID string, data []byte) error
	Source(ctx context.Context, kb, docID string) ([]byte, error)
}
