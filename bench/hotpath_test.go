package bench_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
	ordersdb "shop/orders/postgres"
	"shop/payments"
	paymentsdb "shop/payments/postgres"
	"shop/proto/limits"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// TestMain stops a stack that a benchmark run alone started. Plain `go test`
// (no -bench) starts nothing: only the benchmarks ask for the stack.
func TestMain(m *testing.M) { stacktest.Main(m) }

// The benchmarks below measure the two transactions every order costs, on
// real Postgres through shop/stack/stacktest (a database cloned from the
// migrated template, no Debezium attached):
//
//	go run ./stack/cmd/stack test-env -- go test -run '^$' -bench . -count 10 shop/bench > new.txt
//	benchstat old.txt new.txt
//
// Run alone (without test-env) the package starts its own throwaway stack.

// users is how many distinct users the benchmarks spread their rows over,
// so that parallel variants do not all contend for one account row.
const users = 64

func userID(i int) string { return fmt.Sprintf("bench-user-%d", i%users) }

// BenchmarkCreateOrder is orders/postgres.Store.CreateOrder without an
// idempotency key: BEGIN, INSERT orders, INSERT outbox, COMMIT.
func BenchmarkCreateOrder(b *testing.B) {
	store := newOrdersStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := store.CreateOrder(ctx, orders.CreateOrderParams{UserID: userID(i), Amount: 100, Description: "benchmark"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateOrderParallel is CreateOrder from GOMAXPROCS×4 goroutines
// (the pool holds 20 connections): group commit shows here.
func BenchmarkCreateOrderParallel(b *testing.B) {
	store := newOrdersStore(b)
	ctx := context.Background()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := store.CreateOrder(ctx, orders.CreateOrderParams{UserID: userID(i), Amount: 100, Description: "benchmark"}); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkCreateOrderIdempotent adds an idempotency key (one more INSERT
// and a set_config per order).
func BenchmarkCreateOrderIdempotent(b *testing.B) {
	store := newOrdersStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		p := orders.CreateOrderParams{UserID: userID(i), Amount: 100, Description: "benchmark", IdempotencyKey: uuid.NewString()}
		if _, err := store.CreateOrder(ctx, p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPayOrder is one OrderCreated applied the way the payments
// consumer applies it when its batch holds one message: BEGIN, SAVEPOINT,
// INSERT inbox, payments/postgres.Store.PayOrder (outcome lookup, debit,
// ledger, outcome, outbox), RELEASE, COMMIT.
func BenchmarkPayOrder(b *testing.B) {
	store, pool := newPaymentsStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return applyOrderCreated(ctx, store, tx, i) })
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPayOrderBatch50 applies the events 50 to a transaction, as the
// consumer does under load (one savepoint each, one commit per batch). An
// op is a batch; ns/event is per event.
func BenchmarkPayOrderBatch50(b *testing.B) {
	store, pool := newPaymentsStore(b)
	ctx := context.Background()
	const batch = 50
	i := 0
	for b.Loop() {
		tx, err := pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for range batch {
			if err := applyOrderCreated(ctx, store, tx, i); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/event")
}

// applyOrderCreated is the payments consumer's per-message work for event i.
func applyOrderCreated(ctx context.Context, store *paymentsdb.Store, tx pgx.Tx, i int) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	eventID, orderID := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	if _, err := sp.Exec(ctx, `INSERT INTO inbox (event_id, topic, partition, "offset")
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, eventID, "orders.events", i%6, i); err != nil {
		return err
	}
	out, err := store.PayOrder(ctx, sp, payments.OrderCreated{OrderID: orderID, UserID: userID(i), Amount: 1, Currency: limits.Currency}, "")
	if err != nil {
		return err
	}
	if out.Status != payments.PaymentSucceeded {
		return fmt.Errorf("order %d: %s %s, want a successful payment", i, out.Status, out.Reason)
	}
	return sp.Commit(ctx)
}

func newOrdersStore(b *testing.B) *ordersdb.Store {
	b.Helper()
	db := stacktest.Get(b).NewDatabase(b, schema.Orders)
	store, err := ordersdb.New(db.Pool)
	if err != nil {
		b.Fatal(err)
	}
	return store
}

// newPaymentsStore returns a store whose users all have accounts topped up
// by the largest amount there is: 10^12 payments of 1.
func newPaymentsStore(b *testing.B) (*paymentsdb.Store, *pgxpool.Pool) {
	b.Helper()
	db := stacktest.Get(b).NewDatabase(b, schema.Payments)
	store, err := paymentsdb.New(db.Pool)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for u := range users {
		if _, err := store.CreateAccount(ctx, userID(u)); err != nil {
			b.Fatal(err)
		}
		if _, err := store.TopUp(ctx, userID(u), limits.MaxAmount, ""); err != nil {
			b.Fatal(err)
		}
	}
	return store, db.Pool
}
