package kefu

import "context"

// incarnationKey is the context key of a writer's expected KB.
type incarnationKey struct{}

type incarnation struct{ kb, id string }

// WithIncarnation returns a context under which a store's writes to the KB
// named kb.Name apply only while that name still holds kb: once kb is
// deleted, and even when a KB is created again under its name, they fail
// with ECONFLICT and write nothing. An ingest job writes under it, so a
// job of a deleted KB never writes into its namesake.
func WithIncarnation(ctx context.Context, kb *KB) context.Context {
	return context.WithValue(ctx, incarnationKey{}, incarnation{kb: kb.Name, id: kb.Incarnation})
}

// CheckIncarnation is the check a store makes, in the transaction of a
// write, against cur, the KB as stored: nil unless ctx came from
// WithIncarnation for a KB of cur's name and another incarnation.
func CheckIncarnation(ctx context.Context, cur *KB) error {
	want, ok := ctx.Value(incarnationKey{}).(incarnation)
	if !ok || want.kb != cur.Name || want.id == cur.Incarnation {
		return nil
	}
	return Errorf(ECONFLICT, "knowledge base %q was deleted (and created again) since this write began; nothing was written", cur.Name)
}
