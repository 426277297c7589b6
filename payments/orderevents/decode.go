package orderevents

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/payments"
	ordersv1 "shop/proto/orders/v1"
)

// decodeOrderCreated decodes an OrderCreated message with inbox.Unmarshal
// (unknown fields are ignored, so that the orders service may add fields)
// and validates it. Every error is inbox.Undecodable: JSON that is not the
// event, an order id that is not a UUID in its canonical form, a bad
// created_at, an invalid field (OrderCreated.Validate: the user id's
// format, an amount within limits, the one currency), or a message key
// other than the order's user. Such an order is never paid: the orders
// service cannot have made it.
func decodeOrderCreated(m inbox.Message) (payments.OrderCreated, error) {
	var ev ordersv1.OrderCreated
	if err := inbox.Unmarshal(m, &ev); err != nil {
		return payments.OrderCreated{}, err
	}
	// uuid.Parse also takes braces, urn:uuid: and no hyphens; the orders
	// service writes only the canonical form.
	id, err := uuid.Parse(ev.GetOrderId())
	if err == nil && len(ev.GetOrderId()) != 36 {
		err = errors.New("not in the canonical form")
	}
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
