// Package orders holds the domain of the orders service: the order, its
// states, the validation of requests, the error kinds and the page token.
// It depends on no database, broker or transport; the adapters live in the
// subpackages postgres (the store), grpcapi (the gRPC server) and
// paymentevents (the consumer of payment results).
package orders

import (
	"time"

	"github.com/google/uuid"
)

// Currency is the one currency of the system. Every order carries it.
const Currency = "RUB"

// Status is the state of an order. PENDING is the only state an order
// leaves; PAID and CANCELLED are terminal.
type Status string

// The states of an order.
const (
	StatusPending   Status = "PENDING"
	StatusPaid      Status = "PAID"
	StatusCancelled Status = "CANCELLED"
)

// Terminal reports whether s never changes again.
func (s Status) Terminal() bool { return s == StatusPaid || s == StatusCancelled }

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool { return s == StatusPending || s.Terminal() }

// CancelReason says why an order was cancelled. It is empty unless the
// order is CANCELLED.
type CancelReason string

// The reasons a payment fails.
const (
	CancelReasonNone              CancelReason = ""
	CancelReasonInsufficientFunds CancelReason = "INSUFFICIENT_FUNDS"
	CancelReasonAccountNotFound   CancelReason = "ACCOUNT_NOT_FOUND"
)

// Valid reports whether r is a reason a CANCELLED order may carry.
func (r CancelReason) Valid() bool {
	return r == CancelReasonInsufficientFunds || r == CancelReasonAccountNotFound
}

// Order is one order of one user. Amount is in minor units (kopecks). Times
// are UTC with microsecond precision, as Postgres stores them.
type Order struct {
	ID           uuid.UUID
	UserID       string
	Amount       int64
	Currency     string
	Description  string
	Status       Status
	CancelReason CancelReason
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// CreateOrderParams is a request to create an order. IdempotencyKey is
// optional; when set, it is scoped to UserID.
type CreateOrderParams struct {
	UserID         string
	Amount         int64
	Description    string
	IdempotencyKey string
}

// CreateOrderResult is the outcome of CreateOrder. Replayed is true when
// Order is the stored first response of an earlier call with the same
// idempotency key; the order then reflects that first response (status
// PENDING), not its current state.
type CreateOrderResult struct {
	Order    Order
	Replayed bool
}

// ListOrdersParams is a request for one page of a user's orders. Limit 0
// means DefaultListLimit; PageToken is empty for the first page.
type ListOrdersParams struct {
	UserID    string
	Limit     int32
	PageToken string
}

// Page is one page of orders, newest first. NextPageToken is empty on the
// last page.
type Page struct {
	Orders        []Order
	NextPageToken string
}

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
