package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/cdc/outbox"
	"shop/payments"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
	"shop/service/limits"
)

// PayOrder decides the payment of order within tx (the inbox consumer's
// transaction, which already holds the event id in the inbox):
//
//   - an order already decided (its OrderCreated re-sent under a new event
//     id) keeps its decision: nothing is debited, the recorded outcome is
//     published again and returned with Replayed set;
//   - no account: PaymentFailed(ACCOUNT_NOT_FOUND);
//   - balance < amount: PaymentFailed(INSUFFICIENT_FUNDS), balance and ledger
//     untouched;
//   - otherwise the balance is debited, a DEBIT ledger row (unique per order)
//     written, PaymentSucceeded.
//
// The decision is recorded in payment_outcomes and its event in the outbox
// (aggregateid = user id), both in tx. traceparent, if any, travels with the
// event. An invalid order, or one that contradicts the recorded decision
// (other user or amount), is a fault.Invalid error: it can never be applied.
// Any other error is transient and tx must be rolled back.
func (s *Store) PayOrder(ctx context.Context, tx pgx.Tx, order payments.OrderCreated, traceparent string) (payments.Outcome, error) {
	if err := order.Validate(); err != nil {
		return payments.Outcome{}, err
	}
	now := s.clock()
	prev, found, debited, err := decide(ctx, tx, order, now)
	if err != nil {
		return payments.Outcome{}, err
	}
	if found {
		if prev.UserID != order.UserID || prev.Amount != order.Amount {
			return payments.Outcome{}, fault.Errorf(fault.Invalid, "order %s was decided for user %q amount %d, event says user %q amount %d",
				order.OrderID, prev.UserID, prev.Amount, order.UserID, order.Amount)
		}
		prev.Replayed = true
		batch := &pgx.Batch{}
		if err := queueOutcomeEvent(batch, prev, traceparent); err != nil {
			return payments.Outcome{}, err
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return payments.Outcome{}, fmt.Errorf("publish outcome of order %s again: %w", order.OrderID, err)
		}
		return prev, nil
	}

	out := payments.Outcome{OrderID: order.OrderID, UserID: order.UserID, Amount: order.Amount, Status: payments.PaymentSucceeded}
	// The writes that follow the decision go in one round trip.
	batch := &pgx.Batch{}
	if debited {
		batch.Queue(`INSERT INTO ledger (user_id, kind, amount, order_id, created_at)
			VALUES ($1, 'DEBIT', $2, $3, $4)`, order.UserID, order.Amount, order.OrderID, now)
	} else {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE user_id = $1)`, order.UserID).Scan(&exists); err != nil {
			return payments.Outcome{}, fmt.Errorf("check account %s: %w", order.UserID, err)
		}
		out.Status, out.Reason = payments.PaymentFailed, payments.FailureInsufficientFunds
		if !exists {
			out.Reason = payments.FailureAccountNotFound
		}
	}
	var reason *string
	if out.Reason != "" {
		r := string(out.Reason)
		reason = &r
	}
	// A concurrent decision on the same order (its event on another
	// partition) makes this insert fail with a unique violation: the whole
	// transaction, debit included, rolls back and the retry finds the
	// recorded decision.
	batch.Queue(`INSERT INTO payment_outcomes (order_id, user_id, amount, status, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, out.OrderID, out.UserID, out.Amount, string(out.Status), reason, now)
	if err := queueOutcomeEvent(batch, out, traceparent); err != nil {
		return payments.Outcome{}, err
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return payments.Outcome{}, fmt.Errorf("record outcome of order %s (debit, outcome, event): %w", order.OrderID, err)
	}
	return out, nil
}

// decide reads the decision recorded for order within tx and, when there
// is none, debits the order's amount from its user's account if the balance
// covers it, in one statement (one round trip): found reports a recorded
// decision (prev), debited a debit made now. Neither means no account or
// too little money.
func decide(ctx context.Context, tx pgx.Tx, order payments.OrderCreated, now time.Time) (prev payments.Outcome, found, debited bool, err error) {
	var (
		userID         *string
		amount         *int64
		status, reason *string
	)
	err = tx.QueryRow(ctx, `WITH prev AS (
			SELECT user_id, amount, status, reason FROM payment_outcomes WHERE order_id = $3
		), debit AS (
			UPDATE accounts SET balance = balance - $2, updated_at = $4
			WHERE user_id = $1 AND balance >= $2 AND NOT EXISTS (SELECT 1 FROM prev)
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM debit), prev.user_id, prev.amount, prev.status, prev.reason
		FROM (VALUES (1)) AS one LEFT JOIN prev ON true`,
		order.UserID, order.Amount, order.OrderID, now).Scan(&debited, &userID, &amount, &status, &reason)
	if err != nil {
		return payments.Outcome{}, false, false, fmt.Errorf("decide order %s (recorded outcome, debit of %s): %w", order.OrderID, order.UserID, err)
	}
	if status == nil {
		return payments.Outcome{}, false, debited, nil
	}
	prev = payments.Outcome{OrderID: order.OrderID, UserID: *userID, Amount: *amount, Status: payments.PaymentStatus(*status)}
	if reason != nil {
		prev.Reason = payments.FailureReason(*reason)
	}
	return prev, true, false, nil
}

// queueOutcomeEvent adds the outbox insert of the outcome's event
// (PaymentSucceeded or PaymentFailed, aggregateid = user id) to batch.
func queueOutcomeEvent(batch *pgx.Batch, o payments.Outcome, traceparent string) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("new event id: %w", err)
	}
	ev := outbox.Event{ID: id, AggregateType: paymentsv1.AggregateType, AggregateID: o.UserID, Traceparent: traceparent}
	switch o.Status {
	case payments.PaymentSucceeded:
		ev.Type = paymentsv1.EventPaymentSucceeded
		ev.Payload = &paymentsv1.PaymentSucceeded{OrderId: o.OrderID.String(), UserId: o.UserID, Amount: o.Amount, Currency: limits.Currency}
	case payments.PaymentFailed:
		ev.Type = paymentsv1.EventPaymentFailed
		ev.Payload = &paymentsv1.PaymentFailed{OrderId: o.OrderID.String(), UserId: o.UserID, Amount: o.Amount,
			Currency: limits.Currency, Reason: failureReasonToProto(o.Reason)}
	default:
		return fmt.Errorf("outcome of order %s: unknown status %q", o.OrderID, o.Status)
	}
	if err := outbox.Queue(batch, ev); err != nil {
		return fmt.Errorf("publish outcome of order %s: %w", o.OrderID, err)
	}
	return nil
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
