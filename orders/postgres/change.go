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
