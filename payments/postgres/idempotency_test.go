package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shop/payments"
	"shop/payments/postgres"
	"shop/service/fault"
	"shop/stack/stacktest"
)

func TestTopUpIdempotent(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if _, err := s.CreateAccount(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.TopUp(ctx, "alice", 100, "key-1")
	if err != nil {
		t.Fatalf("first TopUp() error = %v", err)
	}
	if first.Replayed || first.Account.Balance != 100 {
		t.Fatalf("first TopUp() = %+v, want balance 100, not replayed", first)
	}
	// Another credit in between: the replay must still return the first response.
	if _, err := s.TopUp(ctx, "alice", 5, ""); err != nil {
		t.Fatal(err)
	}
	again, err := s.TopUp(ctx, "alice", 100, "key-1")
	if err != nil {
		t.Fatalf("repeat TopUp() error = %v", err)
	}
	want := first
	want.Replayed = true
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("repeat TopUp() (-want +got):\n%s", diff)
	}
	_, err = s.TopUp(ctx, "alice", 101, "key-1")
	wantKind(t, err, fault.FailedPrecondition, fault.ReasonIdempotencyKeyReused)
	// Keys are scoped to the user.
	bobs, err := s.TopUp(ctx, "bob", 7, "key-1")
	if err != nil || bobs.Replayed || bobs.Account.Balance != 7 {
		t.Fatalf("bob's TopUp() = %+v, %v; want balance 7, not replayed", bobs, err)
	}
	if got := balance(t, pool, "alice"); got != 105 {
		t.Errorf("alice's balance = %d, want 105", got)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM ledger WHERE user_id = 'alice'`); got != 2 {
		t.Errorf("alice's ledger rows = %d, want 2", got)
	}
	assertConsistent(t, pool)
}

func TestTopUpIdempotentConcurrent(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	const n = 10
	results := make([]payments.TopUpResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = s.TopUp(ctx, "alice", 300, "same-key") })
	}
	wg.Wait()
	replayed := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("TopUp %d: %v", i, errs[i])
		}
		if results[i].Account.Balance != 300 {
			t.Errorf("TopUp %d balance = %d, want 300", i, results[i].Account.Balance)
		}
		if results[i].Replayed {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("replayed = %d, want %d", replayed, n-1)
	}
	if got := balance(t, pool, "alice"); got != 300 {
		t.Errorf("balance = %d, want 300", got)
	}
	assertConsistent(t, pool)
}

func TestTopUpKeyInFlightTooLong(t *testing.T) {
	s, pool := newStore(t, postgres.WithIdempotencyWait(200*time.Millisecond))
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// Another request holds the key in an open transaction.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the test rolls back explicitly below
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response) VALUES ('alice', 'slow', '\x00', '\x00')`); err != nil {
		t.Fatal(err)
	}
	_, err = s.TopUp(ctx, "alice", 100, "slow")
	wantKind(t, err, fault.Aborted, fault.ReasonIdempotencyKeyInUse)
	if got := balance(t, pool, "alice"); got != 0 {
		t.Errorf("balance after the failed top-up = %d, want 0", got)
	}

	// Once the holder rolls back, the key is free.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.TopUp(ctx, "alice", 100, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed || res.Account.Balance != 100 {
		t.Errorf("TopUp() after the holder left = %+v, want balance 100, not replayed", res)
	}
	assertConsistent(t, pool)
}

func TestPurgeIdempotencyKeys(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"old", "new"} {
		if _, err := s.TopUp(ctx, "alice", 1, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'`); err != nil {
		t.Fatal(err)
	}
	n, err := s.PurgeIdempotencyKeys(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("PurgeIdempotencyKeys() = %d, %v; want 1, nil", n, err)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM idempotency_keys WHERE key = 'new'`); got != 1 {
		t.Errorf("fresh key purged")
	}
}

// The stored response is persistent: keys written before a release are
// replayed after it.
func TestTopUpStoredResponseShape(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.UTC)
	s, pool := newStore(t, postgres.WithClock(func() time.Time { return t0 }))
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TopUp(ctx, "alice", 100, "key-1"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := pool.QueryRow(ctx, `SELECT convert_from(response, 'UTF8') FROM idempotency_keys`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	want := `{"user_id":"alice","balance":100,"currency":"RUB",` +
		`"created_at":"2025-03-04T05:06:07.891234Z","updated_at":"2025-03-04T05:06:07.891234Z"}`
	if got != want {
		t.Errorf("stored response:\n got %s\nwant %s", got, want)
	}
}
