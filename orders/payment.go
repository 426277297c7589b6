package orders

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"shop/proto/limits"
	"shop/service/fault"
)

// PaymentResult is the outcome of the payment of one order, as the payments
// service reports it. Reason is set only when Paid is false.
type PaymentResult struct {
	EventID uuid.UUID
	OrderID uuid.UUID
	UserID  string
	Amount  int64
	Paid    bool
	Reason  CancelReason
}

// Status returns the state the payment moves a PENDING order to.
func (r PaymentResult) Status() Status {
	if r.Paid {
		return StatusPaid
	}
	return StatusCancelled
}

// Validate checks that r names a valid order and user, carries an amount
// within limits and, for a failure, a known reason. It returns a
// fault.Invalid error otherwise.
func (r PaymentResult) Validate() error {
	if r.OrderID == uuid.Nil {
		return fault.Errorf(fault.Invalid, "order id must be set")
	}
	if err := limits.UserID(r.UserID); err != nil {
		return err
	}
	if err := limits.Amount(r.Amount); err != nil {
		return err
	}
	if r.Paid && r.Reason != CancelReasonNone {
		return fault.Errorf(fault.Invalid, "a successful payment carries no reason")
	}
	if !r.Paid && !r.Reason.Valid() {
		return fault.Errorf(fault.Invalid, "unknown failure reason %q", r.Reason)
	}
	return nil
}

// MismatchError is the error a result r that contradicts its order
// (outcome.Mismatch) is dead-lettered with: by the consumer, and by the
// sweep of parked results alike.
func (r PaymentResult) MismatchError(outcome ApplyOutcome) error {
	return fmt.Errorf("payment result %s for order %s of user %q amount %d does not match the order: %s",
		r.EventID, r.OrderID, r.UserID, r.Amount, outcome)
}

// ApplyOutcome is what applying a payment result did to its order. Only a
// PENDING order of the result's user and amount changes; a payment result
// never moves a terminal order, nor one it does not match.
type ApplyOutcome int

// The outcomes of applying a payment result.
const (
	// Applied: the order moved from PENDING to PAID or CANCELLED.
	Applied ApplyOutcome = iota + 1
	// AlreadyTerminal: the order was PAID or CANCELLED already and is unchanged.
	AlreadyTerminal
	// UnknownOrder: no order has the id (yet: its commit may not be visible).
	UnknownOrder
	// OtherUsersOrder: the order belongs to another user; the result can
	// never apply to it.
	OtherUsersOrder
	// AmountMismatch: the order is the result's user's, for another amount;
	// the result can never apply to it.
	AmountMismatch
)

// Mismatch reports whether o means that the result contradicts its order
// (another user's, another amount): it can never apply, whatever the
// order's state, and is a dead letter.
func (o ApplyOutcome) Mismatch() bool { return o == OtherUsersOrder || o == AmountMismatch }

func (o ApplyOutcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case AlreadyTerminal:
		return "already terminal"
	case UnknownOrder:
		return "unknown order"
	case OtherUsersOrder:
		return "another user's order"
	case AmountMismatch:
		return "amount differs from the order's"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// ParkedPayment is a payment result that was kept because its order was not
// visible when it arrived, and what applying it did once the order was.
type ParkedPayment struct {
	Result   PaymentResult
	ParkedAt time.Time
	Outcome  ApplyOutcome
}
