package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/lifecycle"
)

// InboxRetention is how long applied event ids are kept in the inbox. A
// redelivery older than this is no longer recognised by event id; the
// services' business-key guards still hold.
const InboxRetention = 7 * 24 * time.Hour

// PurgeResult counts the rows one purge deleted.
type PurgeResult struct {
	Outbox int64
	Inbox  int64
}

// Purge deletes outbox rows created more than olderThan ago and returns how
// many it deleted. The publication publishes only inserts and updates, so a
// delete is not an event.
//
// Outbox rows are purged only when a replication slot exists for the current
// database: before the connector's first start, rows must survive until the
// initial snapshot has read them. Without a slot Purge deletes nothing and
// returns 0, nil.
func Purge(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge outbox: retention must be positive, got %s", olderThan)
	}
	// One statement, so that the slot check and the delete see one snapshot.
	tag, err := pool.Exec(ctx, `DELETE FROM outbox
		WHERE created_at < now() - make_interval(secs => $1)
		  AND EXISTS (SELECT 1 FROM pg_replication_slots WHERE database = current_database())`,
		olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("purge outbox: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PurgeInbox deletes inbox rows processed more than olderThan ago and returns
// how many it deleted.
func PurgeInbox(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge inbox: retention must be positive, got %s", olderThan)
	}
	tag, err := pool.Exec(ctx, `DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)`,
		olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("purge inbox: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PurgeAll runs Purge with olderThan and PurgeInbox with InboxRetention.
func PurgeAll(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (PurgeResult, error) {
	var r PurgeResult
	var err error
	if r.Outbox, err = Purge(ctx, pool, olderThan); err != nil {
		return r, err
	}
	if r.Inbox, err = PurgeInbox(ctx, pool, InboxRetention); err != nil {
		return r, err
	}
	return r, nil
}

// RunPurger runs PurgeAll once immediately and then every interval until ctx
// is cancelled; it then returns nil. Failures are logged and retried at the
// next tick, never returned: a database outage must not stop the service.
func RunPurger(ctx context.Context, pool *pgxpool.Pool, every, olderThan time.Duration, logger *slog.Logger) error {
	if pool == nil || logger == nil {
		return fmt.Errorf("outbox purger: missing pool or logger")
	}
	if every <= 0 || olderThan <= 0 {
		return fmt.Errorf("outbox purger: interval and retention must be positive, got %s and %s", every, olderThan)
	}
	lifecycle.RunEvery(ctx, every, logger, "outbox purge failed", func(ctx context.Context) error {
		r, err := PurgeAll(ctx, pool, olderThan)
		if err == nil && (r.Outbox > 0 || r.Inbox > 0) {
			logger.InfoContext(ctx, "outbox purged", slog.Int64("outbox_rows", r.Outbox), slog.Int64("inbox_rows", r.Inbox))
		}
		return err
	})
	return nil
}
