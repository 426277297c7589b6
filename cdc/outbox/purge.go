package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

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
