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
