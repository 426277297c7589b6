// Package orderevents applies the orders service's events (OrderCreated, on
// the orders topic) to payments: it decides the payment of each order. The
// Applier's Effects are the dispatch table of an inbox consumer
// (shop/cdc/inbox), which applies each event exactly once, in the
// transaction that records it.
package orderevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"shop/cdc/inbox"
	"shop/payments"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
	"shop/service/tracing"
)

// Store is what the Applier needs of the payments store (postgres.Store).
type Store interface {
	// QueuePayOrder queues on q the decision on order, its record and its
	// event, and calls decided with the decision or the error once read;
	// an invalid order, or one that contradicts the recorded decision, is
	// a fault.Invalid error.
	QueuePayOrder(q *inbox.Queue, order payments.OrderCreated, traceparent string, decided func(payments.Outcome, error) error) error
}

// Applier pays orders through the payments store. It is safe for concurrent
// use.
type Applier struct {
	store  Store
	logger *slog.Logger
}

// New returns an Applier. It returns an error when a dependency is missing.
func New(store Store, logger *slog.Logger) (*Applier, error) {
	if store == nil || logger == nil {
		return nil, errors.New("order events: missing store or logger")
	}
	return &Applier{store: store, logger: logger}, nil
}

// Effects is the dispatch table of the orders events, one entry per event
// type; its Effect is the consumer's inbox.EffectFunc, which dead-letters
// an event type not in the table.
func (a *Applier) Effects() inbox.Effects {
	return inbox.Effects{
		ordersv1.EventOrderCreated: a.orderCreated,
	}
}

// causeTraceparent is the traceparent of the outcome's event: it continues
// the trace from this consumer's span (the message's own traceparent when
// it is applied without one).
func causeTraceparent(ctx context.Context, m inbox.Message) string {
	if tp := tracing.Traceparent(ctx); tp != "" {
		return tp
	}
	return m.Traceparent
}

// decided logs the decision out on m.
func (a *Applier) decided(ctx context.Context, m inbox.Message, out payments.Outcome) {
	a.logger.LogAttrs(ctx, slog.LevelDebug, "order decided",
		slog.String("event_id", m.EventID.String()), slog.String("order_id", out.OrderID.String()),
		slog.String("user_id", out.UserID), slog.String("status", string(out.Status)),
		slog.String("reason", string(out.Reason)), slog.Bool("replayed", out.Replayed))
}

// orderCreated decodes an OrderCreated and queues the decision on its
// payment on q (postgres.Store.QueuePayOrder). A message that does not
// decode, or an order that can never be paid (it contradicts the recorded
// decision), is inbox.Undecodable, so that it is dead-lettered. Any other
// error is a database failure: the consumer rolls back and retries.
func (a *Applier) orderCreated(ctx context.Context, q *inbox.Queue, m inbox.Message) error {
	order, err := decodeOrderCreated(m)
	if err != nil {
		return err
	}
	return failure(m, a.store.QueuePayOrder(q, order, causeTraceparent(ctx, m), func(out payments.Outcome, err error) error {
		if err != nil {
			return failure(m, err)
		}
		a.decided(ctx, m, out)
		return nil
	}))
}

// failure is err, of paying m's order, as the consumer classifies it: a
// fault.Invalid error is inbox.Undecodable.
func failure(m inbox.Message, err error) error {
	if fault.KindOf(err) == fault.Invalid {
		return inbox.Undecodable(err)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", m.Type, m.EventID, err)
	}
	return nil
}
