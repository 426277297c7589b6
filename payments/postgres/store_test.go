package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/payments"
	"shop/payments/audit"
	"shop/payments/postgres"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	s, err := postgres.New(db.Pool)
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

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func wantKind(t *testing.T, err error, kind payments.Kind, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %v %s", kind, reason)
	}
	if got := payments.ErrorKind(err); got != kind {
		t.Fatalf("kind = %v (%v), want %v", got, err, kind)
	}
	if got := payments.ErrorReason(err); got != reason {
		t.Fatalf("reason = %q, want %q", got, reason)
	}
}

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
		wantKind(t, err, payments.KindConflict, payments.ReasonAccountExists)
	}
	if ok != 1 {
		t.Errorf("successful creates = %d, want 1", ok)
	}
	if got := count(t, pool, `SELECT count(*) FROM accounts`); got != 1 {
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
	wantKind(t, err, payments.KindNotFound, payments.ReasonNotFound)

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
	wantKind(t, err, payments.KindInvalid, payments.ReasonInvalidArgument)
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
	if got := count(t, pool, `SELECT count(*) FROM ledger WHERE kind = 'CREDIT'`); got != n {
		t.Errorf("credits = %d, want %d", got, n)
	}
	assertConsistent(t, pool)
}

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
	wantKind(t, err, payments.KindFailedPrecondition, payments.ReasonIdempotencyKeyReused)
	// Keys are scoped to the user.
	bobs, err := s.TopUp(ctx, "bob", 7, "key-1")
	if err != nil || bobs.Replayed || bobs.Account.Balance != 7 {
		t.Fatalf("bob's TopUp() = %+v, %v; want balance 7, not replayed", bobs, err)
	}
	if got := balance(t, pool, "alice"); got != 105 {
		t.Errorf("alice's balance = %d, want 105", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM ledger WHERE user_id = 'alice'`); got != 2 {
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
	results := make([]postgres.TopUpResult, n)
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
	wantKind(t, err, payments.KindFailedPrecondition, payments.ReasonBalanceLimitExceeded)
	if got := balance(t, pool, "rich"); got != start {
		t.Errorf("balance after rejected top-up = %d, want %d", got, start)
	}
	if got := count(t, pool, `SELECT count(*) FROM idempotency_keys`); got != 0 {
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
	wantKind(t, err, payments.KindFailedPrecondition, payments.ReasonBalanceLimitExceeded)
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
		wantKind   payments.Kind
		wantReason string
	}{
		{"ErrZero", "alice", 0, "", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrNegative", "alice", -50, "", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrTooLarge", "alice", payments.MaxAmount + 1, "", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrMinInt64", "alice", -1 << 63, "", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrMaxInt64Overflow", "alice", 1<<63 - 1, "", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrBadKey", "alice", 5, "bad\nkey", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrBadUser", "", 5, "", payments.KindInvalid, payments.ReasonInvalidArgument},
		{"ErrNoAccount", "nobody", 5, "k1", payments.KindNotFound, payments.ReasonNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.TopUp(ctx, tt.user, tt.amount, tt.key)
			wantKind(t, err, tt.wantKind, tt.wantReason)
			if got := balance(t, pool, "alice"); got != 50 {
				t.Errorf("balance = %d, want 50", got)
			}
			if got := count(t, pool, `SELECT count(*) FROM ledger`); got != 1 {
				t.Errorf("ledger rows = %d, want 1", got)
			}
			if got := count(t, pool, `SELECT count(*) FROM idempotency_keys`); got != 0 {
				t.Errorf("idempotency keys = %d, want 0", got)
			}
		})
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
	if got := count(t, pool, `SELECT count(*) FROM idempotency_keys WHERE key = 'new'`); got != 1 {
		t.Errorf("fresh key purged")
	}
}

// payOrder runs PayOrder in its own transaction.
func payOrder(t *testing.T, s *postgres.Store, pool *pgxpool.Pool, o payments.OrderCreated) (payments.Outcome, error) {
	t.Helper()
	var out payments.Outcome
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.PayOrder(context.Background(), tx, o, "00-trace-span-01")
		return err
	})
	return out, err
}

func TestPayOrder(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "poor"} {
		if _, err := s.CreateAccount(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TopUp(ctx, "alice", 1000, ""); err != nil {
		t.Fatal(err)
	}
	order := func(user string, amount int64) payments.OrderCreated {
		return payments.OrderCreated{OrderID: uuid.New(), UserID: user, Amount: amount, Currency: "RUB"}
	}
	paid, poor, ghost := order("alice", 400), order("poor", 1), order("ghost", 5)
	tests := []struct {
		name        string
		order       payments.OrderCreated
		want        payments.Outcome
		wantBalance map[string]int64
	}{
		{"Paid", paid, payments.Outcome{Status: payments.PaymentSucceeded}, map[string]int64{"alice": 600}},
		{"InsufficientFunds", poor, payments.Outcome{Status: payments.PaymentFailed, Reason: payments.FailureInsufficientFunds}, map[string]int64{"poor": 0}},
		{"AccountNotFound", ghost, payments.Outcome{Status: payments.PaymentFailed, Reason: payments.FailureAccountNotFound}, nil},
		{"PaidAgainDebitsOnce", paid, payments.Outcome{Status: payments.PaymentSucceeded, Replayed: true}, map[string]int64{"alice": 600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := payOrder(t, s, pool, tt.order)
			if err != nil {
				t.Fatalf("PayOrder() error = %v", err)
			}
			want := tt.want
			want.OrderID, want.UserID, want.Amount = tt.order.OrderID, tt.order.UserID, tt.order.Amount
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PayOrder() (-want +got):\n%s", diff)
			}
			for u, b := range tt.wantBalance {
				if got := balance(t, pool, u); got != b {
					t.Errorf("balance of %s = %d, want %d", u, got, b)
				}
			}
		})
	}
	if got := count(t, pool, `SELECT count(*) FROM ledger WHERE kind = 'DEBIT'`); got != 1 {
		t.Errorf("debits = %d, want 1", got)
	}

	// A failed decision is not flipped when the money arrives later.
	if _, err := s.TopUp(ctx, "poor", 100, ""); err != nil {
		t.Fatal(err)
	}
	got, err := payOrder(t, s, pool, poor)
	if err != nil || got.Status != payments.PaymentFailed || !got.Replayed {
		t.Errorf("PayOrder(poor again) = %+v, %v; want the recorded failure", got, err)
	}
	if b := balance(t, pool, "poor"); b != 100 {
		t.Errorf("poor's balance = %d, want 100", b)
	}

	// The same order id with another amount contradicts the decision.
	bad := paid
	bad.Amount = 1
	_, err = payOrder(t, s, pool, bad)
	wantKind(t, err, payments.KindInvalid, payments.ReasonInvalidArgument)

	// Outbox: one event per decision (replays publish the recorded decision again).
	rows, err := pool.Query(ctx, `SELECT type, aggregatetype, aggregateid, payload->>'orderId', coalesce(payload->>'reason', ''), traceparent
		FROM outbox ORDER BY created_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Type, AggType, AggID, OrderID, Reason, Trace string }
	gotRows, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	wantRows := map[string]int{
		fmt.Sprintf("PaymentSucceeded/alice/%s/", paid.OrderID):                               2,
		fmt.Sprintf("PaymentFailed/poor/%s/FAILURE_REASON_INSUFFICIENT_FUNDS", poor.OrderID):  2,
		fmt.Sprintf("PaymentFailed/ghost/%s/FAILURE_REASON_ACCOUNT_NOT_FOUND", ghost.OrderID): 1,
	}
	gotCount := map[string]int{}
	for _, r := range gotRows {
		if r.AggType != "payment" || r.Trace != "00-trace-span-01" {
			t.Errorf("outbox row %+v: want aggregatetype payment and the traceparent", r)
		}
		gotCount[fmt.Sprintf("%s/%s/%s/%s", r.Type, r.AggID, r.OrderID, r.Reason)]++
	}
	if diff := cmp.Diff(wantRows, gotCount); diff != "" {
		t.Errorf("outbox rows (-want +got):\n%s", diff)
	}
	if got := count(t, pool, `SELECT count(*) FROM payment_outcomes`); got != 3 {
		t.Errorf("payment outcomes = %d, want 3", got)
	}
	assertConsistent(t, pool)
}
