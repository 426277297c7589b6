package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/payments"
)

// TopUpResult is the result of TopUp.
type TopUpResult struct {
	// Account is the account after the credit.
	Account payments.Account
	// Replayed is true when this is the stored response of an earlier call
	// with the same idempotency key; nothing was credited this time.
	Replayed bool
}

// TopUp credits amount to userID's account: a CREDIT ledger row and the
// balance update in one transaction.
//
// With a non-empty idempotencyKey, the key is recorded in that transaction
// with the request's hash and response. A repeat with the same key and
// amount returns the first response with Replayed set and credits nothing; a
// repeat while the first is in flight waits for it. Errors: KindInvalid for a
// malformed user id, amount or key; KindNotFound without an account;
// KindFailedPrecondition with reason BALANCE_LIMIT_EXCEEDED when the balance
// would exceed payments.MaxBalance, or IDEMPOTENCY_KEY_REUSED when the key
// was used with another amount. A failed call records nothing.
func (s *Store) TopUp(ctx context.Context, userID string, amount int64, idempotencyKey string) (TopUpResult, error) {
	if err := payments.ValidateUserID(userID); err != nil {
		return TopUpResult{}, err
	}
	if err := payments.ValidateAmount(amount); err != nil {
		return TopUpResult{}, err
	}
	if idempotencyKey != "" {
		if err := payments.ValidateIdempotencyKey(idempotencyKey); err != nil {
			return TopUpResult{}, err
		}
	}
	hash := topUpHash(userID, amount)
	var res TopUpResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if idempotencyKey != "" {
			replay, found, err := claimKey(ctx, tx, userID, idempotencyKey, hash)
			if err != nil || found {
				res = replay
				return err
			}
		}
		now := s.clock()
		a, err := scanAccount(tx.QueryRow(ctx, `UPDATE accounts SET balance = balance + $2, updated_at = $3
			WHERE user_id = $1 AND balance + $2 <= $4
			RETURNING `+accountColumns, userID, amount, now, payments.MaxBalance))
		if errors.Is(err, pgx.ErrNoRows) {
			return topUpRejection(ctx, tx, userID)
		}
		if err != nil {
			return fmt.Errorf("credit account: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ($1, 'CREDIT', $2, $3)`,
			userID, amount, now); err != nil {
			return fmt.Errorf("insert credit: %w", err)
		}
		res = TopUpResult{Account: a}
		if idempotencyKey != "" {
			resp, err := json.Marshal(storedAccount(a))
			if err != nil {
				return fmt.Errorf("encode idempotent response: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET response = $3 WHERE user_id = $1 AND key = $2`,
				userID, idempotencyKey, resp); err != nil {
				return fmt.Errorf("store idempotent response: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return TopUpResult{}, dbError(fmt.Sprintf("top up %s", userID), err)
	}
	return res, nil
}

// topUpRejection explains why the credit updated no row.
func topUpRejection(ctx context.Context, tx pgx.Tx, userID string) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE user_id = $1)`, userID).Scan(&exists); err != nil {
		return fmt.Errorf("check account: %w", err)
	}
	if !exists {
		return payments.Errorf(payments.KindNotFound, payments.ReasonNotFound, "account not found")
	}
	return payments.Errorf(payments.KindFailedPrecondition, payments.ReasonBalanceLimitExceeded,
		"balance would exceed %d", payments.MaxBalance)
}

// claimKey records the idempotency key within tx, or finds it. A concurrent
// first use holds the key's row lock until it commits, so the insert waits
// for it. found is true when the key was used before with the same request:
// res is the stored response then.
func claimKey(ctx context.Context, tx pgx.Tx, userID, key string, hash []byte) (res TopUpResult, found bool, err error) {
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response)
		VALUES ($1, $2, $3, '') ON CONFLICT DO NOTHING`, userID, key, hash)
	if err != nil {
		return TopUpResult{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return TopUpResult{}, false, nil
	}
	var storedHash, resp []byte
	if err := tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		userID, key).Scan(&storedHash, &resp); err != nil {
		return TopUpResult{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if string(storedHash) != string(hash) {
		return TopUpResult{}, false, payments.Errorf(payments.KindFailedPrecondition, payments.ReasonIdempotencyKeyReused,
			"idempotency key was used with a different request")
	}
	var sa storedAccountJSON
	if err := json.Unmarshal(resp, &sa); err != nil {
		return TopUpResult{}, false, fmt.Errorf("decode idempotent response: %w", err)
	}
	return TopUpResult{Account: sa.account(), Replayed: true}, true, nil
}

// topUpHash is the sha256 of the canonical top-up request. The operation
// name keeps keys of different operations apart should they ever share the
// table.
func topUpHash(userID string, amount int64) []byte {
	h := sha256.Sum256([]byte("TopUp\x00" + userID + "\x00" + strconv.FormatInt(amount, 10)))
	return h[:]
}

// storedAccountJSON is the serialized first response of a top-up.
type storedAccountJSON struct {
	UserID    string    `json:"user_id"`
	Balance   int64     `json:"balance"`
	Currency  string    `json:"currency"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func storedAccount(a payments.Account) storedAccountJSON {
	return storedAccountJSON{UserID: a.UserID, Balance: a.Balance, Currency: a.Currency, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func (s storedAccountJSON) account() payments.Account {
	return payments.Account{UserID: s.UserID, Balance: s.Balance, Currency: s.Currency, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}
}

// PurgeIdempotencyKeys deletes idempotency keys created more than olderThan
// ago and returns how many it deleted. Keys must be kept at least 24 hours.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge idempotency keys: retention must be positive, got %s", olderThan)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`,
		olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
