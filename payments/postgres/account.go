package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"shop/payments"
	"shop/proto/limits"
	"shop/service/fault"
	"shop/sql/idempotency"
	"shop/sql/pgfault"
)

const accountColumns = `user_id, balance, currency, created_at, updated_at`

func scanAccount(row pgx.Row) (payments.Account, error) {
	var a payments.Account
	err := row.Scan(&a.UserID, &a.Balance, &a.Currency, &a.CreatedAt, &a.UpdatedAt)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, err
}

func errAccountNotFound() error { return fault.Errorf(fault.NotFound, "account not found") }

// CreateAccount opens userID's account with a zero balance. Errors:
// fault.Invalid for a malformed user id, fault.AlreadyExists with reason
// ACCOUNT_EXISTS when the user already has an account (of concurrent calls
// for one user exactly one succeeds).
func (s *Store) CreateAccount(ctx context.Context, userID string) (payments.Account, error) {
	if err := limits.UserID(userID); err != nil {
		return payments.Account{}, err
	}
	now := s.clock()
	a, err := scanAccount(s.pool.QueryRow(ctx, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at)
		VALUES ($1, 0, $2, $3, $3) RETURNING `+accountColumns, userID, limits.Currency, now))
	if pgfault.UniqueViolation(err) {
		return payments.Account{}, fault.Errorf(fault.AlreadyExists, "account already exists").WithReason(fault.ReasonAccountExists)
	}
	if err != nil {
		return payments.Account{}, pgfault.From(fmt.Sprintf("create account %s", userID), err)
	}
	return a, nil
}

// GetAccount returns userID's account. Errors: fault.Invalid for a malformed
// user id, fault.NotFound when there is no account.
func (s *Store) GetAccount(ctx context.Context, userID string) (payments.Account, error) {
	if err := limits.UserID(userID); err != nil {
		return payments.Account{}, err
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return payments.Account{}, errAccountNotFound()
	}
	if err != nil {
		return payments.Account{}, pgfault.From(fmt.Sprintf("get account %s", userID), err)
	}
	return a, nil
}

// TopUp credits amount to userID's account: a CREDIT ledger row and the
// balance update in one transaction.
//
// With a non-empty idempotencyKey, the key is recorded in that transaction
// with the request's hash and response (claimKey). A repeat with the same
// key and amount returns the first response with Replayed set and credits
// nothing; a repeat while the first is in flight waits for it, for at most
// the idempotency wait. Errors: fault.Invalid for a malformed user id,
// amount or key; fault.NotFound without an account;
// fault.FailedPrecondition with reason BALANCE_LIMIT_EXCEEDED when the
// balance would exceed payments.MaxBalance, or IDEMPOTENCY_KEY_REUSED when the
// key was used with another amount; fault.Aborted with reason
// IDEMPOTENCY_KEY_IN_USE when the first is still in flight after the wait.
// A failed call records nothing.
func (s *Store) TopUp(ctx context.Context, userID string, amount int64, idempotencyKey string) (payments.TopUpResult, error) {
	if err := limits.UserID(userID); err != nil {
		return payments.TopUpResult{}, err
	}
	if err := limits.Amount(amount); err != nil {
		return payments.TopUpResult{}, err
	}
	if idempotencyKey != "" {
		if err := limits.IdempotencyKey(idempotencyKey); err != nil {
			return payments.TopUpResult{}, err
		}
	}
	var res payments.TopUpResult
	k := idempotency.Key{UserID: userID, Key: idempotencyKey, Hash: topUpHash(userID, amount)}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if idempotencyKey != "" {
			replay, found, err := s.claimKey(ctx, tx, k)
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
		res = payments.TopUpResult{Account: a}
		if idempotencyKey != "" {
			return idempotency.SaveResponse(ctx, tx, k, newStoredResponse(a))
		}
		return nil
	})
	if err != nil {
		return payments.TopUpResult{}, pgfault.From(fmt.Sprintf("top up %s", userID), err)
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
		return errAccountNotFound()
	}
	return fault.Errorf(fault.FailedPrecondition, "balance would exceed %d", payments.MaxBalance).
		WithReason(fault.ReasonBalanceLimitExceeded)
}

// topUpHash is the sha256 of the canonical top-up request, kept with its
// idempotency key. The operation name keeps keys of different operations
// apart should they ever share the table.
func topUpHash(userID string, amount int64) []byte {
	h := sha256.Sum256([]byte("TopUp\x00" + userID + "\x00" + strconv.FormatInt(amount, 10)))
	return h[:]
}
