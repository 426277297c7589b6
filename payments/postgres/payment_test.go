package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
	"shop/payments"
	"shop/payments/postgres"
	"shop/service/fault"
	"shop/stack/stacktest"
)

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
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM ledger WHERE kind = 'DEBIT'`); got != 1 {
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
	wantKind(t, err, fault.Invalid, fault.ReasonInvalidArgument)

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
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM payment_outcomes`); got != 3 {
		t.Errorf("payment outcomes = %d, want 3", got)
	}
	assertConsistent(t, pool)
}

// The same order decided by concurrent transactions (its OrderCreated
// re-sent and consumed on two partitions at once) is decided once: one
// transaction decides, every other fails on the recorded outcome's unique
// key and, retried as the consumer retries, replays that decision. Nothing
// is debited twice.
func TestPayOrderConcurrentSameOrderDecidesOnce(t *testing.T) {
	tests := []struct {
		name        string
		topUp       int64
		wantStatus  payments.PaymentStatus
		wantBalance int64
		wantDebits  int
	}{
		{name: "Covered", topUp: 1000, wantStatus: payments.PaymentSucceeded, wantBalance: 600, wantDebits: 1},
		{name: "NotCovered", topUp: 100, wantStatus: payments.PaymentFailed, wantBalance: 100, wantDebits: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, pool := newStore(t)
			ctx := context.Background()
			if _, err := s.CreateAccount(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.TopUp(ctx, "alice", tt.topUp, ""); err != nil {
				t.Fatal(err)
			}
			order := payments.OrderCreated{OrderID: uuid.New(), UserID: "alice", Amount: 400, Currency: "RUB"}
			const n = 8
			outs := make([]payments.Outcome, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					for range 20 { // the consumer retries a failed transaction
						if outs[i], errs[i] = payOrder(t, s, pool, order); errs[i] == nil {
							return
						}
					}
				})
			}
			wg.Wait()
			decided := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("PayOrder %d still failing after retries: %v", i, errs[i])
				}
				if outs[i].Status != tt.wantStatus {
					t.Errorf("PayOrder %d: status %s, want %s", i, outs[i].Status, tt.wantStatus)
				}
				if !outs[i].Replayed {
					decided++
				}
			}
			if decided != 1 {
				t.Errorf("decisions not replayed = %d, want 1", decided)
			}
			if b := balance(t, pool, "alice"); b != tt.wantBalance {
				t.Errorf("balance = %d, want %d", b, tt.wantBalance)
			}
			if got := stacktest.Count(t, pool, `SELECT count(*) FROM ledger WHERE kind = 'DEBIT'`); got != tt.wantDebits {
				t.Errorf("debits = %d, want %d", got, tt.wantDebits)
			}
			if got := stacktest.Count(t, pool, `SELECT count(*) FROM payment_outcomes`); got != 1 {
				t.Errorf("payment outcomes = %d, want 1", got)
			}
			assertConsistent(t, pool)
		})
	}
}

// A recorded failure without a reason (never written by PayOrder; the
// schema allows it) is replayed like any other decision: nothing debited,
// its event published again with the reason left unspecified.
func TestPayOrderReplaysFailureWithoutReason(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TopUp(ctx, "alice", 1000, ""); err != nil {
		t.Fatal(err)
	}
	order := payments.OrderCreated{OrderID: uuid.New(), UserID: "alice", Amount: 400, Currency: "RUB"}
	if _, err := pool.Exec(ctx, `INSERT INTO payment_outcomes (order_id, user_id, amount, status, reason, created_at)
		VALUES ($1, 'alice', 400, 'FAILED', NULL, now())`, order.OrderID); err != nil {
		t.Fatal(err)
	}
	got, err := payOrder(t, s, pool, order)
	if err != nil {
		t.Fatalf("PayOrder() error = %v", err)
	}
	want := payments.Outcome{OrderID: order.OrderID, UserID: "alice", Amount: 400, Status: payments.PaymentFailed, Replayed: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PayOrder() (-want +got):\n%s", diff)
	}
	if b := balance(t, pool, "alice"); b != 1000 {
		t.Errorf("balance = %d, want 1000", b)
	}
	var typ string
	var reason *string
	if err := pool.QueryRow(ctx, `SELECT type, payload->>'reason' FROM outbox WHERE payload->>'orderId' = $1`,
		order.OrderID.String()).Scan(&typ, &reason); err != nil {
		t.Fatalf("the replayed event: %v", err)
	}
	if typ != "PaymentFailed" || reason != nil {
		t.Errorf("replayed event: type %q, reason %v; want PaymentFailed without a reason", typ, reason)
	}
	assertConsistent(t, pool)
}

// TestQueuePayOrder pays orders in one pipeline, as the consumer's
// pipelined path does: each order's outcome is PayOrder's (paid, too
// little money, no account), the balance moves once, and PayOrder later
// replays the decisions.
func TestQueuePayOrder(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TopUp(ctx, "alice", 100, ""); err != nil {
		t.Fatal(err)
	}
	orders := []payments.OrderCreated{
		{OrderID: uuid.New(), UserID: "alice", Amount: 60, Currency: "RUB"},
		{OrderID: uuid.New(), UserID: "alice", Amount: 60, Currency: "RUB"}, // 40 left
		{OrderID: uuid.New(), UserID: "nobody", Amount: 1, Currency: "RUB"},
	}
	want := []payments.Outcome{
		{Status: payments.PaymentSucceeded},
		{Status: payments.PaymentFailed, Reason: payments.FailureInsufficientFunds},
		{Status: payments.PaymentFailed, Reason: payments.FailureAccountNotFound},
	}
	for i, o := range orders {
		want[i].OrderID, want[i].UserID, want[i].Amount = o.OrderID, o.UserID, o.Amount
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return inbox.Run(ctx, tx, func(q *inbox.Queue) error {
			for i, o := range orders {
				err := s.QueuePayOrder(q, o, "00-trace-span-01", func(got payments.Outcome, err error) error {
					if diff := cmp.Diff(want[i], got); err == nil && diff != "" {
						t.Errorf("order %d (-want +got):\n%s", i, diff)
					}
					return err
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM outbox`); got != len(orders) {
		t.Errorf("outbox rows = %d, want %d", got, len(orders))
	}
	if got := balance(t, pool, "alice"); got != 40 {
		t.Errorf("balance = %d, want 40", got)
	}
	for i, o := range orders {
		got, err := payOrder(t, s, pool, o)
		if err != nil {
			t.Fatal(err)
		}
		w := want[i]
		w.Replayed = true
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("replay of order %d (-want +got):\n%s", i, diff)
		}
	}
	if got := balance(t, pool, "alice"); got != 40 {
		t.Errorf("balance after replays = %d, want 40", got)
	}
	assertConsistent(t, pool)
	if err := s.QueuePayOrder(&inbox.Queue{}, payments.OrderCreated{UserID: "alice", Amount: -1}, "", nil); fault.KindOf(err) != fault.Invalid {
		t.Errorf("QueuePayOrder(invalid) error = %v, want fault.Invalid", err)
	}
}
