package pgfault_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"shop/service/fault"
	schema "shop/sql"
	"shop/sql/pgfault"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// Statements that real Postgres refuses with a data exception (SQLSTATE
// class 22), with values as a request could bring them, are Invalid: a
// client error, never an internal one.
func TestFromDataExceptionsOfPostgres(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	ctx := context.Background()
	tests := []struct {
		name     string
		sql      string
		args     []any
		wantCode string
	}{
		// The forged page token of issue 9: a time Postgres cannot store.
		{"TimestampOutOfRange", `SELECT $1::timestamptz`, []any{time.UnixMicro(-4_611_686_018_427_387_904)}, "22008"},
		{"NulInText", `SELECT $1::text`, []any{"a\x00b"}, "22021"},
		{"BadUUIDSyntax", `SELECT $1::text::uuid`, []any{"not-a-uuid"}, "22P02"},
		{"BigintOverflow", `SELECT $1::bigint + 1`, []any{int64(9_223_372_036_854_775_807)}, "22003"},
		{"DivisionByZero", `SELECT 1 / $1::int`, []any{0}, "22012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out any
			err := db.Pool.QueryRow(ctx, tt.sql, tt.args...).Scan(&out)
			if err == nil {
				t.Fatalf("got no error from %s, want SQLSTATE %s", tt.sql, tt.wantCode)
			}
			got := pgfault.From("op", err)
			if k := fault.KindOf(got); k != fault.Invalid {
				t.Errorf("kind: got %v (%v), want %v", k, got, fault.Invalid)
			}
			if !strings.Contains(got.Error(), tt.wantCode) {
				t.Errorf("got %v, want the cause with SQLSTATE %s kept", got, tt.wantCode)
			}
		})
	}
}
