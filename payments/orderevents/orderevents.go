// Package orderevents applies the orders service's events (OrderCreated, on
// the orders topic) to payments: it decides the payment of each order. The
// Applier's Handlers are the dispatch table of an inbox consumer
// (shop/cdc/inbox), which applies each event exactly once, in the
// transaction that records it.
package orderevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"shop/cdc/inbox"
	"shop/payments"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
	"shop/service/tracing"
)

// Store is what the Applier needs of the payments store (postgres.Store).
type Store interface {
	// PayOrder decides the payment of order within tx and records the
	// decision and its event; an invalid order, or one that contradicts the
	// recorded decision, is a fault.Invalid error.
	PayOrder(ctx context.Context, tx pgx.Tx, order payments.OrderCreated, traceparent string) (payments.Outcome, error)
	// QueuePayOrder queues PayOrder's statement on b and returns the
	// function that reads its outcome from the sent batch.
	QueuePayOrder(b *pgx.Batch, order payments.OrderCreated, traceparent string) (func(pgx.BatchResults) (payments.Outcome, error), error)
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

// Handlers is the dispatch table of the orders events, one entry per event
// type; its Apply is the consumer's inbox.ApplyFunc, which dead-letters an
// event type not in the table.
func (a *Applier) Handlers() inbox.Handlers {
	return inbox.Handlers{
		ordersv1.EventOrderCreated: a.orderCreated,
	}
}

// Pipelines is the consumer's table of pipelined effects
// (inbox.PipelineFunc): an OrderCreated's payment is one statement, queued
// with the rest of its transaction.
func (a *Applier) Pipelines() inbox.Pipelines {
	return inbox.Pipelines{
		ordersv1.EventOrderCreated: a.queueOrderCreated,
	}
}

// queueOrderCreated queues the payment of an OrderCreated on b, as
// orderCreated applies it. A message that does not decode is left to
// orderCreated (inbox.ErrNotPipelined).
func (a *Applier) queueOrderCreated(ctx context.Context, m inbox.Message, b *pgx.Batch) (inbox.ReadFunc, error) {
	order, err := decodeOrderCreated(m)
	if err != nil {
		return nil, inbox.ErrNotPipelined
	}
	read, err := a.store.QueuePayOrder(b, order, causeTraceparent(ctx, m))
	if err != nil {
		return nil, inbox.ErrNotPipelined
	}
	return func(br pgx.BatchResults) error {
		out, err := read(br)
		if err != nil {
			return err
		}
		a.decided(ctx, m, out)
		return nil
	}, nil
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

// orderCreated decodes an OrderCreated and decides its payment within tx
// (postgres.Store.PayOrder). A message that does not decode, or an order
// that can never be paid (it contradicts the recorded decision), is
// inbox.Undecodable, so that it is dead-lettered. Any other error is a
// database failure: the consumer rolls back and retries.
func (a *Applier) orderCreated(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
	order, err := decodeOrderCreated(m)
	if err != nil {
		return err
	}
	out, err := a.store.PayOrder(ctx, tx, order, causeTraceparent(ctx, m))
	if fault.KindOf(err) == fault.Invalid {
		return inbox.Undecodable(err)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", m.Type, m.EventID, err)
	}
	a.decided(ctx, m, out)
	return nil
}
