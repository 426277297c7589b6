// Package paymentevents applies the payments service's events
// (PaymentSucceeded and PaymentFailed, on the payments topic) to orders: the
// Applier's Handlers are the dispatch table of an inbox consumer
// (shop/cdc/inbox), which applies each event exactly once, in the
// transaction that records it.
package paymentevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/cdc/inbox"
	"shop/orders"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
)

// Store is what the Applier needs of the orders store (postgres.Store).
type Store interface {
	// ApplyPayment moves the order of r out of PENDING within tx and says
	// what it did; an invalid r is a fault.Invalid error.
	ApplyPayment(ctx context.Context, tx pgx.Tx, r orders.PaymentResult) (orders.ApplyOutcome, error)
}

// Applier applies payment results to the orders store. It is safe for
// concurrent use.
type Applier struct {
	store  Store
	logger *slog.Logger
}

// New returns an Applier. It returns an error when a dependency is missing.
func New(store Store, logger *slog.Logger) (*Applier, error) {
	if store == nil || logger == nil {
		return nil, errors.New("payment events: missing store or logger")
	}
	return &Applier{store: store, logger: logger}, nil
}

// Handlers is the dispatch table of the payments events, one entry per
// event type; its Apply is the consumer's inbox.ApplyFunc, which
// dead-letters an event type not in the table.
func (a *Applier) Handlers() inbox.Handlers {
	return inbox.Handlers{
		paymentsv1.EventPaymentSucceeded: a.handle(decodeSucceeded),
		paymentsv1.EventPaymentFailed:    a.handle(decodeFailed),
	}
}

// unknownOrderWait is how long a handler keeps looking for the order of a
// payment result. Logical decoding hands out a transaction as soon as its
// commit record is flushed, which on a loaded machine can be before the
// committing backend has made it visible to other sessions: a payment
// result can come back before its order is visible here.
const unknownOrderWait = 3 * time.Second

// handle returns the inbox.ApplyFunc of one event type: it decodes m with
// decode (a message it rejects is inbox.Undecodable, so that it is
// dead-lettered) and moves the order from PENDING within tx. An event for an
// order already PAID or CANCELLED is logged and ignored. An event whose
// order is still not there after unknownOrderWait is dead-lettered (kept,
// never silently dropped). Any other error is a database failure: the
// consumer rolls back and retries.
func (a *Applier) handle(decode func(inbox.Message) (orders.PaymentResult, error)) inbox.ApplyFunc {
	return func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		r, err := decode(m)
		if err != nil {
			return err
		}
		return a.apply(ctx, tx, m, r)
	}
}

func (a *Applier) apply(ctx context.Context, tx pgx.Tx, m inbox.Message, r orders.PaymentResult) error {
	outcome, err := a.store.ApplyPayment(ctx, tx, r)
	// Each statement of a READ COMMITTED transaction takes a new snapshot,
	// so asking again inside tx sees an order that became visible since.
	for deadline := time.Now().Add(unknownOrderWait); err == nil && outcome == orders.UnknownOrder && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		outcome, err = a.store.ApplyPayment(ctx, tx, r)
	}
	if fault.KindOf(err) == fault.Invalid {
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
	case orders.Applied:
		a.logger.DebugContext(ctx, "payment result applied", attrs...)
	case orders.AlreadyTerminal:
		a.logger.InfoContext(ctx, "payment result ignored: order already terminal", attrs...)
	default:
		a.logger.WarnContext(ctx, "payment result for an unknown order: dead-lettered", attrs...)
		return inbox.Undecodable(fmt.Errorf("payment result for unknown order %s of user %q", r.OrderID, r.UserID))
	}
	return nil
}
