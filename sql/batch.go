package schema

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DeleteInBatches runs query, a DELETE of at most batch rows, again and
// again until one run deletes fewer than batch, and returns how many rows
// it deleted in all (also when a later run fails). batch is passed as the
// last argument, after args: the query limits its subselect with it. Each
// run is its own statement, so a backlog is purged without one long
// statement or long-held locks; the query must converge (a fixed cutoff),
// or the loop would not end.
func DeleteInBatches(ctx context.Context, db Execer, batch int, query string, args ...any) (int64, error) {
	args = append(args, batch)
	var total int64
	for {
		tag, err := db.Exec(ctx, query, args...)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}
