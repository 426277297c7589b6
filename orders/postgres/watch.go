package postgres

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
	"shop/proto/limits"
	"shop/service/fault"
)

// DefaultWatchBuffer is how many changes a subscription holds for a
// subscriber that has not taken them yet; one more drops it.
const DefaultWatchBuffer = 64

// Watcher delivers the order changes that the database announces (pg_notify
// on the channel order_changes, raised by the transaction that changes an
// order) to the subscribers of each user, in memory, over one LISTEN
// connection of its own: one per orders instance, not one per subscriber.
// Run listens; Subscribe registers a subscriber. It is safe for concurrent
// use.
//
// It is two parts: the fan-out (the LISTEN connection, the subscriptions
// and the delivery to them) and the lease (the rows of order_watchers that
// make the database announce the changes of the users this instance
// watches, and nobody else's).
//
// A subscriber that does not keep up is dropped, never waited for: one
// slow stream does not delay the others. A subscription that ends (its
// channel closed) is resumed by reading the change log (Store.ChangesAfter)
// after the last change its subscriber took: a subscription never loses a
// change silently.
//
// Notifications are wake-ups, not the record: every change is announced
// after its commit, best effort (sql/orders/0006, 0007; Announcer), so an
// announcement may be lost or come after the next change of its user. The
// watcher polls the latest change numbers of its subscribed users every
// DefaultWatchPoll, so a lost announcement delays a change by at most
// that. It keeps, per subscribed user, the number of the last change it
// delivered: an announcement numbered at or below it is dropped, and one numbered
// more than one above it is preceded by the missing changes, read from
// the change log.
type Watcher struct {
	fanout *fanout
	lease  *lease
}

// NewWatcher returns a watcher that listens on its own connection to the
// database of pool (with pool's connection settings). It returns an error
// when pool or logger is nil.
func NewWatcher(pool *pgxpool.Pool, logger *slog.Logger) (*Watcher, error) {
	if pool == nil || logger == nil {
		return nil, errors.New("order watcher: nil pool or logger")
	}
	return &Watcher{
		fanout: newFanout(pool, logger, DefaultWatchBuffer, DefaultWatchPoll),
		lease:  newLease(pool, logger),
	}, nil
}

// errWatcherStopped is what Subscribe returns once Run has returned.
var errWatcherStopped = fault.Errorf(fault.Unavailable, "the orders service is stopping")

// Run listens until ctx is done and returns nil. A lost connection ends
// every subscription (their subscribers resume from the change log) and is
// opened again after a pause of 0.5 s, doubling up to 5 s while it fails.
// When Run returns, every subscription ends and Subscribe fails.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.fanout.stop()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		w.lease.keep(ctx, w.fanout.users, w.fanout.end)
	}()
	defer func() { <-renewed }()
	w.fanout.run(ctx)
	return nil
}

// Subscribe registers a subscriber of the changes of user userID and
// returns the channel on which they arrive, in change order without a
// hole, and the function that ends the subscription (safe to call more
// than once). Every change committed after Subscribe returns arrives on
// the channel until it is closed; a change committed just before may
// arrive too. The watcher closes the channel when the subscriber falls
// more than the buffer behind, when the connection is lost, when a
// skipped change cannot be read from the log, and when Run returns.
//
// Subscribe waits for the watcher to listen, as long as ctx allows. It
// returns a fault.Invalid error for an invalid user id, a
// fault.Unavailable error once Run has returned, and ctx's error.
func (w *Watcher) Subscribe(ctx context.Context, userID string) (<-chan *orders.Change, func(), error) {
	if err := limits.UserID(userID); err != nil {
		return nil, nil, err
	}
	for {
		ch, err := w.fanout.join(ctx, userID)
		if err != nil {
			return nil, nil, err
		}
		if ch == nil {
			ch, err = w.subscribeFirst(ctx, userID)
			if errors.Is(err, errNotListening) {
				continue // wait for the next connection
			}
			if err != nil {
				return nil, nil, err
			}
		} else if err := w.lease.take(ctx, userID, nil); err != nil {
			// The user was watched already: take renews an old lease.
			w.fanout.leave(userID, ch)
			return nil, nil, err
		}
		return ch, func() { w.fanout.leave(userID, ch) }, nil
	}
}

// subscribeFirst registers the first subscriber of userID: it takes the
// user's lease and, before its commit, installs the subscription with the
// user's latest change number as the last delivered. A change committed
// before has a number at or below it and is in the log; one committed
// after is announced, after the subscription is in place. It returns
// errNotListening when the connection was lost meanwhile.
func (w *Watcher) subscribeFirst(ctx context.Context, userID string) (chan *orders.Change, error) {
	var ch chan *orders.Change
	err := w.lease.take(ctx, userID, func(latest int64) error {
		var err error
		ch, err = w.fanout.start(userID, latest)
		return err
	})
	if err != nil {
		if ch != nil {
			w.fanout.leave(userID, ch) // installed, but the commit failed
		}
		return nil, err
	}
	return ch, nil
}
