package inbox

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPermanent(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "Nil", err: nil, want: false},
		{name: "Plain", err: errors.New("connection reset"), want: false},
		{name: "Undecodable", err: Undecodable(errors.New("bad json")), want: true},
		{name: "UndecodableWrapped", err: fmt.Errorf("apply: %w", Undecodable(errors.New("bad json"))), want: true},
		{name: "InvalidUTF8", err: pg("22021"), want: true},
		{name: "InvalidTextRepresentation", err: pg("22P02"), want: true},
		{name: "NumericOutOfRange", err: pg("22003"), want: true},
		{name: "StringTooLong", err: pg("22001"), want: true},
		{name: "DataErrorWrapped", err: fmt.Errorf("apply payment: %w", pg("22P05")), want: true},
		{name: "CheckViolation", err: pg("23514"), want: true},
		{name: "UniqueViolation", err: pg("23505"), want: false},
		{name: "ForeignKeyViolation", err: pg("23503"), want: false},
		{name: "NotNullViolation", err: pg("23502"), want: false},
		{name: "SerializationFailure", err: pg("40001"), want: false},
		{name: "Deadlock", err: pg("40P01"), want: false},
		{name: "LockTimeout", err: pg("55P03"), want: false},
		{name: "StatementTimeout", err: pg("57014"), want: false},
		{name: "AdminShutdown", err: pg("57P01"), want: false},
		{name: "ConnectionFailure", err: pg("08006"), want: false},
		{name: "ReadOnlyTransaction", err: pg("25006"), want: false},
		{name: "DiskFull", err: pg("53100"), want: false},
		{name: "Canceled", err: context.Canceled, want: false},
		{name: "ShortCode", err: pg("22"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := permanent(tt.err); got != tt.want {
				t.Errorf("permanent(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
}
