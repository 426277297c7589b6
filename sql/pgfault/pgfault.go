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
// IDEMPOTENCY_KEY_IN_USE; a data exception (SQLSTATE class 22: a value out
// of range, invalid text such as a NUL byte, bad syntax for a type) is
// Invalid, since only the input can cause one (see DataException); a
// database that cannot be reached or a lost connection is Unavailable.
// Context errors and anything else are returned wrapped with op, and stay
// visible to errors.Is.
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
	case isPg && DataException(pgErr):
		return fault.Wrap(fault.Invalid, err, dataExceptionMessage(pgErr.Code))
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

// DataException reports whether pgErr is of SQLSTATE class 22, data
// exception: a value the statement cannot take (out of range, too long,
// malformed for its type, a NUL byte or invalid UTF-8 in text). The same
// statement with the same values fails again, so a request that causes one
// is invalid, not a server failure.
func DataException(pgErr *pgconn.PgError) bool {
	return len(pgErr.Code) == 5 && pgErr.Code[:2] == "22"
}

// dataExceptionMessage is the client-safe message of a data exception: what
// kind of value was refused, never the server's own text (which names
// types and echoes the value).
func dataExceptionMessage(code string) string {
	switch code {
	case "22001": // string_data_right_truncation
		return "invalid input: a value is too long"
	case "22003": // numeric_value_out_of_range
		return "invalid input: a number is out of range"
	case "22007", "22008": // invalid_datetime_format, datetime_field_overflow
		return "invalid input: a date or time is out of range"
	case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
		return "invalid input: text contains a NUL byte or bytes that are not valid UTF-8"
	case "22P02": // invalid_text_representation
		return "invalid input: a value is malformed"
	}
	return "invalid input value"
}
