package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
	"shop/proto/limits"
	"shop/service/fault"
	schema "shop/sql"
	"shop/sql/pgfault"
)

// The order's change log (sql/orders/0005_order_changes.sql): a trigger
// numbers every change of an order per user, keeps it in order_changes and
// announces it on the channel changesChannel.

// changesChannel is the LISTEN/NOTIFY channel of order changes.
const changesChannel = "order_changes"

// LatestChange returns the user's latest change number, 0 when the user
// has no order. An invalid user id is a fault.Invalid error.
func (s *Store) LatestChange(ctx context.Context, userID string) (int64, error) {
	if err := limits.UserID(userID); err != nil {
		return 0, err
	}
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM order_change_seqs WHERE user_id = $1`, userID).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, pgfault.From("latest order change", err)
	}
	return seq, nil
}

// ChangeRetention is how long the change log keeps a change: a stream
// that resumes from a change older than that (a client away for a week)
// gets the current state instead of the history (WatchOrders' reset).
// A week covers a device switched off over a holiday; the log stays a
// small multiple of a week's orders.
const ChangeRetention = 7 * 24 * time.Hour

// changePurgeBatch bounds the changes one statement of PurgeChanges
// deletes.
const changePurgeBatch = 5000

// PurgeChanges deletes the changes made more than olderThan ago (by the
// store's clock), in statements of at most changePurgeBatch rows, and
// returns how many it deleted. The counters of the users (their latest
// change number) stay. A non-positive olderThan is an error.
func (s *Store) PurgeChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge order changes: retention must be positive, got %s", olderThan)
	}
	n, err := schema.DeleteInBatches(ctx, s.pool, changePurgeBatch, `DELETE FROM order_changes WHERE (user_id, seq) IN (
			SELECT user_id, seq FROM order_changes WHERE updated_at < $1 LIMIT $2)`, s.clock().Add(-olderThan))
	if err != nil {
		return n, pgfault.From("purge order changes", err)
	}
	return n, nil
}

// OldestChange returns the number of the user's oldest change still in the
// log, 0 when the log holds none of the user's changes. An invalid user id
// is a fault.Invalid error.
func (s *Store) OldestChange(ctx context.Context, userID string) (int64, error) {
	if err := limits.UserID(userID); err != nil {
		return 0, err
	}
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(min(seq), 0) FROM order_changes WHERE user_id = $1`, userID).Scan(&seq)
	if err != nil {
		return 0, pgfault.From("oldest order change", err)
	}
	return seq, nil
}

// ChangesAfter returns the user's changes numbered above after, at most
// limit of them, in change order. Each carries the order as that change
// left it. An invalid user id, a negative after or a limit below 1 is a
// fault.Invalid error.
func (s *Store) ChangesAfter(ctx context.Context, userID string, after int64, limit int) ([]orders.Change, error) {
	if err := limits.UserID(userID); err != nil {
		return nil, err
	}
	if after < 0 || limit < 1 {
		return nil, fault.Errorf(fault.Invalid, "change number must not be negative")
	}
	return readChanges(ctx, s.pool, userID, after, limit)
}

// readChanges is ChangesAfter without the checks of its arguments.
func readChanges(ctx context.Context, pool *pgxpool.Pool, userID string, after int64, limit int) ([]orders.Change, error) {
	rows, _ := pool.Query(ctx, `SELECT c.seq, o.id, o.user_id, o.amount, o.currency, o.description,
			c.status, c.cancel_reason, o.created_at, c.updated_at
		FROM order_changes c JOIN orders o ON o.id = c.order_id
		WHERE c.user_id = $1 AND c.seq > $2
		ORDER BY c.seq LIMIT $3`, userID, after, limit)
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orders.Change, error) {
		var (
			c                orders.Change
			status           string
			reason           *string
			created, updated time.Time
		)
		o := &c.Order
		err := row.Scan(&c.Seq, &o.ID, &o.UserID, &o.Amount, &o.Currency, &o.Description, &status, &reason, &created, &updated)
		o.Status = orders.Status(status)
		if reason != nil {
			o.CancelReason = orders.CancelReason(*reason)
		}
		o.CreatedAt, o.UpdatedAt = created.UTC(), updated.UTC()
		return c, err
	})
	if err != nil {
		return nil, pgfault.From(fmt.Sprintf("read order changes of %q after %d", userID, after), err)
	}
	return list, nil
}
