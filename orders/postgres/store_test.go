package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/orders"
	"shop/orders/postgres"
	ordersv1 "shop/proto/orders/v1"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// t0 has nanoseconds, so that truncation to microseconds is visible.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.UTC)

func newStore(t *testing.T, opts ...postgres.Option) (*postgres.Store, *stacktest.Database, *clock) {
	t.Helper()
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	c := &clock{t: t0}
	s, err := postgres.New(db.Pool, append([]postgres.Option{postgres.WithClock(c.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, db, c
}

func count(t *testing.T, db *stacktest.Database, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func wantKind(t *testing.T, err error, kind orders.Kind, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want kind %v", kind)
	}
	if got := orders.KindOf(err); got != kind {
		t.Fatalf("got kind %v (%v), want %v", got, err, kind)
	}
	if got := orders.ReasonOf(err); got != reason {
		t.Fatalf("got reason %q, want %q", got, reason)
	}
}

func TestCreateOrderWritesOrderAndOutboxInOneTransaction(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()

	res, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 12_345, Description: "чай"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed {
		t.Error("got replayed for a first request")
	}
	want := orders.Order{
		ID: res.Order.ID, UserID: "alice", Amount: 12_345, Currency: "RUB", Description: "чай",
		Status: orders.StatusPending, CreatedAt: t0.Truncate(time.Microsecond), UpdatedAt: t0.Truncate(time.Microsecond),
	}
	if diff := cmp.Diff(want, res.Order); diff != "" {
		t.Errorf("created order (-want +got):\n%s", diff)
	}
	if v := res.Order.ID.Version(); v != 7 && v != 4 {
		t.Errorf("order id version: got %d, want 7 or 4", v)
	}
	got, err := s.GetOrder(ctx, "alice", res.Order.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored order (-want +got):\n%s", diff)
	}

	var (
		aggType, aggID, typ string
		payload             []byte
		orderXmin, boxXmin  string
	)
	err = db.Pool.QueryRow(ctx, `SELECT aggregatetype, aggregateid, type, payload::text, xmin::text FROM outbox`).
		Scan(&aggType, &aggID, &typ, &payload, &boxXmin)
	if err != nil {
		t.Fatalf("read the outbox row: %v", err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT xmin::text FROM orders WHERE id = $1`, res.Order.ID).Scan(&orderXmin); err != nil {
		t.Fatal(err)
	}
	// Rows written by one transaction carry its id in xmin.
	if orderXmin != boxXmin {
		t.Errorf("order written by transaction %s, outbox row by %s; want one transaction", orderXmin, boxXmin)
	}
	if aggType != "order" || aggID != "alice" || typ != "OrderCreated" {
		t.Errorf("outbox row: got (%q, %q, %q), want (order, alice, OrderCreated)", aggType, aggID, typ)
	}
	var ev ordersv1.OrderCreated
	if err := protojson.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	wantEv := &ordersv1.OrderCreated{OrderId: res.Order.ID.String(), UserId: "alice", Amount: 12_345, Currency: "RUB", CreatedAt: timestamppb.New(want.CreatedAt)}
	if diff := cmp.Diff(wantEv, &ev, protocmp.Transform()); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestCreateOrderInvalidWritesNothing(t *testing.T) {
	s, db, _ := newStore(t)
	_, err := s.CreateOrder(context.Background(), orders.CreateOrderParams{UserID: "alice", Amount: 0, IdempotencyKey: "k"})
	wantKind(t, err, orders.KindInvalid, "")
	for _, table := range []string{"orders", "outbox", "idempotency_keys"} {
		if n := count(t, db, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s: got %d rows, want 0", table, n)
		}
	}
}

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
	if n := count(t, db, "SELECT count(*) FROM orders"); n != 1 {
		t.Errorf("orders: got %d, want 1", n)
	}
	if n := count(t, db, "SELECT count(*) FROM outbox"); n != 1 {
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
			wantKind(t, err, orders.KindFailedPrecondition, orders.ReasonIdempotencyKeyReused)
			if n := count(t, db, "SELECT count(*) FROM orders"); n != 1 {
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
	if got := count(t, db, "SELECT count(*) FROM orders"); got != 1 {
		t.Errorf("orders: got %d, want 1", got)
	}
	if got := count(t, db, "SELECT count(*) FROM outbox"); got != 1 {
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
	wantKind(t, err, orders.KindConflict, orders.ReasonIdempotencyKeyInUse)

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

func TestGetOrderNotFound(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	res, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		userID string
		id     uuid.UUID
	}{
		{"OtherUsersOrder", "bob", res.Order.ID},
		{"UnknownID", "alice", uuid.New()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.GetOrder(ctx, tt.userID, tt.id)
			wantKind(t, err, orders.KindNotFound, "")
		})
	}
}

func TestListOrdersPagination(t *testing.T) {
	s, _, c := newStore(t)
	ctx := context.Background()
	// Seven orders: four share one created_at (the id breaks the tie), the
	// others are older and newer. Bob's orders never show up.
	var want []orders.Order
	times := []time.Duration{0, time.Second, time.Second, time.Second, time.Second, 2 * time.Second, -time.Second}
	for i, d := range times {
		c.Set(t0.Add(d))
		res, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: int64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.Order)
		if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "bob", Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(want, func(i, j int) bool {
		a, b := want[i], want[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return string(a.ID[:]) > string(b.ID[:])
	})

	tests := []struct {
		name      string
		limit     int32
		wantPages int
	}{
		{"LimitOne", 1, 7},
		{"LimitTwo", 2, 4},
		{"LimitExactDivisor", 7, 1},
		{"LimitThreeSplitsTheTie", 3, 3},
		{"DefaultLimit", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []orders.Order
			token := ""
			for pages := 1; ; pages++ {
				if pages > 10 {
					t.Fatal("more than 10 pages")
				}
				page, err := s.ListOrders(ctx, orders.ListOrdersParams{UserID: "alice", Limit: tt.limit, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page.Orders...)
				if page.NextPageToken == "" {
					if pages != tt.wantPages {
						t.Errorf("got %d pages, want %d", pages, tt.wantPages)
					}
					break
				}
				token = page.NextPageToken
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("orders (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListOrdersEmptyAndInvalid(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	page, err := s.ListOrders(ctx, orders.ListOrdersParams{UserID: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 0 || page.NextPageToken != "" {
		t.Errorf("got %d orders and token %q, want none", len(page.Orders), page.NextPageToken)
	}
	for _, p := range []orders.ListOrdersParams{
		{UserID: "alice", PageToken: "garbage!"},
		{UserID: "alice", PageToken: "AQID"},
		{UserID: "alice", Limit: 101},
		{UserID: ""},
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			_, err := s.ListOrders(ctx, p)
			wantKind(t, err, orders.KindInvalid, "")
		})
	}
}

func TestApplyPayment(t *testing.T) {
	paid := orders.PaymentResult{Paid: true}
	broke := orders.PaymentResult{Reason: orders.CancelReasonInsufficientFunds}
	noAccount := orders.PaymentResult{Reason: orders.CancelReasonAccountNotFound}
	tests := []struct {
		name         string
		results      []orders.PaymentResult
		otherUser    bool
		unknownOrder bool
		wantOutcomes []postgres.ApplyOutcome
		wantStatus   orders.Status
		wantReason   orders.CancelReason
	}{
		{name: "PendingToPaid", results: []orders.PaymentResult{paid}, wantOutcomes: []postgres.ApplyOutcome{postgres.Applied}, wantStatus: orders.StatusPaid},
		{name: "PendingToCancelledInsufficientFunds", results: []orders.PaymentResult{broke}, wantOutcomes: []postgres.ApplyOutcome{postgres.Applied}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonInsufficientFunds},
		{name: "PendingToCancelledAccountNotFound", results: []orders.PaymentResult{noAccount}, wantOutcomes: []postgres.ApplyOutcome{postgres.Applied}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
		{name: "PaidStaysPaid", results: []orders.PaymentResult{paid, broke}, wantOutcomes: []postgres.ApplyOutcome{postgres.Applied, postgres.AlreadyTerminal}, wantStatus: orders.StatusPaid},
		{name: "CancelledStaysCancelled", results: []orders.PaymentResult{noAccount, paid}, wantOutcomes: []postgres.ApplyOutcome{postgres.Applied, postgres.AlreadyTerminal}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
		{name: "OtherUserIgnored", results: []orders.PaymentResult{paid}, otherUser: true, wantOutcomes: []postgres.ApplyOutcome{postgres.UnknownOrder}, wantStatus: orders.StatusPending},
		{name: "UnknownOrderIgnored", results: []orders.PaymentResult{paid}, unknownOrder: true, wantOutcomes: []postgres.ApplyOutcome{postgres.UnknownOrder}, wantStatus: orders.StatusPending},
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
				r.OrderID, r.UserID, r.Amount = created.Order.ID, "alice", 10
				if tt.otherUser {
					r.UserID = "mallory"
				}
				if tt.unknownOrder {
					r.OrderID = uuid.New()
				}
				var outcome postgres.ApplyOutcome
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
				wantUpdated = t0.Add(time.Minute).Truncate(time.Microsecond) // the first, applied result
			}
			if !got.UpdatedAt.Equal(wantUpdated) {
				t.Errorf("updated_at: got %v, want %v", got.UpdatedAt, wantUpdated)
			}
		})
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
	if got := count(t, db, "SELECT count(*) FROM idempotency_keys WHERE key = 'k1'"); got != 1 {
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
