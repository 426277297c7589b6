package paymentevents

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/proto/limits"
	paymentsv1 "shop/proto/payments/v1"
)

// decodeSucceeded decodes a PaymentSucceeded event into a payment result.
// Every error is inbox.Undecodable.
func decodeSucceeded(m inbox.Message) (orders.PaymentResult, error) {
	var e paymentsv1.PaymentSucceeded
	if err := inbox.Unmarshal(m, &e); err != nil {
		return orders.PaymentResult{}, err
	}
	return paymentResult(m, e.GetOrderId(), e.GetUserId(), e.GetAmount(), e.GetCurrency(), true, orders.CancelReasonNone)
}

// decodeFailed decodes a PaymentFailed event into a payment result; the
// event must carry a known failure reason. Every error is
// inbox.Undecodable.
func decodeFailed(m inbox.Message) (orders.PaymentResult, error) {
	var e paymentsv1.PaymentFailed
	if err := inbox.Unmarshal(m, &e); err != nil {
		return orders.PaymentResult{}, err
	}
	var reason orders.CancelReason
	switch e.GetReason() {
	case paymentsv1.FailureReason_FAILURE_REASON_INSUFFICIENT_FUNDS:
		reason = orders.CancelReasonInsufficientFunds
	case paymentsv1.FailureReason_FAILURE_REASON_ACCOUNT_NOT_FOUND:
		reason = orders.CancelReasonAccountNotFound
	default:
		return orders.PaymentResult{}, inbox.Undecodable(fmt.Errorf("decode %s: unknown failure reason %v", m.Type, e.GetReason()))
	}
	return paymentResult(m, e.GetOrderId(), e.GetUserId(), e.GetAmount(), e.GetCurrency(), false, reason)
}

// paymentResult validates the required fields of a payment event: the
// event id, an order id that is a UUID, a valid user id, an amount within
// limits, the one currency, and for a failure a known reason.
func paymentResult(m inbox.Message, orderID, userID string, amount int64, currency string, paid bool, reason orders.CancelReason) (orders.PaymentResult, error) {
	if m.EventID == uuid.Nil {
		return orders.PaymentResult{}, inbox.Undecodable(errors.New("missing event id"))
	}
	id, err := orders.ParseOrderID(orderID)
	if err != nil {
		return orders.PaymentResult{}, inbox.Undecodable(fmt.Errorf("decode %s: order_id %q: %w", m.Type, orderID, err))
	}
	if err := limits.Amount(amount); err != nil {
		return orders.PaymentResult{}, inbox.Undecodable(fmt.Errorf("decode %s: %w", m.Type, err))
	}
	if currency != limits.Currency {
		return orders.PaymentResult{}, inbox.Undecodable(fmt.Errorf("decode %s: currency %q, want %q", m.Type, currency, limits.Currency))
	}
	r := orders.PaymentResult{EventID: m.EventID, OrderID: id, UserID: userID, Amount: amount, Paid: paid, Reason: reason}
	if err := r.Validate(); err != nil {
		return orders.PaymentResult{}, inbox.Undecodable(fmt.Errorf("decode %s: %w", m.Type, err))
	}
	return r, nil
}
