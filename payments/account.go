package payments

import "time"

// Account is a user's account. Balance is in minor units, 0 to
// limits.MaxBalance; every change of it has a ledger row.
type Account struct {
	UserID    string
	Balance   int64
	Currency  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TopUpResult is the result of a top-up.
type TopUpResult struct {
	// Account is the account after the credit.
	Account Account
	// Replayed is true when this is the stored response of an earlier call
	// with the same idempotency key; nothing was credited this time.
	Replayed bool
}
