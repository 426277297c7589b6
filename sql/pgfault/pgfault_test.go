package pgfault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"shop/service/fault"
)

func TestFrom(t *testing.T) {
	domain := fault.Errorf(fault.FailedPrecondition, "reused").WithReason(fault.ReasonIdempotencyKeyReused)
	tests := []struct {
		name       string
		err        error
		wantKind   fault.Kind
		wantReason string
	}{
		{"DomainErrorPassesThrough", fmt.Errorf("claim: %w", domain), fault.FailedPrecondition, fault.ReasonIdempotencyKeyReused},
		{"NoRowsIsNotFound", pgx.ErrNoRows, fault.NotFound, fault.ReasonNotFound},
		{"UniqueViolationIsAlreadyExists", &pgconn.PgError{Code: "23505"}, fault.AlreadyExists, fault.ReasonAlreadyExists},
		{"LockTimeoutIsKeyInUse", fmt.Errorf("insert idempotency key: %w", &pgconn.PgError{Code: "55P03"}), fault.Aborted, fault.ReasonIdempotencyKeyInUse},
		{"ConnectionExceptionIsUnavailable", &pgconn.PgError{Code: "08006"}, fault.Unavailable, fault.ReasonUnavailable},
		{"AdminShutdownIsUnavailable", &pgconn.PgError{Code: "57P01"}, fault.Unavailable, fault.ReasonUnavailable},
		{"StringTooLongIsInvalid", &pgconn.PgError{Code: "22001"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"NumberOutOfRangeIsInvalid", &pgconn.PgError{Code: "22003"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"BadDatetimeFormatIsInvalid", &pgconn.PgError{Code: "22007"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"TimestampOutOfRangeIsInvalid", fmt.Errorf("list orders: %w", &pgconn.PgError{Code: "22008"}), fault.Invalid, fault.ReasonInvalidArgument},
		{"DivisionByZeroIsInvalid", &pgconn.PgError{Code: "22012"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"NulOrBadUTF8IsInvalid", &pgconn.PgError{Code: "22021"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"InvalidTextRepresentationIsInvalid", &pgconn.PgError{Code: "22P02"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"UntranslatableCharacterIsInvalid", &pgconn.PgError{Code: "22P05"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"ClassDataExceptionItselfIsInvalid", &pgconn.PgError{Code: "22000"}, fault.Invalid, fault.ReasonInvalidArgument},
		{"CheckViolationIsInternal", &pgconn.PgError{Code: "23514"}, fault.Internal, fault.ReasonInternal},
		{"OtherStatementErrorIsInternal", &pgconn.PgError{Code: "23502"}, fault.Internal, fault.ReasonInternal},
		{"CanceledIsInternalAndVisible", context.Canceled, fault.Internal, fault.ReasonInternal},
		{"PlainErrorIsInternal", errors.New("boom"), fault.Internal, fault.ReasonInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := From("op", tt.err)
			if k := fault.KindOf(got); k != tt.wantKind {
				t.Errorf("kind: got %v (%v), want %v", k, got, tt.wantKind)
			}
			if r := fault.ReasonOf(got); r != tt.wantReason {
				t.Errorf("reason: got %q, want %q", r, tt.wantReason)
			}
			if !errors.Is(got, tt.err) && !errors.Is(got, domain) {
				t.Errorf("got %v, want the cause kept for errors.Is", got)
			}
		})
	}
}

// The message of a data exception says what was refused, never the server's
// text, which names types and echoes the value.
func TestFromDataExceptionMessage(t *testing.T) {
	tests := []struct {
		code, want string
	}{
		{"22001", "invalid input: a value is too long"},
		{"22003", "invalid input: a number is out of range"},
		{"22008", "invalid input: a date or time is out of range"},
		{"22021", "invalid input: text contains a NUL byte or bytes that are not valid UTF-8"},
		{"22P02", "invalid input: a value is malformed"},
		{"22012", "invalid input value"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := From("op", &pgconn.PgError{Code: tt.code, Message: "secret internal text"})
			if got := fault.MessageOf(err); got != tt.want {
				t.Errorf("message: got %q, want %q", got, tt.want)
			}
		})
	}
}
