package postgres

import (
	"context"
	"log/slog"
	"time"

	"shop/orders"
)

// The announcement of a new order on the channel of order changes. The
// trigger leaves a watched user's new order in the transaction-local
// setting shop.order_change (sql/orders/0006); the creation reads it in the
// round trip that inserts the order (sendCreations) and announce sends it
// once the order committed. In a merged transaction each order's
// announcement is read right after its insert, and cleared before the next
// order's, so that an unwatched user's order does not read the
// announcement of the order before it.
const (
	readAnnouncement  = `SELECT current_setting('shop.order_change', true)`
	clearAnnouncement = `SELECT set_config('shop.order_change', '', true)`
)

// announceTimeout bounds the announcement of a new order.
const announceTimeout = 5 * time.Second

// announce sends payload, the announcement of the committed order o that
// the trigger left (nil or empty: nobody watches its user), on the channel
// of order changes, in a transaction of its own that writes no data: its
// commit does not wait for a WAL flush, so it holds the notification lock
// of the cluster only for a moment. (Postgres already commits a
// transaction that logged nothing before its commit record without
// waiting for the flush, whatever synchronous_commit says, measured on
// Postgres 15; the local synchronous_commit off states it for that one
// transaction and keeps it so.) A failure is logged, not returned: the
// order is committed and in the change log, and a subscriber fills a
// missing number from the log with the user's next change.
func (s *Store) announce(ctx context.Context, o orders.Order, payload *string) {
	if payload == nil || *payload == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	// One statement: one implicit transaction, whose commit the local
	// setting applies to.
	_, err := s.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`,
		changesChannel, *payload)
	if err != nil {
		s.logger.WarnContext(ctx, "order changes: announcement of a new order failed",
			slog.String("order_id", o.ID.String()), slog.String("user_id", o.UserID), slog.Any("error", err))
	}
}
