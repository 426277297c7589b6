package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/sql/pgfault"
)

// ApplyPayment applies r within tx, as QueueApplyPayment queues it, and
// returns what it did.
func (s *Store) ApplyPayment(ctx context.Context, tx pgx.Tx, r orders.PaymentResult) (orders.ApplyOutcome, error) {
	var outcome orders.ApplyOutcome
	err := inbox.Run(ctx, tx, func(q *inbox.Queue) error {
		return s.QueueApplyPayment(q, r, func(o orders.ApplyOutcome, err error) error {
			outcome = o
			return err
		})
	})
	return outcome, err
}

// QueueApplyPayment queues on q (the inbox consumer's transaction) the
// statements that move the order of r from PENDING to PAID (r.Paid) or to
// CANCELLED with r.Reason, provided the order is r's user's and for r's
// amount: a result is checked against the order it names, never trusted.
// It calls done with what they did once read: an order of another user
// (orders.OtherUsersOrder) or for another amount (orders.AmountMismatch)
// changes nothing, whatever its state: the result can never apply. A
// terminal order never changes (orders.AlreadyTerminal); an order id that
// does not exist (or is not visible yet) changes nothing
// (orders.UnknownOrder). None is an error: done decides. A database
// failure is passed to done as its error. What done returns is the
// callback's error; any error means the transaction must be rolled back.
// An invalid r is a fault.Invalid error of QueueApplyPayment.
//
// The first statement updates a PENDING order that matches; only when it
// changed nothing does a second look the order up, to tell why.
func (s *Store) QueueApplyPayment(q *inbox.Queue, r orders.PaymentResult, done func(orders.ApplyOutcome, error) error) error {
	if err := r.Validate(); err != nil {
		return err
	}
	s.queueApplyPayment(q, r, 0, done)
	return nil
}

// queueApplyPayment queues attempt number attempt of QueueApplyPayment.
func (s *Store) queueApplyPayment(q *inbox.Queue, r orders.PaymentResult, attempt int, done func(orders.ApplyOutcome, error) error) {
	q.Queue(applyPaymentSQL, r.OrderID, r.UserID, string(r.Status()), nullReason(r.Reason), s.clock(), r.Amount).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() == 1 {
			return done(orders.Applied, nil)
		}
		q.Queue(`SELECT status, user_id, amount FROM orders WHERE id = $1`, r.OrderID).QueryRow(func(row pgx.Row) error {
			var (
				status, userID string
				amount         int64
			)
			err := row.Scan(&status, &userID, &amount)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return done(orders.UnknownOrder, nil)
			case err != nil:
				return done(0, pgfault.From(fmt.Sprintf("look up order %s", r.OrderID), err))
			case userID != r.UserID:
				return done(orders.OtherUsersOrder, nil)
			case amount != r.Amount:
				return done(orders.AmountMismatch, nil)
			case status != string(orders.StatusPending):
				return done(orders.AlreadyTerminal, nil)
			case attempt == 3:
				return done(0, fmt.Errorf("apply payment to order %s: PENDING but not updatable", r.OrderID))
			}
			// An order whose commit is not yet visible to the UPDATE's
			// snapshot may be visible to the next statement's (logical
			// decoding can deliver the payment result that early): a
			// PENDING order found after a miss is updated again, never
			// reported as terminal.
			s.queueApplyPayment(q, r, attempt+1, done)
			return nil
		})
		return nil
	})
}

// applyPaymentSQL moves a PENDING order of the result's user and amount to
// the result's status.
const applyPaymentSQL = `UPDATE orders SET status = $3, cancel_reason = $4, updated_at = $5
	WHERE id = $1 AND user_id = $2 AND amount = $6 AND status = 'PENDING'`

// ParkPayment keeps r within tx, as QueueParkPayment queues it.
func (s *Store) ParkPayment(ctx context.Context, tx pgx.Tx, r orders.PaymentResult, m inbox.Message) error {
	return inbox.Run(ctx, tx, func(q *inbox.Queue) error {
		s.QueueParkPayment(q, r, m)
		return nil
	})
}

// QueueParkPayment queues on q (the consumer's inbox transaction) the
// statement that keeps r, whose order is not visible (QueueApplyPayment
// said orders.UnknownOrder), with the message m it came in, until
// ApplyParkedPayments finds its order. A result already parked is kept
// once.
func (s *Store) QueueParkPayment(q *inbox.Queue, r orders.PaymentResult, m inbox.Message) {
	var traceparent *string
	if m.Traceparent != "" {
		traceparent = &m.Traceparent
	}
	q.Queue(`INSERT INTO parked_payment_results
		(event_id, order_id, user_id, amount, paid, cancel_reason, event_type, topic, partition, "offset", key, value, traceparent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (event_id) DO NOTHING`,
		r.EventID, r.OrderID, r.UserID, r.Amount, r.Paid, nullReason(r.Reason),
		m.Type, m.Topic, m.Partition, m.Offset, m.Key, m.Value, traceparent)
}

// parkedSweepSQL selects and locks up to $1 parked results whose order
// exists, ordered by order id (so that two sweepers lock orders in one
// order, no deadlock), then as they were consumed. Each parked result looks
// its order up by the primary key: the LATERAL subquery with its LIMIT is a
// nested loop that the planner cannot turn into a join. Written as a plain
// EXISTS, the planner merge-joined the parked results with the whole
// orders_pkey, which reads the index from its first key up to the largest
// parked order id: with one result whose order never comes (it stays
// parked), every sweep read the whole index, 115 ms a second at 62,000
// orders, growing with the table.
const parkedSweepSQL = `SELECT p.event_id, p.order_id, p.user_id, p.amount, p.paid, p.cancel_reason,
		p.event_type, p.topic, p.partition, p."offset", p.key, p.value, p.traceparent, p.parked_at
	FROM parked_payment_results p
	CROSS JOIN LATERAL (SELECT 1 FROM orders o WHERE o.id = p.order_id LIMIT 1) AS found
	ORDER BY p.order_id, p.parked_at, p."offset"
	LIMIT $1
	FOR UPDATE OF p SKIP LOCKED`

// ApplyParkedPayments applies, in one transaction, up to limit parked
// payment results whose order now exists, as ApplyPayment does (with the
// same checks against the order), and removes each: one applied, one whose
// order is already terminal (ignored), and one that contradicts its order
// (another user's, another amount: orders.ApplyOutcome.Mismatch), which can
// never apply and is moved to dead_letters with its message. It returns them with what applying did,
// oldest first per order. Results whose order is still not there stay
// parked, cost one index probe each, and are not returned. Rows that a
// concurrent call holds are skipped, so several instances may sweep at once.
func (s *Store) ApplyParkedPayments(ctx context.Context, limit int) ([]orders.ParkedPayment, error) {
	var done []orders.ParkedPayment
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		done = nil
		rows, err := tx.Query(ctx, parkedSweepSQL, limit)
		if err != nil {
			return err
		}
		parked, err := pgx.CollectRows(rows, scanParked)
		if err != nil {
			return err
		}
		for _, p := range parked {
			outcome, err := s.ApplyPayment(ctx, tx, p.Result)
			if err != nil {
				return fmt.Errorf("apply parked payment result %s: %w", p.Result.EventID, err)
			}
			if outcome == orders.UnknownOrder {
				continue
			}
			if outcome.Mismatch() {
				if err := inbox.DeadLetter(ctx, tx, p.msg, p.Result.MismatchError(outcome)); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM parked_payment_results WHERE event_id = $1`, p.Result.EventID); err != nil {
				return err
			}
			p.Outcome = outcome
			done = append(done, p.ParkedPayment)
		}
		return nil
	})
	if err != nil {
		return nil, pgfault.From("apply parked payment results", err)
	}
	if s.announcer != nil {
		for _, p := range done {
			if p.Outcome == orders.Applied {
				s.announcer.Changed(p.Result.UserID)
			}
		}
	}
	return done, nil
}

// parkedRow is a parked payment result and the message it came in.
type parkedRow struct {
	orders.ParkedPayment
	msg inbox.Message
}

func scanParked(row pgx.CollectableRow) (parkedRow, error) {
	var p parkedRow
	var reason, traceparent *string
	r := &p.Result
	err := row.Scan(&r.EventID, &r.OrderID, &r.UserID, &r.Amount, &r.Paid, &reason,
		&p.msg.Type, &p.msg.Topic, &p.msg.Partition, &p.msg.Offset, &p.msg.Key, &p.msg.Value, &traceparent, &p.ParkedAt)
	if reason != nil {
		r.Reason = orders.CancelReason(*reason)
	}
	if traceparent != nil {
		p.msg.Traceparent = *traceparent
	}
	p.msg.EventID = r.EventID
	p.ParkedAt = p.ParkedAt.UTC()
	return p, err
}
