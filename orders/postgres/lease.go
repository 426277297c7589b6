package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/sql/pgfault"
)

// lease keeps the rows of one orders instance in order_watchers: a row per
// user the instance has subscribers of, which makes the writers announce
// that user's changes after their commit (sql/orders/0006, 0007). A row lives watchTTL after it was
// last written; the instance renews the rows of its watched users every
// watchRefresh, and a row that expired anyway (the instance stalled) ends
// the user's subscriptions, since changes may have gone unannounced. It is
// safe for concurrent use.
type lease struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	instance uuid.UUID // this instance's rows in order_watchers

	// mu serializes the writes of the rows and guards written.
	mu sync.Mutex
	// written is when the row of each user was last written, by the
	// local clock; a row older than watchTTL/2 is written again.
	written map[string]time.Time
}

// watchTTL is how long a row of order_watchers lives unless renewed; the
// rows of the watched users are renewed every watchRefresh.
const (
	watchTTL     = 10 * time.Minute
	watchRefresh = time.Minute
)

func newLease(pool *pgxpool.Pool, logger *slog.Logger) *lease {
	return &lease{pool: pool, logger: logger, instance: uuid.New(), written: map[string]time.Time{}}
}

// take makes the changes of userID announced to this instance from the
// commit on: it writes the user's row, to expire in watchTTL, in a
// transaction that locks the user's counter row (see the migration), so a
// change that commits after take returns is announced and one that commits
// before is in the log. Within that transaction, before the commit, it
// calls install (when not nil) with the user's latest change number, and
// returns install's error unchanged. Without install, a row written less
// than watchTTL/2 ago is not written again. Other errors are mapped with
// pgfault.
func (l *lease) take(ctx context.Context, userID string, install func(latest int64) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.written[userID]; ok && install == nil && time.Since(at) < watchTTL/2 {
		return nil
	}
	start := time.Now()
	var installErr error
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var latest int64
		if err := tx.QueryRow(ctx, `INSERT INTO order_change_seqs AS c (user_id, seq) VALUES ($1, 0)
			ON CONFLICT (user_id) DO UPDATE SET seq = c.seq RETURNING c.seq`, userID).Scan(&latest); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO order_watchers (user_id, instance, expires_at)
			VALUES ($1, $2, now() + make_interval(secs => $3))
			ON CONFLICT (user_id, instance) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
			userID, l.instance, watchTTL.Seconds()); err != nil {
			return err
		}
		if install != nil {
			installErr = install(latest)
			return installErr
		}
		return nil
	})
	if installErr != nil {
		return installErr
	}
	if err != nil {
		return pgfault.From(fmt.Sprintf("register watcher of %q", userID), err)
	}
	l.written[userID] = start
	return nil
}

// keep renews the rows of the users watched returns, every watchRefresh
// until ctx is done; see renew.
func (l *lease) keep(ctx context.Context, watched func() []string, lapsed func(userID string)) {
	t := time.NewTicker(watchRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.renew(ctx, watched, lapsed); err != nil && ctx.Err() == nil {
			l.logger.WarnContext(ctx, "order changes: refresh of watched users failed", slog.Any("error", err))
		}
	}
}

// renew moves on the expiry of the rows of the users watched returns,
// forgets the users no longer watched (their rows expire) and deletes rows
// expired a while ago. For a watched user whose row had expired, it calls
// lapsed: the user's subscribers must resume from the log, and their next
// take writes the row again.
func (l *lease) renew(ctx context.Context, watched func() []string, lapsed func(userID string)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	users := watched()
	watching := make(map[string]bool, len(users))
	for _, u := range users {
		watching[u] = true
	}
	for u := range l.written {
		if !watching[u] {
			delete(l.written, u)
		}
	}
	start := time.Now()
	rows, _ := l.pool.Query(ctx, `UPDATE order_watchers SET expires_at = now() + make_interval(secs => $3)
		WHERE instance = $1 AND user_id = ANY($2) AND expires_at > now()
		RETURNING user_id`, l.instance, users, watchTTL.Seconds())
	alive, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	kept := make(map[string]bool, len(alive))
	for _, u := range alive {
		kept[u] = true
	}
	for _, u := range users {
		if kept[u] {
			l.written[u] = start
			continue
		}
		delete(l.written, u)
		lapsed(u)
	}
	_, err = l.pool.Exec(ctx, `DELETE FROM order_watchers WHERE expires_at < now() - interval '1 minute'`)
	return err
}
