// Package paymentevents applies the payments service's events
// (PaymentSucceeded and PaymentFailed, on the payments topic) to orders: the
// Applier's Effects are the dispatch table of an inbox consumer
// (shop/cdc/inbox), which applies each event exactly once, in the
// transaction that records it. A result whose order is not visible yet is
// parked in that transaction, and the Applier's Sweep, a job of the
// service, applies it once the order exists.
package paymentevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"shop/cdc/inbox"
	"shop/orders"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
)

// Store is what the Applier needs of the orders store (postgres.Store).
type Store interface {
	// QueueApplyPayment queues on q the statements that move the order of
	// r out of PENDING and calls done with what they did, or the error,
	// once read; an invalid r is a fault.Invalid error.
	QueueApplyPayment(q *inbox.Queue, r orders.PaymentResult, done func(orders.ApplyOutcome, error) error) error
	// QueueParkPayment queues on q the statement that keeps r, whose order
	// is not visible, with its message m, for ApplyParkedPayments.
	QueueParkPayment(q *inbox.Queue, r orders.PaymentResult, m inbox.Message)
	// ApplyParkedPayments applies up to limit parked results whose order
	// now exists, removes them, and returns them with their outcome.
	ApplyParkedPayments(ctx context.Context, limit int) ([]orders.ParkedPayment, error)
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

// Effects is the dispatch table of the payments events, one entry per
// event type; its Effect is the consumer's inbox.EffectFunc, which
// dead-letters an event type not in the table.
func (a *Applier) Effects() inbox.Effects {
	return inbox.Effects{
		paymentsv1.EventPaymentSucceeded: a.effect(decodeSucceeded),
		paymentsv1.EventPaymentFailed:    a.effect(decodeFailed),
	}
}

// effect returns the inbox.EffectFunc of one event type: it decodes m with
// decode (a message it rejects is inbox.Undecodable, so that it is
// dead-lettered) and moves the order from PENDING (Store.QueueApplyPayment).
// An event for an order already PAID or CANCELLED is logged and ignored;
// one that contradicts its order (another user's order, another amount)
// can never apply and is dead-lettered, whatever the order's state. An
// event whose order is not there is parked (Store.QueueParkPayment), never
// dead-lettered: its order may not be visible yet (logical decoding hands
// out a commit as soon as it is flushed, which can be before it is visible
// to other sessions; a failover or a slow synchronous standby widens that
// window), and Sweep applies it once the order exists. Parking at once,
// rather than waiting for the order here, keeps the partition moving for
// every other user. Any other error is a database failure: the consumer
// rolls back and retries.
func (a *Applier) effect(decode func(inbox.Message) (orders.PaymentResult, error)) inbox.EffectFunc {
	return func(ctx context.Context, q *inbox.Queue, m inbox.Message) error {
		r, err := decode(m)
		if err != nil {
			return err
		}
		err = a.store.QueueApplyPayment(q, r, func(outcome orders.ApplyOutcome, err error) error {
			if err != nil {
				return failure(m, err)
			}
			return a.applied(ctx, q, m, r, outcome)
		})
		return failure(m, err)
	}
}

// failure is err, of applying m, as the consumer classifies it: a
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

// applied logs what applying r of m did, parks r on q when its order is
// not visible, and dead-letters r when it contradicts its order.
func (a *Applier) applied(ctx context.Context, q *inbox.Queue, m inbox.Message, r orders.PaymentResult, outcome orders.ApplyOutcome) error {
	attrs := paymentAttrs(m, r, outcome)
	switch outcome {
	case orders.Applied:
		a.logger.DebugContext(ctx, "payment result applied", attrs...)
	case orders.AlreadyTerminal:
		a.logger.InfoContext(ctx, "payment result ignored: order already terminal", attrs...)
	case orders.UnknownOrder:
		a.store.QueueParkPayment(q, r, m)
		a.logger.InfoContext(ctx, "payment result parked: its order is not visible yet", attrs...)
	default:
		// Another user's order or another amount: the result is not this
		// order's payment, and may be forged. It changes nothing; the
		// consumer logs the dead letter.
		return inbox.Undecodable(r.MismatchError(outcome))
	}
	return nil
}

// paymentAttrs are the attributes of a log of result r of message m.
func paymentAttrs(m inbox.Message, r orders.PaymentResult, outcome orders.ApplyOutcome) []any {
	return []any{
		slog.String("event_id", r.EventID.String()),
		slog.String("event_type", m.Type),
		slog.String("order_id", r.OrderID.String()),
		slog.String("outcome", outcome.String()),
	}
}

// SweepInterval is how often Sweep should run: a parked result is applied
// at most about this long after its order becomes visible. A sweep with
// nothing parked is one query on an empty table.
const SweepInterval = time.Second

// sweepBatch bounds the parked results applied in one transaction.
const sweepBatch = 100

// Sweep applies the parked payment results whose order now exists, with
// ApplyPayment's rule (only a PENDING order changes), in transactions of at
// most sweepBatch results, until none is left to apply; each applied,
// ignored (order already terminal) or dead-lettered (it contradicts its
// order: another user's, another amount) result is logged and no longer
// parked. Results whose order is still not
// there stay parked. It is the function of a service.Every job; an error is
// a database failure, and the next run retries. Safe for concurrent use,
// also by several instances.
func (a *Applier) Sweep(ctx context.Context) error {
	for {
		done, err := a.store.ApplyParkedPayments(ctx, sweepBatch)
		if err != nil {
			return fmt.Errorf("sweep parked payment results: %w", err)
		}
		for _, p := range done {
			attrs := []any{
				slog.String("event_id", p.Result.EventID.String()),
				slog.String("order_id", p.Result.OrderID.String()),
				slog.String("outcome", p.Outcome.String()),
				slog.Duration("parked_for", time.Since(p.ParkedAt)),
			}
			switch p.Outcome {
			case orders.Applied:
				a.logger.InfoContext(ctx, "parked payment result applied", attrs...)
			case orders.AlreadyTerminal:
				a.logger.InfoContext(ctx, "parked payment result removed: order already terminal", attrs...)
			default:
				a.logger.WarnContext(ctx, "parked payment result dead-lettered: it can never apply", attrs...)
			}
		}
		if len(done) < sweepBatch || ctx.Err() != nil {
			return nil
		}
	}
}
