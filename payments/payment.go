package payments

import (
	"time"

	"github.com/google/uuid"

	"shop/proto/limits"
	"shop/service/fault"
)

// OrderCreated is an order to be paid, as decoded from the orders service's
// event.
type OrderCreated struct {
	OrderID   uuid.UUID
	UserID    string
	Amount    int64
	Currency  string
	CreatedAt time.Time
}

// Validate reports the first invalid field of o as a fault.Invalid error.
// CreatedAt is optional.
func (o OrderCreated) Validate() error {
	if o.OrderID == uuid.Nil {
		return fault.Errorf(fault.Invalid, "order_id must be a non-zero UUID")
	}
	if err := limits.UserID(o.UserID); err != nil {
		return err
	}
	if err := limits.Amount(o.Amount); err != nil {
		return err
	}
	if o.Currency != limits.Currency {
		return fault.Errorf(fault.Invalid, "currency must be %s, got %q", limits.Currency, o.Currency)
	}
	return nil
}

// PaymentStatus is the decision on an order.
type PaymentStatus string

// The decisions.
const (
	PaymentSucceeded PaymentStatus = "SUCCEEDED"
	PaymentFailed    PaymentStatus = "FAILED"
)

// FailureReason says why a payment failed.
type FailureReason string

// The failure reasons.
const (
	FailureInsufficientFunds FailureReason = "INSUFFICIENT_FUNDS"
	FailureAccountNotFound   FailureReason = "ACCOUNT_NOT_FOUND"
)

// Outcome is the recorded decision on one order. Reason is empty when Status
// is PaymentSucceeded.
type Outcome struct {
	OrderID uuid.UUID
	UserID  string
	Amount  int64
	Status  PaymentStatus
	Reason  FailureReason
	// Replayed is true when the order had already been decided and this is the
	// recorded decision, not a new one.
	Replayed bool
}
