package kefu

import (
	"context"
	"time"
)

// Scope is what an API key may do. Scopes nest: admin includes ingest,
// ingest includes query.
type Scope string

// Scopes.
const (
	ScopeQuery  Scope = "query"  // search, ask, chat, feedback, OpenAI-compatible endpoints
	ScopeIngest Scope = "ingest" // query, plus documents, jobs, unanswered questions, eval reports
	ScopeAdmin  Scope = "admin"  // everything, KB settings and keys included
)

// Includes reports whether a key of scope s may do what needs scope need.
func (s Scope) Includes(need Scope) bool {
	return scopeRank[s] > 0 && scopeRank[s] >= scopeRank[need]
}

var scopeRank = map[Scope]int{ScopeQuery: 1, ScopeIngest: 2, ScopeAdmin: 3}

// ValidScope reports whether s names a scope.
func ValidScope(s Scope) bool { return s == ScopeQuery || s == ScopeIngest || s == ScopeAdmin }

// Key is an API key as stored: only a hash of the secret is kept.
type Key struct {
	ID        string    `json:"id"`   // public identifier, shown in logs
	Hash      string    `json:"-"`    // sha256 of the secret, hex
	Name      string    `json:"name"` // what it is for
	Scope     Scope     `json:"scope"`
	KB        string    `json:"kb,omitempty"` // "" for every KB
	CreatedAt time.Time `json:"created_at"`
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
