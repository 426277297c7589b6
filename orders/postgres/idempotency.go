package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/orders"
	"shop/sql/idempotency"
	"shop/sql/pgfault"
)

// WithIdempotencyWait sets how long a request waits for a concurrent request
// holding the same idempotency key (idempotency.DefaultWait by default)
// before it fails with IDEMPOTENCY_KEY_IN_USE.
func WithIdempotencyWait(d time.Duration) Option { return func(s *Store) { s.wait = d } }

// createWithKey stores c's order and event within the transaction that
// claims p's idempotency key (claimKey), or returns the first response of
// the key with Replayed set (and writes nothing). Errors are as
// CreateOrder describes.
func (s *Store) createWithKey(ctx context.Context, p orders.CreateOrderParams, c *creation) (orders.CreateOrderResult, error) {
	res := orders.CreateOrderResult{Order: c.order}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		replay, found, err := s.claimKey(ctx, tx, p, c.order)
		if err != nil || found {
			res = replay
			return err
		}
		if err := sendCreations(ctx, tx, []*creation{c}); err != nil {
			return fmt.Errorf("insert order %s and its event: %w", c.order.ID, err)
		}
		return nil
	})
	if err != nil {
		return orders.CreateOrderResult{}, pgfault.From("create order", err)
	}
	return res, nil
}

// claimKey records p's idempotency key within tx with o as the response
// (idempotency.Claim). found is true when an earlier request with the same
// key and body committed: res is its response then. Errors are those of
// idempotency.Claim.
func (s *Store) claimKey(ctx context.Context, tx pgx.Tx, p orders.CreateOrderParams, o orders.Order) (res orders.CreateOrderResult, found bool, err error) {
	k := idempotency.Key{UserID: p.UserID, Key: p.IdempotencyKey, Hash: p.RequestHash()}
	stored, err := idempotency.Claim(ctx, tx, k, newStoredResponse(o), o.CreatedAt, s.wait)
	if err != nil || stored == nil {
		return res, false, err
	}
	first, err := stored.order()
	if err != nil {
		return res, false, err
	}
	return orders.CreateOrderResult{Order: first, Replayed: true}, true, nil
}

// PurgeIdempotencyKeys deletes idempotency keys recorded more than olderThan
// ago (by the store's clock) and returns how many it deleted. A repeat of a
// purged key creates a new order. A non-positive olderThan is an error.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Duration) (int64, error) {
	return idempotency.Purge(ctx, s.pool, s.clock(), olderThan)
}

// storedResponse is the serialized first response of CreateOrder kept with
// an idempotency key. Its JSON shape is persistent: change it compatibly.
type storedResponse struct {
	Version int         `json:"v"`
	Order   storedOrder `json:"order"`
}

type storedOrder struct {
	ID           uuid.UUID `json:"id"`
	UserID       string    `json:"user_id"`
	Amount       int64     `json:"amount"`
	Currency     string    `json:"currency"`
	Description  string    `json:"description"`
	Status       string    `json:"status"`
	CancelReason string    `json:"cancel_reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// newStoredResponse is the response of the CreateOrder that created o.
func newStoredResponse(o orders.Order) *storedResponse {
	return &storedResponse{Version: 1, Order: storedOrder{
		ID: o.ID, UserID: o.UserID, Amount: o.Amount, Currency: o.Currency, Description: o.Description,
		Status: string(o.Status), CancelReason: string(o.CancelReason), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}}
}

// order is the order of a stored response; an unknown version is an error.
func (r *storedResponse) order() (orders.Order, error) {
	if r.Version != 1 {
		return orders.Order{}, fmt.Errorf("decode idempotent response: unknown version %d", r.Version)
	}
	so := r.Order
	return orders.Order{
		ID: so.ID, UserID: so.UserID, Amount: so.Amount, Currency: so.Currency, Description: so.Description,
		Status: orders.Status(so.Status), CancelReason: orders.CancelReason(so.CancelReason),
		CreatedAt: so.CreatedAt.UTC(), UpdatedAt: so.UpdatedAt.UTC(),
	}, nil
}
