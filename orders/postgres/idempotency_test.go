package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shop/orders"
	"shop/orders/postgres"
	"shop/service/fault"
	"shop/stack/stacktest"
)

func TestCreateOrderIdempotentReplay(t *testing.T) {
	s, db, c := newStore(t)
	ctx := context.Background()
	p := orders.CreateOrderParams{UserID: "alice", Amount: 500, Description: "book", IdempotencyKey: "key-1"}
	first, err := s.CreateOrder(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// The order moves on and time passes; the replay still returns the
	// first response.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyPayment(ctx, tx, orders.PaymentResult{OrderID: first.Order.ID, UserID: "alice", Amount: 500, Paid: true}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(time.Hour))

	second, err := s.CreateOrder(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Replayed {
		t.Error("second call: got replayed false, want true")
	}
	if diff := cmp.Diff(first.Order, second.Order); diff != "" {
		t.Errorf("replayed order (-first +replayed):\n%s", diff)
	}
	if n := stacktest.Count(t, db.Pool, "SELECT count(*) FROM orders"); n != 1 {
		t.Errorf("orders: got %d, want 1", n)
	}
	if n := stacktest.Count(t, db.Pool, "SELECT count(*) FROM outbox"); n != 1 {
		t.Errorf("outbox rows: got %d, want 1", n)
	}

	// The key is scoped to the user: bob's identical request is new.
	bob, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "bob", Amount: 500, Description: "book", IdempotencyKey: "key-1"})
	if err != nil {
		t.Fatal(err)
	}
	if bob.Replayed || bob.Order.ID == first.Order.ID {
		t.Errorf("bob: got replayed=%v id=%v, want a new order", bob.Replayed, bob.Order.ID)
	}
}

func TestCreateOrderKeyReusedWithOtherBody(t *testing.T) {
	tests := []struct {
		name  string
		other orders.CreateOrderParams
	}{
		{"OtherAmount", orders.CreateOrderParams{UserID: "alice", Amount: 501, Description: "book", IdempotencyKey: "key-1"}},
		{"OtherDescription", orders.CreateOrderParams{UserID: "alice", Amount: 500, Description: "books", IdempotencyKey: "key-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, _ := newStore(t)
			ctx := context.Background()
			if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 500, Description: "book", IdempotencyKey: "key-1"}); err != nil {
				t.Fatal(err)
			}
			_, err := s.CreateOrder(ctx, tt.other)
			wantKind(t, err, fault.FailedPrecondition, fault.ReasonIdempotencyKeyReused)
			if n := stacktest.Count(t, db.Pool, "SELECT count(*) FROM orders"); n != 1 {
				t.Errorf("orders: got %d, want 1", n)
			}
		})
	}
}

func TestCreateOrderConcurrentSameKey(t *testing.T) {
	s, db, _ := newStore(t)
	const n = 10
	p := orders.CreateOrderParams{UserID: "alice", Amount: 700, Description: "lamp", IdempotencyKey: "same"}
	results := make([]orders.CreateOrderResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.CreateOrder(context.Background(), p)
		})
	}
	close(start)
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !results[i].Replayed {
			fresh++
		}
		if results[i].Order.ID != results[0].Order.ID {
			t.Errorf("call %d: got order %v, want %v", i, results[i].Order.ID, results[0].Order.ID)
		}
	}
	if fresh != 1 {
		t.Errorf("got %d non-replayed responses, want 1", fresh)
	}
	if got := stacktest.Count(t, db.Pool, "SELECT count(*) FROM orders"); got != 1 {
		t.Errorf("orders: got %d, want 1", got)
	}
	if got := stacktest.Count(t, db.Pool, "SELECT count(*) FROM outbox"); got != 1 {
		t.Errorf("outbox rows: got %d, want 1", got)
	}
}

func TestCreateOrderKeyInFlightTooLong(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithIdempotencyWait(200*time.Millisecond))
	ctx := context.Background()
	p := orders.CreateOrderParams{UserID: "alice", Amount: 1, IdempotencyKey: "slow"}
	// Another request holds the key in an open transaction.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the test rolls back explicitly below
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response) VALUES ('alice', 'slow', '\x00', '\x00')`); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateOrder(ctx, p)
	wantKind(t, err, fault.Aborted, fault.ReasonIdempotencyKeyInUse)

	// Once the holder rolls back, the key is free.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.CreateOrder(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed {
		t.Error("got replayed, want a new order")
	}
}

func TestPurgeIdempotencyKeys(t *testing.T) {
	s, db, c := newStore(t)
	ctx := context.Background()
	for i, age := range []time.Duration{25 * time.Hour, 23 * time.Hour} {
		c.Set(t0.Add(-age))
		if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 1, IdempotencyKey: fmt.Sprint("k", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(t0)
	n, err := s.PurgeIdempotencyKeys(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("purged %d keys, want 1", n)
	}
	if got := stacktest.Count(t, db.Pool, "SELECT count(*) FROM idempotency_keys WHERE key = 'k1'"); got != 1 {
		t.Errorf("the 23h old key: got %d rows, want 1", got)
	}
	// A repeat of the purged key is a new request.
	res, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 1, IdempotencyKey: "k0"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed {
		t.Error("purged key replayed, want a new order")
	}
}

// The stored response is persistent: keys written before a release are
// replayed after it.
func TestCreateOrderStoredResponseShape(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	res, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 500, Description: "book", IdempotencyKey: "key-1"})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := db.Pool.QueryRow(ctx, `SELECT convert_from(response, 'UTF8') FROM idempotency_keys`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"v":1,"order":{"id":%q,"user_id":"alice","amount":500,"currency":"RUB","description":"book",`+
		`"status":"PENDING","created_at":"2025-03-04T05:06:07.891234Z","updated_at":"2025-03-04T05:06:07.891234Z"}}`, res.Order.ID)
	if got != want {
		t.Errorf("stored response:\n got %s\nwant %s", got, want)
	}
}
