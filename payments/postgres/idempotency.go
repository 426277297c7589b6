package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/payments"
	"shop/sql/idempotency"
)

// WithIdempotencyWait sets how long a request waits for a concurrent request
// holding the same idempotency key (idempotency.DefaultWait by default)
// before it fails with IDEMPOTENCY_KEY_IN_USE.
func WithIdempotencyWait(d time.Duration) Option { return func(s *Store) { s.wait = d } }

// claimKey records the idempotency key k of a top-up within tx, without a
// response: TopUp stores it with idempotency.SaveResponse in the same tx
// (idempotency.Claim). found is true when an earlier top-up with the same
// key and request committed: res is its response then. Errors are those of
// idempotency.Claim.
func (s *Store) claimKey(ctx context.Context, tx pgx.Tx, k idempotency.Key) (res payments.TopUpResult, found bool, err error) {
	stored, err := idempotency.Claim[storedResponse](ctx, tx, k, nil, s.clock(), s.wait)
	if err != nil || stored == nil {
		return res, false, err
	}
	return payments.TopUpResult{Account: stored.account(), Replayed: true}, true, nil
}

// PurgeIdempotencyKeys deletes idempotency keys recorded more than olderThan
// ago (by the store's clock) and returns how many it deleted. Keys must be
// kept at least 24 hours; a repeat of a purged key credits again. A
// non-positive olderThan is an error.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Duration) (int64, error) {
	return idempotency.Purge(ctx, s.pool, s.clock(), olderThan)
}

// storedResponse is the serialized first response of a top-up kept with an
// idempotency key. Its JSON shape is persistent: change it compatibly.
type storedResponse struct {
	UserID    string    `json:"user_id"`
	Balance   int64     `json:"balance"`
	Currency  string    `json:"currency"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// newStoredResponse is the response of the top-up that left a.
func newStoredResponse(a payments.Account) storedResponse {
	return storedResponse{UserID: a.UserID, Balance: a.Balance, Currency: a.Currency,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// account is the account of a stored response.
func (r *storedResponse) account() payments.Account {
	return payments.Account{UserID: r.UserID, Balance: r.Balance, Currency: r.Currency,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}
