// Package postgres is the payments store: accounts, the ledger, idempotency
// keys and the payment of orders, in the payments Postgres database.
//
// Every balance change writes a ledger row in the same transaction, so that
// for every account, at every commit, balance = sum(credits) - sum(debits).
// A Store is safe for concurrent use.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/payments"
)

// Store is the payments store.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock of timestamps (created_at, updated_at); the
// default is time.Now. Times are stored in UTC.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store on pool; it fails when pool is nil.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("payments store: nil pool")
	}
	s := &Store{pool: pool, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const accountColumns = `user_id, balance, currency, created_at, updated_at`

func scanAccount(row pgx.Row) (payments.Account, error) {
	var a payments.Account
	err := row.Scan(&a.UserID, &a.Balance, &a.Currency, &a.CreatedAt, &a.UpdatedAt)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, err
}

// CreateAccount opens userID's account with a zero balance. Errors:
// KindInvalid for a malformed user id, KindConflict with reason
// ACCOUNT_EXISTS when the user already has an account (of concurrent calls
// for one user exactly one succeeds).
func (s *Store) CreateAccount(ctx context.Context, userID string) (payments.Account, error) {
	if err := payments.ValidateUserID(userID); err != nil {
		return payments.Account{}, err
	}
	now := s.clock()
	a, err := scanAccount(s.pool.QueryRow(ctx, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at)
		VALUES ($1, 0, $2, $3, $3) RETURNING `+accountColumns, userID, payments.Currency, now))
	if err != nil {
		if isUniqueViolation(err) {
			return payments.Account{}, payments.Errorf(payments.KindConflict, payments.ReasonAccountExists, "account already exists")
		}
		return payments.Account{}, dbError(fmt.Sprintf("create account %s", userID), err)
	}
	return a, nil
}

// GetAccount returns userID's account. Errors: KindInvalid for a malformed
// user id, KindNotFound when there is no account.
func (s *Store) GetAccount(ctx context.Context, userID string) (payments.Account, error) {
	if err := payments.ValidateUserID(userID); err != nil {
		return payments.Account{}, err
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1`, userID))
	if err != nil {
		return payments.Account{}, dbError(fmt.Sprintf("get account %s", userID), err)
	}
	return a, nil
}

// isUniqueViolation reports whether err is a Postgres unique violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// dbError turns a driver error into a domain error: no rows is KindNotFound,
// an unreachable database KindUnavailable, a cancelled context is returned
// as is (wrapped), anything else KindInternal. Errors that already carry a
// kind pass through.
func dbError(op string, err error) error {
	var de *payments.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return payments.Errorf(payments.KindNotFound, payments.ReasonNotFound, "account not found")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case isUnavailable(err):
		return &payments.Error{Kind: payments.KindUnavailable, Reason: payments.ReasonUnavailable,
			Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return &payments.Error{Kind: payments.KindInternal, Reason: payments.ReasonInternal,
		Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// isUnavailable reports whether err means the database could not be reached
// or the connection was lost, as opposed to a failing statement.
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: shutdown, cannot connect now.
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return pgconn.SafeToRetry(err)
}
