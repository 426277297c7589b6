package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"shop/payments"
	"shop/payments/postgres"
	"shop/proto/limits"
	"shop/service/fault"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestCreateAccountConcurrentExactlyOne(t *testing.T) {
	s, pool := newStore(t)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = s.CreateAccount(context.Background(), "alice") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantKind(t, err, fault.AlreadyExists, fault.ReasonAccountExists)
	}
	if ok != 1 {
		t.Errorf("successful creates = %d, want 1", ok)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM accounts`); got != 1 {
		t.Errorf("accounts = %d, want 1", got)
	}
}

func TestCreateAndGetAccount(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	s, err := postgres.New(db.Pool, postgres.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = s.GetAccount(ctx, "bob")
	wantKind(t, err, fault.NotFound, fault.ReasonNotFound)

	created, err := s.CreateAccount(ctx, "bob")
	if err != nil {
		t.Fatalf("CreateAccount() error = %v", err)
	}
	want := payments.Account{UserID: "bob", Balance: 0, Currency: "RUB", CreatedAt: now, UpdatedAt: now}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("CreateAccount() (-want +got):\n%s", diff)
	}
	got, err := s.GetAccount(ctx, "bob")
	if err != nil {
		t.Fatalf("GetAccount() error = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetAccount() (-want +got):\n%s", diff)
	}
	_, err = s.CreateAccount(ctx, "bad user!")
	wantKind(t, err, fault.Invalid, fault.ReasonInvalidArgument)
}

func TestTopUpConcurrentLosesNothing(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	var want int64
	for i := range n {
		want += int64(i + 1)
		wg.Go(func() { _, errs[i] = s.TopUp(ctx, "alice", int64(i+1), "") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("top-up %d: %v", i, err)
		}
	}
	if got := balance(t, pool, "alice"); got != want {
		t.Errorf("balance = %d, want %d", got, want)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM ledger WHERE kind = 'CREDIT'`); got != n {
		t.Errorf("credits = %d, want %d", got, n)
	}
	assertConsistent(t, pool)
}

func TestTopUpBalanceLimit(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "rich"); err != nil {
		t.Fatal(err)
	}
	// Bring the balance near the cap through the ledger, as a million
	// top-ups would.
	start := payments.MaxBalance - 10
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ('rich', 'CREDIT', $1, now())`, start); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE accounts SET balance = $1 WHERE user_id = 'rich'`, start)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.TopUp(ctx, "rich", 11, "k")
	wantKind(t, err, fault.FailedPrecondition, fault.ReasonBalanceLimitExceeded)
	if got := balance(t, pool, "rich"); got != start {
		t.Errorf("balance after rejected top-up = %d, want %d", got, start)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM idempotency_keys`); got != 0 {
		t.Errorf("idempotency keys after rejected top-up = %d, want 0", got)
	}
	r, err := s.TopUp(ctx, "rich", 10, "k")
	if err != nil {
		t.Fatalf("TopUp() to the cap: %v", err)
	}
	if r.Account.Balance != payments.MaxBalance {
		t.Errorf("balance = %d, want %d", r.Account.Balance, payments.MaxBalance)
	}
	_, err = s.TopUp(ctx, "rich", 1, "")
	wantKind(t, err, fault.FailedPrecondition, fault.ReasonBalanceLimitExceeded)
	assertConsistent(t, pool)
}

func TestTopUpRejectsAndChangesNothing(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TopUp(ctx, "alice", 50, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		user       string
		amount     int64
		key        string
		wantKind   fault.Kind
		wantReason string
	}{
		{"ErrZero", "alice", 0, "", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrNegative", "alice", -50, "", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrTooLarge", "alice", limits.MaxAmount + 1, "", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrMinInt64", "alice", -1 << 63, "", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrMaxInt64Overflow", "alice", 1<<63 - 1, "", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrBadKey", "alice", 5, "bad\nkey", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrBadUser", "", 5, "", fault.Invalid, fault.ReasonInvalidArgument},
		{"ErrNoAccount", "nobody", 5, "k1", fault.NotFound, fault.ReasonNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.TopUp(ctx, tt.user, tt.amount, tt.key)
			wantKind(t, err, tt.wantKind, tt.wantReason)
			if got := balance(t, pool, "alice"); got != 50 {
				t.Errorf("balance = %d, want 50", got)
			}
			if got := stacktest.Count(t, pool, `SELECT count(*) FROM ledger`); got != 1 {
				t.Errorf("ledger rows = %d, want 1", got)
			}
			if got := stacktest.Count(t, pool, `SELECT count(*) FROM idempotency_keys`); got != 0 {
				t.Errorf("idempotency keys = %d, want 0", got)
			}
		})
	}
	assertConsistent(t, pool)
}
