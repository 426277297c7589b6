// Package orders holds the domain of the orders service: the order and its
// states, the validation of requests, the page token and the payment
// results the service applies, and the limits of an order's own fields.
// Errors are service/fault errors; the limits of the fields an order shares
// with payments and the gateway are shop/proto/limits. It depends on no
// database, broker or transport; the adapters live in the subpackages
// postgres (the store), grpcapi (the gRPC server) and paymentevents (the
// consumer of payment results).
package orders

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"shop/proto/limits"
	"shop/service/fault"
)

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

// Order is one order of one user. Amount is in minor units (kopecks) of
// Currency, which is always limits.Currency. Times are UTC with microsecond
// precision, as Postgres stores them.
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

// ParseOrderID parses an order id in the canonical UUID form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, either case). It returns a
// fault.Invalid error for anything else, including the other forms
// uuid.Parse accepts (braces, urn:uuid:, no hyphens).
func ParseOrderID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, fault.Errorf(fault.Invalid, "order id must be a UUID")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, fault.Errorf(fault.Invalid, "order id must be a UUID")
	}
	return id, nil
}

// CreateOrderParams is a request to create an order. IdempotencyKey is
// optional; when set, it is scoped to UserID.
type CreateOrderParams struct {
	UserID         string
	Amount         int64
	Description    string
	IdempotencyKey string
}

// Validate checks every field of p against its limits and returns the
// first fault.Invalid error. An empty IdempotencyKey means none.
func (p CreateOrderParams) Validate() error {
	if err := limits.UserID(p.UserID); err != nil {
		return err
	}
	if err := limits.Amount(p.Amount); err != nil {
		return err
	}
	if err := CheckDescription(p.Description); err != nil {
		return err
	}
	if p.IdempotencyKey != "" {
		if err := limits.IdempotencyKey(p.IdempotencyKey); err != nil {
			return err
		}
	}
	return nil
}

// RequestHash returns the SHA-256 of the canonical form of the request body
// (amount and description; the user and key identify the record, they are
// not part of the body). Two requests with the same body have the same hash.
func (p CreateOrderParams) RequestHash() []byte {
	h := sha256.New()
	// Version 1 of the canonical form: the amount in 8 bytes, big endian,
	// then the description bytes. The amount has a fixed width, so the
	// encoding is unambiguous.
	var b [9]byte
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], uint64(p.Amount))
	h.Write(b[:])
	h.Write([]byte(p.Description))
	return h.Sum(nil)
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

// ListQuery is a validated ListOrdersParams: the page size and the position
// after which the page starts (nil for the first page).
type ListQuery struct {
	UserID string
	Limit  int
	After  *Cursor
}

// Query validates p and decodes its page token with tokens. It returns a
// fault.Invalid error for a bad user id, limit or token.
func (p ListOrdersParams) Query(tokens *PageTokens) (ListQuery, error) {
	if err := limits.UserID(p.UserID); err != nil {
		return ListQuery{}, err
	}
	limit, err := ListLimit(p.Limit)
	if err != nil {
		return ListQuery{}, err
	}
	q := ListQuery{UserID: p.UserID, Limit: limit}
	if p.PageToken != "" {
		c, err := tokens.Decode(p.UserID, p.PageToken)
		if err != nil {
			return ListQuery{}, err
		}
		q.After = &c
	}
	return q, nil
}

// Page is one page of orders, newest first. NextPageToken is empty on the
// last page.
type Page struct {
	Orders        []Order
	NextPageToken string
}
