// Package paymentevents applies the payments service's events
// (PaymentSucceeded, PaymentFailed on payments.events) to orders. It plugs
// into the inbox consumer of shop/cdc/inbox, which provides exactly-once
// application.
package paymentevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/orders/postgres"
	paymentsv1 "shop/proto/payments/v1"
)

// Event types, as in the header eventType.
const (
	TypePaymentSucceeded = "PaymentSucceeded"
	TypePaymentFailed    = "PaymentFailed"
)

// unmarshal ignores unknown fields, so that the producer may add fields
// without dead-lettering every event.
var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// Decode turns a message into a payment result. It returns an error for a
// missing event id, an unknown event type, JSON that is not the event, and
// invalid fields (order id not a UUID, bad user id, amount out of range,
// currency other than RUB, a failure without a known reason).
func Decode(m inbox.Message) (orders.PaymentResult, error) {
	var (
		r                         orders.PaymentResult
		orderID, userID, currency string
		amount                    int64
	)
	switch m.Type {
	case TypePaymentSucceeded:
		var e paymentsv1.PaymentSucceeded
		if err := unmarshal.Unmarshal(m.Value, &e); err != nil {
			return r, fmt.Errorf("decode %s: %w", m.Type, err)
		}
		orderID, userID, amount, currency = e.GetOrderId(), e.GetUserId(), e.GetAmount(), e.GetCurrency()
		r.Paid = true
	case TypePaymentFailed:
		var e paymentsv1.PaymentFailed
		if err := unmarshal.Unmarshal(m.Value, &e); err != nil {
			return r, fmt.Errorf("decode %s: %w", m.Type, err)
		}
		orderID, userID, amount, currency = e.GetOrderId(), e.GetUserId(), e.GetAmount(), e.GetCurrency()
		switch e.GetReason() {
		case paymentsv1.FailureReason_FAILURE_REASON_INSUFFICIENT_FUNDS:
			r.Reason = orders.CancelReasonInsufficientFunds
		case paymentsv1.FailureReason_FAILURE_REASON_ACCOUNT_NOT_FOUND:
			r.Reason = orders.CancelReasonAccountNotFound
		default:
			return r, fmt.Errorf("decode %s: unknown failure reason %v", m.Type, e.GetReason())
		}
	default:
		return r, fmt.Errorf("unknown event type %q", m.Type)
	}
	if m.EventID == uuid.Nil {
		return r, errors.New("missing event id")
	}
	id, err := orders.ParseOrderID(orderID)
	if err != nil {
		return r, fmt.Errorf("decode %s: order_id %q: %w", m.Type, orderID, err)
	}
	if err := orders.ValidateAmount(amount); err != nil {
		return r, fmt.Errorf("decode %s: %w", m.Type, err)
	}
	if currency != orders.Currency {
		return r, fmt.Errorf("decode %s: currency %q, want %q", m.Type, currency, orders.Currency)
	}
	r.EventID, r.OrderID, r.UserID, r.Amount = m.EventID, id, userID, amount
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("decode %s: %w", m.Type, err)
	}
	return r, nil
}

// Applier applies payment results to the orders store.
type Applier struct {
	store  *postgres.Store
	logger *slog.Logger
}

// NewApplier returns an Applier. It returns an error when a dependency is
// missing.
func NewApplier(store *postgres.Store, logger *slog.Logger) (*Applier, error) {
	if store == nil || logger == nil {
		return nil, errors.New("payment events: missing store or logger")
	}
	return &Applier{store: store, logger: logger}, nil
}

// unknownOrderWait is how long Apply keeps looking for the order of a
// payment result. Logical decoding hands out a transaction as soon as its
// commit record is flushed, which on a loaded machine can be before the
// committing backend has made it visible to other sessions: a payment
// result can come back before its order is visible here.
const unknownOrderWait = 3 * time.Second

// Apply is an inbox.ApplyFunc. It decodes m (a message that Decode rejects
// is returned as inbox.Undecodable, so that it is dead-lettered) and moves
// the order from PENDING within tx. An event for an order already PAID or
// CANCELLED is logged and ignored. An event whose order is still not there
// after unknownOrderWait is dead-lettered (kept, never silently dropped).
// Any other error is a database failure: the consumer rolls back and
// retries.
func (a *Applier) Apply(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
	r, err := Decode(m)
	if err != nil {
		return inbox.Undecodable(err)
	}
	outcome, err := a.store.ApplyPayment(ctx, tx, r)
	// Each statement of a READ COMMITTED transaction takes a new snapshot,
	// so asking again inside tx sees an order that became visible since.
	for deadline := time.Now().Add(unknownOrderWait); err == nil && outcome == postgres.UnknownOrder && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		outcome, err = a.store.ApplyPayment(ctx, tx, r)
	}
	if orders.KindOf(err) == orders.KindInvalid {
		return inbox.Undecodable(err)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", m.Type, m.EventID, err)
	}
	attrs := []any{
		slog.String("event_id", r.EventID.String()),
		slog.String("event_type", m.Type),
		slog.String("order_id", r.OrderID.String()),
		slog.String("outcome", outcome.String()),
	}
	switch outcome {
	case postgres.Applied:
		a.logger.DebugContext(ctx, "payment result applied", attrs...)
	case postgres.AlreadyTerminal:
		a.logger.InfoContext(ctx, "payment result ignored: order already terminal", attrs...)
	default:
		a.logger.WarnContext(ctx, "payment result for an unknown order: dead-lettered", attrs...)
		return inbox.Undecodable(fmt.Errorf("payment result for unknown order %s of user %q", r.OrderID, r.UserID))
	}
	return nil
}
