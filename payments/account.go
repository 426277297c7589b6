package payments

import "time"

// MaxBalance is the cap of an account's balance in minor units (DESIGN.md
// section 3): a top-up that would pass it is refused, and the gateway's
// API document states it.
const MaxBalance int64 = 1_000_000_000_000_000

// Account is a user's account. Balance is in minor units, 0 to
// MaxBalance; every change of it has a ledger row.
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
