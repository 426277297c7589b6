package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/cdc/outbox"
	"shop/payments"
	"shop/proto/limits"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
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
//
// All of it is one statement, one round trip (payOrderSQL): the event of
// each possible decision is encoded beforehand, and the statement inserts
// the one it took.
func (s *Store) PayOrder(ctx context.Context, tx pgx.Tx, order payments.OrderCreated, traceparent string) (payments.Outcome, error) {
	p, err := s.payOrder(order, traceparent)
	if err != nil {
		return payments.Outcome{}, err
	}
	return p.scan(tx.QueryRow(ctx, payOrderSQL, p.args...))
}

// QueuePayOrder queues PayOrder's statement for order on b, to be sent in
// the inbox consumer's transaction with others (inbox.PipelineFunc), and
// returns the function that reads its result from the sent batch: what
// PayOrder would have returned.
func (s *Store) QueuePayOrder(b *pgx.Batch, order payments.OrderCreated, traceparent string) (func(pgx.BatchResults) (payments.Outcome, error), error) {
	p, err := s.payOrder(order, traceparent)
	if err != nil {
		return nil, err
	}
	b.Queue(payOrderSQL, p.args...)
	return func(br pgx.BatchResults) (payments.Outcome, error) { return p.scan(br.QueryRow()) }, nil
}

// payOrderStmt is payOrderSQL for one order, ready to send.
type payOrderStmt struct {
	order payments.OrderCreated
	args  []any
}

// payOrder validates order and builds its statement: the event of every
// possible decision encoded beforehand, under one new event id.
func (s *Store) payOrder(order payments.OrderCreated, traceparent string) (payOrderStmt, error) {
	if err := order.Validate(); err != nil {
		return payOrderStmt{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return payOrderStmt{}, fmt.Errorf("new event id: %w", err)
	}
	// Succeeded, insufficient funds, no account, and a recorded failure
	// without a reason (not written by this code; published as before, with
	// the reason unspecified).
	var events [4]outbox.Row
	for i, o := range []payments.Outcome{
		{Status: payments.PaymentSucceeded},
		{Status: payments.PaymentFailed, Reason: payments.FailureInsufficientFunds},
		{Status: payments.PaymentFailed, Reason: payments.FailureAccountNotFound},
		{Status: payments.PaymentFailed},
	} {
		o.OrderID, o.UserID, o.Amount = order.OrderID, order.UserID, order.Amount
		if events[i], err = outcomeEvent(id, o, traceparent).Row(); err != nil {
			return payOrderStmt{}, fmt.Errorf("publish outcome of order %s: %w", order.OrderID, err)
		}
	}
	return payOrderStmt{order: order, args: []any{order.UserID, order.Amount, order.OrderID, s.clock(),
		id, paymentsv1.AggregateType, events[0].Traceparent, events[0].Type, events[1].Type,
		events[0].Payload, events[1].Payload, events[2].Payload, events[3].Payload,
	}}, nil
}

// scan reads the statement's row: the decision, or an error.
func (p payOrderStmt) scan(row pgx.Row) (payments.Outcome, error) {
	order := p.order
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
		return payments.Outcome{}, fmt.Errorf("pay order %s (decision, debit, outcome, event): %w", order.OrderID, err)
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

// payOrderSQL is PayOrder's statement. $1 user, $2 amount, $3 order, $4 now;
// the event: $5 id, $6 aggregate type, $7 traceparent, $8 and $9 the types
// of success and failure, $10 to $13 the payloads of success, insufficient
// funds, no account and a failure without a reason.
//
// prev is the recorded decision, if any. Without one, debit takes the amount
// when the balance covers it, and the decision follows (no account is told
// from too little money by the account's row in the statement's snapshot).
// The ledger row, the recorded outcome and the event are inserted as
// decided; a replay inserts only the event, and only when the order agrees
// with the recorded decision (PayOrder fails the other case). Postgres runs
// every data-modifying part exactly once, in one snapshot.
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
	), event AS (
		INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent)
		SELECT $5, $6::text, $1,
			CASE WHEN status = 'SUCCEEDED' THEN $8::text ELSE $9::text END,
			CASE WHEN status = 'SUCCEEDED' THEN $10::jsonb
				WHEN reason = 'INSUFFICIENT_FUNDS' THEN $11::jsonb
				WHEN reason = 'ACCOUNT_NOT_FOUND' THEN $12::jsonb
				ELSE $13::jsonb END,
			$7::text
		FROM decision WHERE NOT replayed OR (prev_user = $1 AND prev_amount = $2)
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
