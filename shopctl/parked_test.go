package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	schema "shop/sql"
	"shop/stack/stacktest"
)

// TestParked lists the payment results waiting for their order, oldest
// first, with their age, control characters escaped; one older than the
// alert's threshold makes the command exit 1, none at all exits 0.
func TestParked(t *testing.T) {
	t.Parallel()
	st := stacktest.Get(t)
	db := st.NewDatabase(t, schema.Orders)
	env := map[string]string{"ORDERS_DATABASE_URL": db.URL}
	out := mustShopctl(t, env, "parked")
	if !strings.Contains(out, "0 parked payment result(s)") {
		t.Errorf("with nothing parked: got %q, want it to say 0 parked payment result(s)", out)
	}

	park := `INSERT INTO parked_payment_results (event_id, order_id, user_id, amount, paid, cancel_reason, event_type, topic, partition, "offset", key, value, parked_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'Payment', 'payments.events', 1, 7, $3, '{}', now() - $7::interval)`
	old, fresh := uuid.New(), uuid.New()
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, park, uuid.New(), old, "mallory\x1b[2J\x07", 4200, true, nil, "10 minutes"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, park, uuid.New(), fresh, "bob", 100, false, "INSUFFICIENT_FUNDS", "1 second"); err != nil {
		t.Fatal(err)
	}
	out, err := shopctl(t, env, "parked")
	if !errors.Is(err, errFound) {
		t.Errorf("with a result parked for 10 minutes: error %v, want errFound (exit 1)", err)
	}
	for _, want := range []string{old.String(), fresh.String(), `mallory\x1b[2J\a`, "4200", "PAID", "CANCELLED INSUFFICIENT_FUNDS", "10m0", "2 parked payment result(s), 1 older than 2m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("output holds raw control characters: %q", out)
	}
	if strings.Index(out, old.String()) > strings.Index(out, fresh.String()) {
		t.Errorf("got the fresh result before the old one, want oldest first:\n%s", out)
	}
}
