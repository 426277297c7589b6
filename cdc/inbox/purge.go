package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention is how long applied event ids are kept in the inbox. A
// redelivery older than this is no longer recognised by event id; the
// services' business-key guards still hold.
const Retention = 7 * 24 * time.Hour

// Purge deletes inbox rows processed more than olderThan ago and returns how
// many it deleted.
func Purge(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
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
