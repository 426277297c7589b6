package systemtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"shop/gateway/httpapi"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestIdempotencyKeyInUse repeats a request whose first use is still in
// flight (a transaction on the service's database holds its key) through
// the gateway: both services answer 409 IDEMPOTENCY_KEY_IN_USE within the
// gateway's deadline, instead of waiting past it for a 503, and the repeat
// has no effect. Once the first use is gone, the key is free.
func TestIdempotencyKeyInUse(t *testing.T) {
	t.Parallel()
	s := startShop(t, system.Options{})
	user := stacktest.Unique("inuse")
	s.openAccount(t, user, 1000)
	tests := []struct {
		name, path, body string
		db               *stacktest.Database
		wantFree         int // the status once the key is free
	}{
		{"CreateOrder", "/api/v1/orders", `{"amount":100,"description":"held key"}`, s.OrdersDB, http.StatusCreated},
		{"TopUp", "/api/v1/account/top-up", `{"amount":100}`, s.PaymentsDB, http.StatusOK},
	}
	t.Run("Services", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				key := stacktest.Unique("key-")
				holder := holdIdempotencyKey(t, tt.db, user, key)
				status, body := s.postWithKey(t, tt.path, user, key, tt.body)
				var e httpapi.ErrorResponse
				if err := json.Unmarshal(body, &e); status != http.StatusConflict || err != nil || e.Error.Code != httpapi.CodeIdempotencyKeyInUse {
					t.Errorf("repeat while the key is held: %d %s, want 409 %s", status, body, httpapi.CodeIdempotencyKeyInUse)
				}
				if err := holder.Rollback(context.Background()); err != nil {
					t.Fatal(err)
				}
				if status, body := s.postWithKey(t, tt.path, user, key, tt.body); status != tt.wantFree {
					t.Errorf("request once the key is free: %d %s, want %d", status, body, tt.wantFree)
				}
			})
		}
	})
	// The refused top-up credited nothing; the one after it once.
	if credits, _ := s.ledgerTotals(t, user); credits != 1100 {
		t.Errorf("credits = %d, want 1100", credits)
	}
}

// holdIdempotencyKey starts a transaction on db that holds user's idempotency key, as
// the first request with it does until it commits, and leaves it open; it
// is rolled back when the test ends, if not before.
func holdIdempotencyKey(t *testing.T, db *stacktest.Database, user, key string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) }) //nolint:errcheck // a no-op once the test ended tx
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response)
		VALUES ($1, $2, 'held', '')`, user, key); err != nil {
		t.Fatal(err)
	}
	return tx
}

// postWithKey sends a POST to the gateway as user with the Idempotency-Key
// key and returns the status and body of the response.
func (s *shop) postWithKey(t *testing.T, path, user, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpapi.HeaderUserID, user)
	req.Header.Set(httpapi.HeaderIdempotencyKey, key)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
