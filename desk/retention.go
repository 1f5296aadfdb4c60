package desk

import (
	"context"
	"log/slog"
	"time"

	"github.com/kefu-dev/kefu"
)

// PurgeInterval is how often Run purges old conversations.
const PurgeInterval = time.Hour

// Run purges old conversations at once and every PurgeInterval until ctx
// ends.
func (d *Service) Run(ctx context.Context) {
	t := time.NewTicker(PurgeInterval)
	defer t.Stop()
	for {
		if _, err := d.Purge(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("purging old conversations failed; trying again in an hour", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes every KB's conversations last updated more than its
// RetentionDays ago and returns how many it deleted per KB.
func (d *Service) Purge(ctx context.Context) (map[string]int, error) {
	return Purge(ctx, d.opts.Store, d.opts.KBs, d.opts.Now(), d.log)
}

// Purge deletes, in each KB of kbs, the conversations of st last updated
// more than the KB's RetentionDays before now (`kefu conversations purge`
// runs it without a server).
func Purge(ctx context.Context, st kefu.ConversationStore, kbs KBs, now time.Time, log *slog.Logger) (map[string]int, error) {
	all, err := kbs.KBs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, kb := range all {
		days := kb.Settings.RetentionDays
		if days <= 0 {
			days = kefu.DefaultRetentionDays
		}
		n, err := st.PurgeConversations(ctx, kb.Name, now.Add(-time.Duration(days)*24*time.Hour))
		if n > 0 {
			out[kb.Name] = n
			log.Info("old conversations purged", "kb", kb.Name, "conversations", n, "retention_days", days)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
