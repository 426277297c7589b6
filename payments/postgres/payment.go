package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/cdc/inbox"
	"shop/cdc/outbox"
	"shop/payments"
	"shop/proto/limits"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
)

// PayOrder decides the payment of order within tx (the inbox consumer's
// transaction, which already holds the event id in the inbox), as
// QueuePayOrder queues it, and returns the decision.
func (s *Store) PayOrder(ctx context.Context, tx pgx.Tx, order payments.OrderCreated, traceparent string) (payments.Outcome, error) {
	var out payments.Outcome
	err := inbox.Run(ctx, tx, func(q *inbox.Queue) error {
		return s.QueuePayOrder(q, order, traceparent, func(o payments.Outcome, err error) error {
			out = o
			return err
		})
	})
	return out, err
}

// QueuePayOrder queues on q the payment of order, in the inbox consumer's
// transaction (an inbox.EffectFunc's statements), and calls decided with
// the decision once read:
//
//   - an order already decided (its OrderCreated re-sent under a new event
//     id) keeps its decision: nothing is debited, the recorded outcome is
//     published again and passed with Replayed set;
//   - no account: PaymentFailed(ACCOUNT_NOT_FOUND);
//   - balance < amount: PaymentFailed(INSUFFICIENT_FUNDS), balance and ledger
//     untouched;
//   - otherwise the balance is debited, a DEBIT ledger row (unique per order)
//     written, PaymentSucceeded.
//
// The decision is recorded in payment_outcomes (one statement,
// payOrderSQL) and its event queued in the outbox (aggregateid = user id)
// once decided, through shop/cdc/outbox. traceparent, if any, travels with
// the event. An invalid order is a fault.Invalid error of QueuePayOrder;
// one that contradicts the recorded decision (other user or amount) is
// passed to decided as a fault.Invalid error, and no event is queued: it
// can never be applied. A database error is passed to decided too; what
// decided returns is the callback's error, and any error means the
// transaction must be rolled back.
func (s *Store) QueuePayOrder(q *inbox.Queue, order payments.OrderCreated, traceparent string, decided func(payments.Outcome, error) error) error {
	if err := order.Validate(); err != nil {
		return err
	}
	q.Queue(payOrderSQL, order.UserID, order.Amount, order.OrderID, s.clock()).QueryRow(func(row pgx.Row) error {
		out, err := scanDecision(row, order)
		if err != nil {
			return decided(out, err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return decided(out, fmt.Errorf("new event id: %w", err))
		}
		if err := outbox.Queue(q, outcomeEvent(id, out, traceparent)); err != nil {
			return decided(out, fmt.Errorf("publish outcome of order %s: %w", order.OrderID, err))
		}
		return decided(out, nil)
	})
	return nil
}

// scanDecision reads payOrderSQL's row for order: the decision, or an
// error.
func scanDecision(row pgx.Row, order payments.OrderCreated) (payments.Outcome, error) {
	var (
		status, prevUser string
		reason           *string
		replayed         bool
		prevAmount       int64
	)
	// A concurrent decision on the same order (its event on another
	// partition) makes the outcome's insert fail with a unique violation:
	// the whole transaction, debit included, rolls back and the retry finds
	// the recorded decision.
	if err := row.Scan(&status, &reason, &replayed, &prevUser, &prevAmount); err != nil {
		return payments.Outcome{}, fmt.Errorf("pay order %s (decision, debit, outcome): %w", order.OrderID, err)
	}
	if replayed && (prevUser != order.UserID || prevAmount != order.Amount) {
		return payments.Outcome{}, fault.Errorf(fault.Invalid, "order %s was decided for user %q amount %d, event says user %q amount %d",
			order.OrderID, prevUser, prevAmount, order.UserID, order.Amount)
	}
	decided := payments.Outcome{OrderID: order.OrderID, UserID: order.UserID, Amount: order.Amount,
		Status: payments.PaymentStatus(status), Replayed: replayed}
	if reason != nil {
		decided.Reason = payments.FailureReason(*reason)
	}
	return decided, nil
}

// payOrderSQL decides an order's payment. $1 user, $2 amount, $3 order, $4
// now.
//
// prev is the recorded decision, if any. Without one, debit takes the amount
// when the balance covers it, and the decision follows (no account is told
// from too little money by the account's row in the statement's snapshot).
// The ledger row and the recorded outcome are inserted as decided; a
// replay inserts nothing. Postgres runs every data-modifying part exactly
// once, in one snapshot.
const payOrderSQL = `WITH prev AS (
		SELECT user_id, amount, status, reason FROM payment_outcomes WHERE order_id = $3
	), debit AS (
		UPDATE accounts SET balance = balance - $2, updated_at = $4
		WHERE user_id = $1 AND balance >= $2 AND NOT EXISTS (SELECT 1 FROM prev)
		RETURNING 1
	), decision AS (
		SELECT prev.status IS NOT NULL AS replayed, prev.user_id AS prev_user, prev.amount AS prev_amount,
			CASE WHEN prev.status IS NOT NULL THEN prev.status
				WHEN EXISTS (SELECT 1 FROM debit) THEN 'SUCCEEDED'
				ELSE 'FAILED' END AS status,
			CASE WHEN prev.status IS NOT NULL THEN prev.reason
				WHEN EXISTS (SELECT 1 FROM debit) THEN NULL
				WHEN EXISTS (SELECT 1 FROM accounts WHERE user_id = $1) THEN 'INSUFFICIENT_FUNDS'
				ELSE 'ACCOUNT_NOT_FOUND' END AS reason
		FROM (VALUES (1)) AS one LEFT JOIN prev ON true
	), ledger AS (
		INSERT INTO ledger (user_id, kind, amount, order_id, created_at)
		SELECT $1, 'DEBIT', $2, $3, $4 FROM debit
	), outcome AS (
		INSERT INTO payment_outcomes (order_id, user_id, amount, status, reason, created_at)
		SELECT $3, $1, $2, status, reason, $4 FROM decision WHERE NOT replayed
	)
	SELECT status, reason, replayed, coalesce(prev_user, ''), coalesce(prev_amount, 0) FROM decision`

// outcomeEvent is the outbox event of outcome o (PaymentSucceeded or
// PaymentFailed, aggregateid = user id), with event id id.
func outcomeEvent(id uuid.UUID, o payments.Outcome, traceparent string) outbox.Event {
	ev := outbox.Event{ID: id, AggregateType: paymentsv1.AggregateType, AggregateID: o.UserID, Traceparent: traceparent}
	switch o.Status {
	case payments.PaymentSucceeded:
		ev.Type = paymentsv1.EventPaymentSucceeded
		ev.Payload = &paymentsv1.PaymentSucceeded{OrderId: o.OrderID.String(), UserId: o.UserID, Amount: o.Amount, Currency: limits.Currency}
	case payments.PaymentFailed:
		ev.Type = paymentsv1.EventPaymentFailed
		ev.Payload = &paymentsv1.PaymentFailed{OrderId: o.OrderID.String(), UserId: o.UserID, Amount: o.Amount,
			Currency: limits.Currency, Reason: failureReasonToProto(o.Reason)}
	}
	return ev
}

// failureReasonToProto converts a failure reason to its proto enum.
func failureReasonToProto(r payments.FailureReason) paymentsv1.FailureReason {
	switch r {
	case payments.FailureInsufficientFunds:
		return paymentsv1.FailureReason_FAILURE_REASON_INSUFFICIENT_FUNDS
	case payments.FailureAccountNotFound:
		return paymentsv1.FailureReason_FAILURE_REASON_ACCOUNT_NOT_FOUND
	}
	return paymentsv1.FailureReason_FAILURE_REASON_UNSPECIFIED
}
