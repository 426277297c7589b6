package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"

	"shop/cdc/inbox"
	"shop/payments"
	"shop/payments/postgres"
	ordersv1 "shop/proto/orders/v1"
)

// EventOrderCreated is the eventType header of the events paid here.
const EventOrderCreated = "OrderCreated"

// decodeOrderCreated decodes an orders.events message. Every error is
// permanent for the message (wrapped with inbox.Undecodable): wrong event
// type, malformed or unknown JSON fields, invalid values.
func decodeOrderCreated(m inbox.Message) (payments.OrderCreated, error) {
	if m.Type != EventOrderCreated {
		return payments.OrderCreated{}, inbox.Undecodable(fmt.Errorf("unknown event type %q", m.Type))
	}
	var ev ordersv1.OrderCreated
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(m.Value, &ev); err != nil {
		return payments.OrderCreated{}, inbox.Undecodable(fmt.Errorf("decode OrderCreated: %w", err))
	}
	id, err := uuid.Parse(ev.GetOrderId())
	if err != nil {
		return payments.OrderCreated{}, inbox.Undecodable(fmt.Errorf("order_id %q: %w", ev.GetOrderId(), err))
	}
	o := payments.OrderCreated{OrderID: id, UserID: ev.GetUserId(), Amount: ev.GetAmount(), Currency: ev.GetCurrency()}
	if ev.CreatedAt != nil {
		if err := ev.CreatedAt.CheckValid(); err != nil {
			return payments.OrderCreated{}, inbox.Undecodable(fmt.Errorf("created_at: %w", err))
		}
		o.CreatedAt = ev.CreatedAt.AsTime()
	}
	if err := o.Validate(); err != nil {
		return payments.OrderCreated{}, inbox.Undecodable(err)
	}
	if m.Key != "" && m.Key != o.UserID {
		return payments.OrderCreated{}, inbox.Undecodable(fmt.Errorf("message key %q is not the order's user %q", m.Key, o.UserID))
	}
	return o, nil
}

// payOrders returns the inbox.ApplyFunc that pays each OrderCreated.
func payOrders(store *postgres.Store, logger *slog.Logger) inbox.ApplyFunc {
	return func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		order, err := decodeOrderCreated(m)
		if err != nil {
			return err
		}
		out, err := store.PayOrder(ctx, tx, order, m.Traceparent)
		if err != nil {
			var de *payments.Error
			if errors.As(err, &de) && de.Kind == payments.KindInvalid {
				return inbox.Undecodable(err)
			}
			return err
		}
		logger.LogAttrs(ctx, slog.LevelDebug, "order decided",
			slog.String("event_id", m.EventID.String()), slog.String("order_id", out.OrderID.String()),
			slog.String("user_id", out.UserID), slog.String("status", string(out.Status)),
			slog.String("reason", string(out.Reason)), slog.Bool("replayed", out.Replayed))
		return nil
	}
}
