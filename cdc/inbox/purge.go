package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "shop/sql"
)

// Retention is how long applied event ids are kept in the inbox. A
// redelivery older than this is no longer recognised by event id; the
// services' business-key guards still hold.
const Retention = 7 * 24 * time.Hour

// PurgeBatch is how many rows one statement of Purge deletes at most. Each
// batch commits on its own, so that however many rows are due the purge
// holds its locks briefly and no statement nears the pool's
// statement_timeout.
const PurgeBatch = 1000

// Purge deletes inbox rows processed more than olderThan ago, oldest first
// in batches of PurgeBatch, and returns how many it deleted, also when a
// batch fails. olderThan must be positive.
func Purge(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge inbox: retention must be positive, got %s", olderThan)
	}
	// One cutoff for every batch, so that the purge ends.
	var cutoff time.Time
	if err := pool.QueryRow(ctx, `SELECT now() - make_interval(secs => $1)`, olderThan.Seconds()).Scan(&cutoff); err != nil {
		return 0, fmt.Errorf("purge inbox: %w", err)
	}
	n, err := schema.DeleteInBatches(ctx, pool, PurgeBatch, `DELETE FROM inbox WHERE event_id IN (
			SELECT event_id FROM inbox WHERE processed_at < $1 ORDER BY processed_at LIMIT $2)
		AND processed_at < $1`, cutoff)
	if err != nil {
		return n, fmt.Errorf("purge inbox: %w", err)
	}
	return n, nil
}
