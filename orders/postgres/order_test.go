package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
	"shop/stack/stacktest"
)

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
	wantKind(t, err, fault.Invalid, fault.ReasonInvalidArgument)
	for _, table := range []string{"orders", "outbox", "idempotency_keys"} {
		if n := stacktest.Count(t, db.Pool, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s: got %d rows, want 0", table, n)
		}
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
			wantKind(t, err, fault.NotFound, fault.ReasonNotFound)
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
			wantKind(t, err, fault.Invalid, fault.ReasonInvalidArgument)
		})
	}
}
