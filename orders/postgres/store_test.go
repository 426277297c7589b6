package postgres_test

import (
	"sync"
	"testing"
	"time"

	"shop/orders/postgres"
	"shop/service/fault"
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

// wantKind checks that err is a fault error of kind with reason (every
// error carries one: its own or its kind's default).
func wantKind(t *testing.T, err error, kind fault.Kind, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want kind %v", kind)
	}
	if got := fault.KindOf(err); got != kind {
		t.Fatalf("got kind %v (%v), want %v", got, err, kind)
	}
	if got := fault.ReasonOf(err); got != reason {
		t.Fatalf("got reason %q, want %q", got, reason)
	}
}
