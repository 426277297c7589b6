package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/orders"
	"shop/service/fault"
	"shop/sql/pgfault"
)

// DefaultIdempotencyWait bounds how long CreateOrder waits for a concurrent
// request with the same idempotency key before it gives up with
// IDEMPOTENCY_KEY_IN_USE.
const DefaultIdempotencyWait = 10 * time.Second

// WithIdempotencyWait sets how long CreateOrder waits for a concurrent
// request with the same key (DefaultIdempotencyWait by default).
func WithIdempotencyWait(d time.Duration) Option { return func(s *Store) { s.wait = d } }

// claimKey records p's idempotency key with o as the response. When the key
// is already recorded it returns the stored response (found is true) or the
// IDEMPOTENCY_KEY_REUSED error. The insert blocks on the primary key while a
// concurrent transaction holds the same key, for at most s.wait; the lock
// timeout then becomes IDEMPOTENCY_KEY_IN_USE in pgfault.From.
func (s *Store) claimKey(ctx context.Context, tx pgx.Tx, p orders.CreateOrderParams, o orders.Order) (res orders.CreateOrderResult, found bool, err error) {
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`,
		fmt.Sprintf("%dms", s.wait.Milliseconds())); err != nil {
		return res, false, fmt.Errorf("set lock timeout: %w", err)
	}
	response, err := encodeResponse(o)
	if err != nil {
		return res, false, err
	}
	hash := p.RequestHash()
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING`,
		p.UserID, p.IdempotencyKey, hash, response, o.CreatedAt)
	if err != nil {
		return res, false, fmt.Errorf("insert idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return res, false, nil
	}
	// The key was committed by an earlier request. In READ COMMITTED this
	// statement sees it.
	var storedHash, stored []byte
	err = tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		p.UserID, p.IdempotencyKey).Scan(&storedHash, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		// Purged between the insert and the select: a retry starts afresh.
		return res, false, fault.Errorf(fault.Aborted, "idempotency key is being replaced, retry").
			WithReason(fault.ReasonIdempotencyKeyInUse)
	}
	if err != nil {
		return res, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if string(storedHash) != string(hash) {
		return res, false, fault.Errorf(fault.FailedPrecondition,
			"idempotency key was already used with a different request").WithReason(fault.ReasonIdempotencyKeyReused)
	}
	first, err := decodeResponse(stored)
	if err != nil {
		return res, false, err
	}
	return orders.CreateOrderResult{Order: first, Replayed: true}, true, nil
}

// PurgeIdempotencyKeys deletes idempotency keys recorded more than olderThan
// ago (by the store's clock) and returns how many it deleted. A repeat of a
// purged key creates a new order.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge idempotency keys: retention must be positive, got %s", olderThan)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, s.clock().Add(-olderThan))
	if err != nil {
		return 0, pgfault.From("purge idempotency keys", err)
	}
	return tag.RowsAffected(), nil
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

func encodeResponse(o orders.Order) ([]byte, error) {
	b, err := json.Marshal(storedResponse{Version: 1, Order: storedOrder{
		ID: o.ID, UserID: o.UserID, Amount: o.Amount, Currency: o.Currency, Description: o.Description,
		Status: string(o.Status), CancelReason: string(o.CancelReason), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}})
	if err != nil {
		return nil, fmt.Errorf("encode idempotent response: %w", err)
	}
	return b, nil
}

func decodeResponse(b []byte) (orders.Order, error) {
	var r storedResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return orders.Order{}, fmt.Errorf("decode idempotent response: %w", err)
	}
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
