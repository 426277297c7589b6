// Package payments holds the domain of the payments service: accounts, the
// money limits, the payment decision for an order, and the error kinds the
// transports map to status codes.
//
// Money is an int64 number of minor units (kopecks) of the one currency,
// RUB.
package payments

import (
	"time"

	"github.com/google/uuid"
)

// Currency is the one currency of the system.
const Currency = "RUB"

// Money limits, in minor units.
const (
	MinAmount  int64 = 1
	MaxAmount  int64 = 1_000_000_000_000
	MaxBalance int64 = 1_000_000_000_000_000
)

// Account is a user's account. Balance is in minor units, 0 to MaxBalance.
type Account struct {
	UserID    string
	Balance   int64
	Currency  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OrderCreated is an order to be paid, as decoded from the orders service's
// event.
type OrderCreated struct {
	OrderID   uuid.UUID
	UserID    string
	Amount    int64
	Currency  string
	CreatedAt time.Time
}

// Validate reports the first invalid field of o as a KindInvalid error.
func (o OrderCreated) Validate() error {
	if o.OrderID == uuid.Nil {
		return Invalidf("order_id must be a non-zero UUID")
	}
	if err := ValidateUserID(o.UserID); err != nil {
		return err
	}
	if err := ValidateAmount(o.Amount); err != nil {
		return err
	}
	if o.Currency != Currency {
		return Invalidf("currency must be %s, got %q", Currency, o.Currency)
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
