package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
)

// The announcements on the channel of order changes, all sent after the
// change committed, never in its transaction (sql/orders/0007).
//
// The announcement of a new order. The
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

// announceChangesSQL announces the latest change of each user of $1 whom
// someone watches (order_watchers), with the payload of the trigger (0006):
// a subscriber that missed a change before it reads the gap from the log.
// One statement, one implicit transaction that writes nothing.
const announceChangesSQL = `SELECT set_config('synchronous_commit', 'off', true),
	count(pg_notify('` + changesChannel + `', json_build_object(
		'seq', c.seq,
		'id', o.id,
		'user_id', o.user_id,
		'amount', o.amount,
		'currency', o.currency,
		'description', o.description,
		'status', c.status,
		'cancel_reason', c.cancel_reason,
		'created_at', o.created_at,
		'updated_at', c.updated_at)::text))
	FROM order_change_seqs s
	JOIN order_changes c ON c.user_id = s.user_id AND c.seq = s.seq
	JOIN orders o ON o.id = c.order_id
	WHERE s.user_id = ANY($1)
	  AND EXISTS (SELECT 1 FROM order_watchers w WHERE w.user_id = s.user_id AND w.expires_at > now())`

// maxPendingAnnouncements bounds the users an Announcer holds between two
// announcements; the users of a Changed call beyond it are not announced
// (their subscribers find the changes with their poll of the log).
const maxPendingAnnouncements = 10000

// Announcer announces the status changes of orders after their commit:
// the change log's trigger records a status change but no longer notifies
// in the transaction that makes it (sql/orders/0007), so that a money
// transaction never waits on, or fails because of, Postgres' notification
// queue. Writers hand it the users whose orders changed once their
// transaction committed (Changed, which never blocks); Run announces
// them, in one statement per round, best effort: an announcement that
// fails (the queue full, the database gone) is logged and dropped, and
// the subscribers get the change from their poll of the log
// (Watcher). It is safe for concurrent use.
type Announcer struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	wake   chan struct{} // holds a token while users are pending

	mu      sync.Mutex // guards pending
	pending map[string]struct{}
}

// NewAnnouncer returns an announcer over pool. It returns an error when
// pool or logger is nil.
func NewAnnouncer(pool *pgxpool.Pool, logger *slog.Logger) (*Announcer, error) {
	if pool == nil || logger == nil {
		return nil, errors.New("order change announcer: nil pool or logger")
	}
	return &Announcer{pool: pool, logger: logger, wake: make(chan struct{}, 1), pending: map[string]struct{}{}}, nil
}

// Changed has the latest changes of users announced soon, if someone
// watches them. Call it after the transaction that changed their orders
// committed. It does not block.
func (a *Announcer) Changed(users ...string) {
	if len(users) == 0 {
		return
	}
	a.mu.Lock()
	for _, u := range users {
		if len(a.pending) >= maxPendingAnnouncements {
			break
		}
		a.pending[u] = struct{}{}
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run announces the users handed to Changed until ctx is done, then
// returns nil. The users that come while an announcement is sent go
// together in the next one.
func (a *Announcer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		}
		a.mu.Lock()
		users := make([]string, 0, len(a.pending))
		for u := range a.pending {
			users = append(users, u)
		}
		clear(a.pending)
		a.mu.Unlock()
		if err := a.announce(ctx, users); err != nil && ctx.Err() == nil {
			a.logger.WarnContext(ctx, "order changes: announcement of status changes failed",
				slog.Int("users", len(users)), slog.Any("error", err))
		}
	}
}

// announce sends the announcements of users now.
func (a *Announcer) announce(ctx context.Context, users []string) error {
	ctx, cancel := context.WithTimeout(ctx, announceTimeout)
	defer cancel()
	_, err := a.pool.Exec(ctx, announceChangesSQL, users)
	return err
}
