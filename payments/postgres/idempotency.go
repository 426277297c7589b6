package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/payments"
	"shop/service/fault"
	"shop/sql/pgfault"
)

// claimKey records the idempotency key of a top-up within tx, or finds it.
// A concurrent first use holds the key's row lock until it commits, so the
// insert waits for it. found is true when the key was used before with the
// same request (hash): res is the stored response then. A key used with
// another request is the IDEMPOTENCY_KEY_REUSED error. The response of a
// new claim is stored by storeResponse, in the same tx.
func (s *Store) claimKey(ctx context.Context, tx pgx.Tx, userID, key string, hash []byte) (res payments.TopUpResult, found bool, err error) {
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response)
		VALUES ($1, $2, $3, '') ON CONFLICT DO NOTHING`, userID, key, hash)
	if err != nil {
		return res, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return res, false, nil
	}
	// The key was committed by an earlier request. In READ COMMITTED this
	// statement sees it.
	var storedHash, stored []byte
	err = tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		userID, key).Scan(&storedHash, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		// Purged between the insert and the select: a retry starts afresh.
		return res, false, fault.Errorf(fault.Aborted, "idempotency key is being replaced, retry").
			WithReason(fault.ReasonIdempotencyKeyInUse)
	}
	if err != nil {
		return res, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if string(storedHash) != string(hash) {
		return res, false, fault.Errorf(fault.FailedPrecondition, "idempotency key was used with a different request").
			WithReason(fault.ReasonIdempotencyKeyReused)
	}
	first, err := decodeResponse(stored)
	if err != nil {
		return res, false, err
	}
	return payments.TopUpResult{Account: first, Replayed: true}, true, nil
}

// storeResponse keeps a, the response of the top-up that claimed key, with
// the key within tx.
func storeResponse(ctx context.Context, tx pgx.Tx, userID, key string, a payments.Account) error {
	resp, err := encodeResponse(a)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET response = $3 WHERE user_id = $1 AND key = $2`,
		userID, key, resp); err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
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

func encodeResponse(a payments.Account) ([]byte, error) {
	b, err := json.Marshal(storedResponse{UserID: a.UserID, Balance: a.Balance, Currency: a.Currency,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt})
	if err != nil {
		return nil, fmt.Errorf("encode idempotent response: %w", err)
	}
	return b, nil
}

func decodeResponse(b []byte) (payments.Account, error) {
	var r storedResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return payments.Account{}, fmt.Errorf("decode idempotent response: %w", err)
	}
	return payments.Account{UserID: r.UserID, Balance: r.Balance, Currency: r.Currency,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}, nil
}

// PurgeIdempotencyKeys deletes idempotency keys created more than olderThan
// ago (by the database's clock) and returns how many it deleted. Keys must
// be kept at least 24 hours; a repeat of a purged key credits again.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge idempotency keys: retention must be positive, got %s", olderThan)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`,
		olderThan.Seconds())
	if err != nil {
		return 0, pgfault.From("purge idempotency keys", err)
	}
	return tag.RowsAffected(), nil
}
