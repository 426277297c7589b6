package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/audit"
	"shop/payments/postgres"
	"shop/service/fault"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func newStore(t *testing.T, opts ...postgres.Option) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	s, err := postgres.New(db.Pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, db.Pool
}

// assertConsistent fails the test unless every account's balance equals
// credits - debits and is not negative.
func assertConsistent(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	r, err := audit.Check(context.Background(), pool, nil)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !r.OK() {
		t.Fatalf("audit violations: %v", r.Violations)
	}
}

func balance(t *testing.T, pool *pgxpool.Pool, user string) int64 {
	t.Helper()
	var b int64
	if err := pool.QueryRow(context.Background(), `SELECT balance FROM accounts WHERE user_id = $1`, user).Scan(&b); err != nil {
		t.Fatalf("balance of %s: %v", user, err)
	}
	return b
}

func wantKind(t *testing.T, err error, kind fault.Kind, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %v %s", kind, reason)
	}
	if got := fault.KindOf(err); got != kind {
		t.Fatalf("kind = %v (%v), want %v", got, err, kind)
	}
	if got := fault.ReasonOf(err); got != reason {
		t.Fatalf("reason = %q, want %q", got, reason)
	}
}
