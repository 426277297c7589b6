package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"shop/orders"
	"shop/orders/postgres"
	"shop/service/fault"
)

// A page token is accepted only from the user it was issued to, by any
// store over the same database (instances share the key), and a forged one
// is InvalidArgument, logged below error level: never a 500.
func TestListOrdersPageTokens(t *testing.T) {
	s, db, c := newStore(t)
	ctx := context.Background()
	for i := range 3 {
		c.Set(t0.Add(time.Duration(i) * time.Second))
		for _, user := range []string{"alice", "bob"} {
			if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: user, Amount: 10}); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, err := s.ListOrders(ctx, orders.ListOrdersParams{UserID: "alice", Limit: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %+v, %v; want a next page token", first, err)
	}
	// Another instance over the same database.
	other, err := postgres.New(db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	second, err := other.ListOrders(ctx, orders.ListOrdersParams{UserID: "alice", Limit: 1, PageToken: first.NextPageToken})
	if err != nil {
		t.Fatalf("second page from another instance: %v", err)
	}
	if len(second.Orders) != 1 || second.Orders[0].ID == first.Orders[0].ID || second.Orders[0].UserID != "alice" {
		t.Errorf("second page: %+v, want alice's next order", second.Orders)
	}

	var key []byte
	if err := db.Pool.QueryRow(ctx, `SELECT key FROM page_token_key`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 || bytes.Equal(key, make([]byte, 32)) {
		t.Errorf("key: %d bytes %x, want 32 random bytes", len(key), key)
	}
	otherKey, err := orders.NewPageTokens(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	farPast := orders.Cursor{CreatedAt: time.UnixMicro(-4_611_686_018_427_387_904), ID: uuid.New()}
	dbKey, err := orders.NewPageTokens(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		user  string
		token string
	}{
		{"ErrIssue9Forgery", "alice", "AcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"ErrAnotherUsersToken", "bob", first.NextPageToken},
		{"ErrOtherKey", "alice", otherKey.Encode("alice", orders.Cursor{CreatedAt: t0, ID: first.Orders[0].ID})},
		// Tagged with the real key, yet out of range: refused before it
		// reaches Postgres (which would refuse the time with SQLSTATE 22008).
		{"ErrOutOfRangeWithTheKey", "alice", dbKey.Encode("alice", farPast)},
		{"ErrGarbage", "alice", strings.Repeat("A", len(first.NextPageToken))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListOrders(ctx, orders.ListOrdersParams{UserID: tt.user, Limit: 1, PageToken: tt.token})
			wantKind(t, err, fault.Invalid, fault.ReasonInvalidArgument)
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			if code := status.Code(fault.StatusError(ctx, logger, "ListOrders", err)); code != codes.InvalidArgument {
				t.Errorf("gRPC code: got %v, want %v", code, codes.InvalidArgument)
			}
			if strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("logged at error level: %s", logs.String())
			}
		})
	}
}
