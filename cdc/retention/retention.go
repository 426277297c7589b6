// Package retention purges what a service of the pipeline keeps only for a
// while: published outbox rows, the event ids of its inbox and its
// idempotency keys. Both services run the same jobs.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
	"shop/cdc/outbox"
	"shop/service"
)

// PurgeFunc deletes what is older than olderThan and returns how many rows
// it deleted.
type PurgeFunc func(ctx context.Context, olderThan time.Duration) (int64, error)

// Jobs returns the purge jobs of a service whose database is pool, each
// run every r.PurgeInterval: the outbox after r.Outbox (outbox.Purge: only
// rows that slot, the replication slot of the connector publishing this
// database's outbox, has confirmed), the inbox after inbox.Retention, and
// the idempotency keys after r.IdempotencyKeys through purgeKeys, the
// service's store. Dead letters are never purged: they wait for a person.
func Jobs(pool *pgxpool.Pool, r service.Retention, slot string, logger *slog.Logger, purgeKeys PurgeFunc) []service.Job {
	every := r.PurgeInterval
	after := func(purge PurgeFunc, olderThan time.Duration) func(context.Context) (int64, error) {
		return func(ctx context.Context) (int64, error) { return purge(ctx, olderThan) }
	}
	return []service.Job{
		service.Purge("outbox purge", every, logger, after(func(ctx context.Context, d time.Duration) (int64, error) {
			return outbox.Purge(ctx, pool, slot, d)
		}, r.Outbox)),
		service.Purge("inbox purge", every, logger, after(func(ctx context.Context, d time.Duration) (int64, error) {
			return inbox.Purge(ctx, pool, d)
		}, inbox.Retention)),
		service.Purge("idempotency key purge", every, logger, after(purgeKeys, r.IdempotencyKeys)),
	}
}
