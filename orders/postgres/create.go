package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/orders"
	"shop/sql/groupcommit"
	"shop/sql/pgfault"
)

// Group commit of creations. An order without an idempotency key is
// created in one round trip, an implicit transaction (CreateOrder). At most
// createPipelines such transactions are in flight at once; a creation that
// arrives while they all are waits, and the creations that waited
// meanwhile go together in the next transaction: one pipeline, one commit,
// one WAL flush for several orders. At low load nothing waits and every
// order has its transaction, as before; under load the transactions grow
// with the load instead of their number.
//
// The mechanism is sql/groupcommit: the leader of a group is the creation
// that started it, and each caller runs at most one transaction, its own
// group's.
//
// A merged transaction that fails (one order the database refuses, a
// connection lost) fails none of its orders: each creation is then tried
// again alone, with its caller's context, and gets its own outcome.
// A merged transaction runs apart from its callers' contexts (one caller's
// cancellation must not fail the others' orders), bounded by
// mergedCreateTimeout.
//
// At moderate load the pipelines are mostly free, so nothing waited (at
// 500 orders a second, 1.03 to 1.06 orders per transaction). With a linger
// (WithCreateLinger; the service's ORDERS_CREATE_LINGER, 3 ms), a creation
// that finds a pipeline free but comes less than the linger after the
// creation before it waits that long before it sends, and the creations
// that come meanwhile join its group. One transaction of several orders is
// one commit and one WAL flush in Postgres and one transaction for
// Debezium to decode, and the orders' events reach Kafka together. A
// creation that comes alone (the one before is older than the linger) does
// not wait, so a quiet shop pays no latency for it. Measured back to back
// at 500/s (docs/performance.md, "Group commit and the lingers"): 1.7 orders per transaction, 6 to 7 % less CPU per order
// for the whole stack, creation p50 2.5 ms higher; 6 ms saved no more
// than 3.
//
// Within a group the orders are inserted in user order: the change-log
// trigger locks each user's counter row until the commit, and the payment
// results consumer takes the same rows in the same order (cdc/inbox applies
// a transaction's messages by key), so two transactions never wait for each
// other in a cycle.

// defaultCreatePipelines is the number of creation transactions in flight
// when WithCreatePipelines is not given.
const defaultCreatePipelines = 2

// mergedCreateTimeout bounds a merged transaction, which runs apart from
// its callers' contexts.
const mergedCreateTimeout = 10 * time.Second

// WithCreatePipelines sets how many creation transactions may be in flight
// at once before creations wait and are merged (2 by default; at least 1).
func WithCreatePipelines(n int) Option { return func(s *Store) { s.createPipelines = n } }

// WithCreateLinger sets how long a creation that finds a pipeline free
// waits for others to join its transaction, when the creation before it
// came less than d earlier (0, never, by default).
func WithCreateLinger(d time.Duration) Option { return func(s *Store) { s.createLinger = d } }

// creation is one order being created, with what its transaction reports.
type creation struct {
	order orders.Order
	// stmts inserts the order and its event.
	stmts *pgx.Batch
	// announce is what the trigger left to announce once committed.
	announce *string
}

// newCreates returns the group commit of creations without an idempotency
// key: pipelines transactions at once, lingering linger.
func (s *Store) newCreates(pipelines int, linger time.Duration) (*groupcommit.Committer[*creation], error) {
	return groupcommit.New(groupcommit.Config[*creation]{Slots: pipelines, Linger: linger}, s.commitCreations)
}

// create stores c's order and event, without an idempotency key, in a
// transaction alone or with other creations. An error means c's order is
// not stored.
func (s *Store) create(ctx context.Context, c *creation) error {
	if err := s.creates.Do(ctx, c); err != nil {
		return pgfault.From("create order", fmt.Errorf("insert order %s and its event: %w", c.order.ID, err))
	}
	return nil
}

// commitCreations is the transaction of a group of creations: one round
// trip. A merged one is bounded by mergedCreateTimeout and inserts its
// orders in user order.
func (s *Store) commitCreations(ctx context.Context, cs []*creation) error {
	if len(cs) == 1 {
		return sendCreations(ctx, s.pool, cs)
	}
	ctx, cancel := context.WithTimeout(ctx, mergedCreateTimeout)
	defer cancel()
	slices.SortStableFunc(cs, func(a, b *creation) int { return strings.Compare(a.order.UserID, b.order.UserID) })
	return sendCreations(ctx, s.pool, cs)
}

// sendCreations inserts cs's orders and events, in that order, in one
// round trip: one implicit transaction (one Sync) on a pool, or within q's
// transaction. It sets each creation's announcement; on error none is set.
func sendCreations(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, cs []*creation) error {
	batch := &pgx.Batch{}
	for i, c := range cs {
		if i > 0 {
			batch.Queue(clearAnnouncement)
		}
		for _, q := range c.stmts.QueuedQueries {
			// A queued query keeps the statement it was prepared as on
			// the connection that ran it: queue a new one for every
			// transaction (a creation may be retried on another
			// connection).
			batch.Queue(q.SQL, q.Arguments...)
		}
		batch.Queue(readAnnouncement)
	}
	br := q.SendBatch(ctx, batch)
	err := readCreations(br, cs)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		for _, c := range cs {
			c.announce = nil
		}
	}
	return err
}

func readCreations(br pgx.BatchResults, cs []*creation) error {
	for i, c := range cs {
		n := c.stmts.Len()
		if i > 0 {
			n++ // the clearing
		}
		for range n {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&c.announce); err != nil {
			return err
		}
	}
	return nil
}
