// Package pgfault turns the errors of the Postgres driver into the error
// kinds of shop/service/fault, so that callers of a store never see pgconn
// types. Both services' stores use it.
package pgfault

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"shop/service/fault"
)

// From returns err, from the operation op, with its kind: an error that
// already has one passes unchanged; no rows is NotFound; a unique violation
// (23505) is AlreadyExists; a lock timeout (55P03, a concurrent request
// holding the same idempotency key) is Aborted with reason
// IDEMPOTENCY_KEY_IN_USE; a database that cannot be reached or a lost
// connection is Unavailable. Context errors and anything else are returned
// wrapped with op, and stay visible to errors.Is.
func From(op string, err error) error {
	if _, ok := errors.AsType[*fault.Error](err); ok {
		return err
	}
	err = fmt.Errorf("%s: %w", op, err)
	pgErr, isPg := errors.AsType[*pgconn.PgError](err)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return fault.Wrap(fault.NotFound, err, "not found")
	case isPg && pgErr.Code == "23505": // unique_violation
		return fault.Wrap(fault.AlreadyExists, err, "already exists")
	case isPg && pgErr.Code == "55P03": // lock_not_available
		return fault.Wrap(fault.Aborted, err, "a request with this idempotency key is still in flight").
			WithReason(fault.ReasonIdempotencyKeyInUse)
	case Unavailable(err):
		return fault.Wrap(fault.Unavailable, err, "database unavailable")
	}
	return err
}

// Unavailable reports whether err means the database could not be reached
// or the connection was lost, as opposed to a failing statement.
func Unavailable(err error) bool {
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Class 08: connection exception; 57P01-57P03: shutdown, cannot
		// connect now.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return pgconn.SafeToRetry(err)
}

// UniqueViolation reports whether err is a Postgres unique violation.
func UniqueViolation(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "23505"
}
