package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/orders/postgres"
	"shop/stack/stacktest"
)

func TestApplyPayment(t *testing.T) {
	paid := orders.PaymentResult{Paid: true}
	broke := orders.PaymentResult{Reason: orders.CancelReasonInsufficientFunds}
	noAccount := orders.PaymentResult{Reason: orders.CancelReasonAccountNotFound}
	// A result for another amount than the order's 10, or of another user.
	paidMore := orders.PaymentResult{Paid: true, Amount: 11}
	paidLess := orders.PaymentResult{Paid: true, Amount: 9}
	brokeMore := orders.PaymentResult{Reason: orders.CancelReasonInsufficientFunds, Amount: 1_000_000}
	paidMallory := orders.PaymentResult{Paid: true, UserID: "mallory"}
	tests := []struct {
		name         string
		results      []orders.PaymentResult
		otherUser    bool
		unknownOrder bool
		wantOutcomes []orders.ApplyOutcome
		wantStatus   orders.Status
		wantReason   orders.CancelReason
		appliedAt    int // the result that moved the order, from 1; 0 means the first
	}{
		{name: "PendingToPaid", results: []orders.PaymentResult{paid}, wantOutcomes: []orders.ApplyOutcome{orders.Applied}, wantStatus: orders.StatusPaid},
		{name: "PendingToCancelledInsufficientFunds", results: []orders.PaymentResult{broke}, wantOutcomes: []orders.ApplyOutcome{orders.Applied}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonInsufficientFunds},
		{name: "PendingToCancelledAccountNotFound", results: []orders.PaymentResult{noAccount}, wantOutcomes: []orders.ApplyOutcome{orders.Applied}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
		{name: "PaidStaysPaid", results: []orders.PaymentResult{paid, broke}, wantOutcomes: []orders.ApplyOutcome{orders.Applied, orders.AlreadyTerminal}, wantStatus: orders.StatusPaid},
		{name: "CancelledStaysCancelled", results: []orders.PaymentResult{noAccount, paid}, wantOutcomes: []orders.ApplyOutcome{orders.Applied, orders.AlreadyTerminal}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
		{name: "OtherUserIgnored", results: []orders.PaymentResult{paid}, otherUser: true, wantOutcomes: []orders.ApplyOutcome{orders.OtherUsersOrder}, wantStatus: orders.StatusPending},
		{name: "UnknownOrderIgnored", results: []orders.PaymentResult{paid}, unknownOrder: true, wantOutcomes: []orders.ApplyOutcome{orders.UnknownOrder}, wantStatus: orders.StatusPending},
		{name: "HigherAmountIsMismatch", results: []orders.PaymentResult{paidMore}, wantOutcomes: []orders.ApplyOutcome{orders.AmountMismatch}, wantStatus: orders.StatusPending},
		{name: "LowerAmountIsMismatch", results: []orders.PaymentResult{paidLess}, wantOutcomes: []orders.ApplyOutcome{orders.AmountMismatch}, wantStatus: orders.StatusPending},
		{name: "FailureForOtherAmountIsMismatch", results: []orders.PaymentResult{brokeMore}, wantOutcomes: []orders.ApplyOutcome{orders.AmountMismatch}, wantStatus: orders.StatusPending},
		{name: "MismatchThenMatchApplies", results: []orders.PaymentResult{paidMore, paid}, wantOutcomes: []orders.ApplyOutcome{orders.AmountMismatch, orders.Applied}, wantStatus: orders.StatusPaid, appliedAt: 2},
		// A mismatch is one whatever the order's state: never "already
		// terminal", so that it is dead-lettered, not ignored.
		{name: "MismatchOnTerminalOrder", results: []orders.PaymentResult{paid, brokeMore}, wantOutcomes: []orders.ApplyOutcome{orders.Applied, orders.AmountMismatch}, wantStatus: orders.StatusPaid},
		{name: "OtherUserOnTerminalOrder", results: []orders.PaymentResult{noAccount, paidMallory}, wantOutcomes: []orders.ApplyOutcome{orders.Applied, orders.OtherUsersOrder}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, c := newStore(t)
			ctx := context.Background()
			created, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 10})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tt.results {
				c.Set(t0.Add(time.Duration(i+1) * time.Minute))
				r.OrderID = created.Order.ID
				if r.UserID == "" {
					r.UserID = "alice"
				}
				if r.Amount == 0 {
					r.Amount = 10
				}
				if tt.otherUser {
					r.UserID = "mallory"
				}
				if tt.unknownOrder {
					r.OrderID = uuid.New()
				}
				// The pipelined form applies exactly the results that
				// ApplyPayment applies; tried first, in a transaction
				// rolled back.
				applied := queueApplyPayment(t, s, db.Pool, r)
				if want := tt.wantOutcomes[i] == orders.Applied; applied != want {
					t.Errorf("QueueApplyPayment %d: applied %t, want %t", i, applied, want)
				}
				var outcome orders.ApplyOutcome
				err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					var err error
					outcome, err = s.ApplyPayment(ctx, tx, r)
					return err
				})
				if err != nil {
					t.Fatalf("apply %d: %v", i, err)
				}
				if outcome != tt.wantOutcomes[i] {
					t.Errorf("apply %d: got %v, want %v", i, outcome, tt.wantOutcomes[i])
				}
			}
			got, err := s.GetOrder(ctx, "alice", created.Order.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus || got.CancelReason != tt.wantReason {
				t.Errorf("got (%s, %q), want (%s, %q)", got.Status, got.CancelReason, tt.wantStatus, tt.wantReason)
			}
			wantUpdated := created.Order.UpdatedAt
			if tt.wantStatus != orders.StatusPending {
				wantUpdated = t0.Add(time.Duration(max(tt.appliedAt, 1)) * time.Minute).Truncate(time.Microsecond) // the applied result
			}
			if !got.UpdatedAt.Equal(wantUpdated) {
				t.Errorf("updated_at: got %v, want %v", got.UpdatedAt, wantUpdated)
			}
		})
	}
}

// queueApplyPayment runs QueueApplyPayment's statements for r in a
// transaction that it rolls back, and returns whether they applied r.
func queueApplyPayment(t *testing.T, s *postgres.Store, pool *pgxpool.Pool, r orders.PaymentResult) bool {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var applied bool
	err = inbox.Run(ctx, tx, func(q *inbox.Queue) error {
		return s.QueueApplyPayment(q, r, func(outcome orders.ApplyOutcome, err error) error {
			applied = outcome == orders.Applied
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return applied
}

// TestApplyParkedPayments parks results (as the consumer does when the
// order is not visible) and sweeps: a result whose order now exists is
// applied and removed, one whose order is terminal is removed unchanged,
// one whose order belongs to another user or is for another amount is
// dead-lettered with its message and removed (the order unchanged), one
// whose order is still missing stays parked.
func TestApplyParkedPayments(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	insertOrder := func(id uuid.UUID, user, status string) {
		t.Helper()
		reason := map[string]any{"PENDING": nil, "PAID": nil, "CANCELLED": "ACCOUNT_NOT_FOUND"}[status]
		if _, err := db.Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, cancel_reason, created_at, updated_at)
			VALUES ($1, $2, 10, 'RUB', '', $3, $4, now(), now())`, id, user, status, reason); err != nil {
			t.Fatal(err)
		}
	}
	offset := int64(0)
	park := func(r orders.PaymentResult) inbox.Message {
		t.Helper()
		r.EventID = uuid.New()
		if r.Amount == 0 {
			r.Amount = 10
		}
		offset++
		m := inbox.Message{EventID: r.EventID, Type: "PaymentSucceeded", Key: r.UserID, Value: []byte("raw " + r.OrderID.String()),
			Topic: "payments", Partition: 1, Offset: offset, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return s.ParkPayment(ctx, tx, r, m) }); err != nil {
			t.Fatalf("ParkPayment() = %v", err)
		}
		return m
	}
	late, terminal, foreign, missing, dearer := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	lateMsg := park(orders.PaymentResult{OrderID: late, UserID: "alice", Reason: orders.CancelReasonInsufficientFunds})
	park(orders.PaymentResult{OrderID: terminal, UserID: "alice", Paid: true})
	foreignMsg := park(orders.PaymentResult{OrderID: foreign, UserID: "alice", Paid: true})
	park(orders.PaymentResult{OrderID: missing, UserID: "alice", Paid: true})
	// A result for 99 whose order, when it shows up, is for 10.
	dearerMsg := park(orders.PaymentResult{OrderID: dearer, UserID: "alice", Amount: 99, Paid: true})

	// Nothing is applicable yet.
	if done, err := s.ApplyParkedPayments(ctx, 100); err != nil || len(done) != 0 {
		t.Fatalf("ApplyParkedPayments() with no order = %v, %v; want nothing", done, err)
	}
	insertOrder(late, "alice", "PENDING")
	insertOrder(terminal, "alice", "PAID")
	insertOrder(foreign, "mallory", "PENDING")
	insertOrder(dearer, "alice", "PENDING")

	done, err := s.ApplyParkedPayments(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]orders.ApplyOutcome{}
	for _, p := range done {
		got[p.Result.OrderID] = p.Outcome
		if p.ParkedAt.IsZero() || p.Result.UserID != "alice" {
			t.Errorf("swept %+v: want its parked time and user", p)
		}
	}
	want := map[uuid.UUID]orders.ApplyOutcome{late: orders.Applied, terminal: orders.AlreadyTerminal, foreign: orders.OtherUsersOrder, dearer: orders.AmountMismatch}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for _, p := range done {
		if p.Result.OrderID == late && (p.Result.Paid || p.Result.Reason != orders.CancelReasonInsufficientFunds || p.Result.EventID != lateMsg.EventID) {
			t.Errorf("late result read back as %+v", p.Result)
		}
	}
	for id, wantStatus := range map[uuid.UUID]string{late: "CANCELLED", terminal: "PAID", foreign: "PENDING", dearer: "PENDING"} {
		var status string
		if err := db.Pool.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, id).Scan(&status); err != nil || status != wantStatus {
			t.Errorf("order %s: %q, %v; want %s", id, status, err, wantStatus)
		}
	}
	var left []uuid.UUID
	rows, _ := db.Pool.Query(ctx, `SELECT order_id FROM parked_payment_results`)
	if left, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil || len(left) != 1 || left[0] != missing {
		t.Errorf("still parked: %v, %v; want only %s", left, err, missing)
	}
	var key, value []byte
	var headers map[string]string
	var cause string
	if err := db.Pool.QueryRow(ctx, `SELECT key, value, headers, error FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3`,
		foreignMsg.Topic, foreignMsg.Partition, foreignMsg.Offset).Scan(&key, &value, &headers, &cause); err != nil {
		t.Fatalf("dead letter of another user's order: %v", err)
	}
	if string(key) != "alice" || string(value) != string(foreignMsg.Value) || headers["id"] != foreignMsg.EventID.String() ||
		headers["eventType"] != "PaymentSucceeded" || headers["traceparent"] != foreignMsg.Traceparent || !strings.Contains(cause, "another user") {
		t.Errorf("dead letter = key %q value %q headers %v error %q; want the parked message", key, value, headers, cause)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT value, error FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3`,
		dearerMsg.Topic, dearerMsg.Partition, dearerMsg.Offset).Scan(&value, &cause); err != nil {
		t.Fatalf("dead letter of a result for another amount: %v", err)
	}
	if string(value) != string(dearerMsg.Value) || !strings.Contains(cause, "amount 99 does not match") {
		t.Errorf("dead letter = value %q error %q; want the parked message and the mismatch", value, cause)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters`); n != 2 {
		t.Errorf("dead letters: %d, want 2", n)
	}
}

// TestApplyParkedPaymentsBatchesAndSkipsLocked checks the limit, and that a
// parked result another sweeper holds is skipped, not waited for.
func TestApplyParkedPaymentsBatchesAndSkipsLocked(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for i := range 3 {
		created, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "bob", Amount: 10})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, created.Order.ID)
		r := orders.PaymentResult{EventID: uuid.New(), OrderID: created.Order.ID, UserID: "bob", Amount: 10, Paid: true}
		m := inbox.Message{EventID: r.EventID, Type: "PaymentSucceeded", Key: "bob", Value: []byte("{}"), Topic: "payments", Offset: int64(i)}
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return s.ParkPayment(ctx, tx, r, m) }); err != nil {
			t.Fatal(err)
		}
	}
	// Another sweeper holds the first one.
	held, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(ctx) //nolint:errcheck // rolled back below; a second rollback is a no-op
	if _, err := held.Exec(ctx, `SELECT 1 FROM parked_payment_results WHERE order_id = $1 FOR UPDATE`, ids[0]); err != nil {
		t.Fatal(err)
	}
	first, err := s.ApplyParkedPayments(ctx, 1)
	if err != nil || len(first) != 1 || first[0].Result.OrderID == ids[0] {
		t.Fatalf("first sweep = %+v, %v; want one result, not the held one", first, err)
	}
	second, err := s.ApplyParkedPayments(ctx, 100)
	if err != nil || len(second) != 1 || second[0].Result.OrderID == ids[0] {
		t.Fatalf("second sweep = %+v, %v; want the other unheld one", second, err)
	}
	if err := held.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	third, err := s.ApplyParkedPayments(ctx, 100)
	if err != nil || len(third) != 1 || third[0].Result.OrderID != ids[0] || third[0].Outcome != orders.Applied {
		t.Fatalf("third sweep = %+v, %v; want the released one applied", third, err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM orders WHERE status = 'PAID'`); n != 3 {
		t.Errorf("paid orders: %d, want 3", n)
	}
}

// TestParkedSweepProbesEachOrder checks the sweep's plan, not its time. With
// many orders and a result parked for an order that never comes (the
// largest id there is, the worst case for a merge join over orders_pkey),
// the sweep must read a few pages per parked result, not the orders index.
// Each way the planner may plan the prepared query is checked.
func TestParkedSweepProbesEachOrder(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	const n = 20000
	if _, err := db.Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
		SELECT gen_random_uuid(), 'u' || (i % 50), 10, 'RUB', '', 'PENDING', now(), now() FROM generate_series(1, $1::int) AS i`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	var existing uuid.UUID
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM orders LIMIT 1`).Scan(&existing); err != nil {
		t.Fatal(err)
	}
	for i, id := range []uuid.UUID{uuid.MustParse("ffffffff-ffff-4fff-bfff-ffffffffffff"), existing} {
		r := orders.PaymentResult{EventID: uuid.New(), OrderID: id, UserID: "u0", Amount: 10, Paid: true}
		m := inbox.Message{EventID: r.EventID, Type: "PaymentSucceeded", Key: "u0", Value: []byte("{}"), Topic: "payments", Offset: int64(i)}
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return s.ParkPayment(ctx, tx, r, m) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{"auto", "force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // only read; the row locks go with it
			if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = `+mode); err != nil {
				t.Fatal(err)
			}
			var plan []struct {
				Plan struct {
					Rows int     `json:"Actual Rows"`
					Hit  float64 `json:"Shared Hit Blocks"`
					Read float64 `json:"Shared Read Blocks"`
				}
			}
			if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+postgres.ParkedSweepSQL, 100).Scan(&plan); err != nil {
				t.Fatal(err)
			}
			if len(plan) != 1 {
				t.Fatalf("plan = %+v", plan)
			}
			p := plan[0].Plan
			if p.Rows != 1 {
				t.Errorf("sweep selected %d parked results, want the one whose order exists", p.Rows)
			}
			// A probe of orders_pkey reads 2 or 3 pages; reading the
			// index up to the largest id reads thousands.
			pages := p.Hit + p.Read
			t.Logf("%s: %.0f pages", mode, pages)
			if pages > 30 {
				t.Errorf("sweep read %.0f pages for 2 parked results among %d orders, want a few per result", pages, n)
			}
		})
	}
}
