package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/orders"
	"shop/orders/postgres"
	"shop/stack/stacktest"
)

// startWatcher runs a watcher over db's pool until the test ends.
func startWatcher(t *testing.T, db *stacktest.Database) *postgres.Watcher {
	t.Helper()
	w, err := postgres.NewWatcher(db.Pool, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher Run: %v", err)
		}
	})
	return w
}

func subscribe(t *testing.T, w *postgres.Watcher, user string) <-chan orders.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, stop, err := w.Subscribe(ctx, user)
	if err != nil {
		t.Fatalf("subscribe %s: %v", user, err)
	}
	t.Cleanup(stop)
	return ch
}

func pay(t *testing.T, s *postgres.Store, db *stacktest.Database, o orders.Order, paid bool) {
	t.Helper()
	r := orders.PaymentResult{EventID: uuid.New(), OrderID: o.ID, UserID: o.UserID, Amount: o.Amount, Paid: paid}
	if !paid {
		r.Reason = orders.CancelReasonInsufficientFunds
	}
	err := pgx.BeginFunc(context.Background(), db.Pool, func(tx pgx.Tx) error {
		_, err := s.ApplyPayment(context.Background(), tx, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, s *postgres.Store, user string, amount int64) orders.Order {
	t.Helper()
	res, err := s.CreateOrder(context.Background(), orders.CreateOrderParams{UserID: user, Amount: amount, Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Order
}

func receive(t *testing.T, ch <-chan orders.Change) orders.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no change within 30s")
	}
	return orders.Change{}
}

func TestChangesAreNumberedPerUserAndKeptInTheLog(t *testing.T) {
	s, db, c := newStore(t)
	ctx := context.Background()
	a1 := create(t, s, "alice", 100)
	b1 := create(t, s, "bob", 200)
	c.Set(t0.Add(time.Second))
	pay(t, s, db, a1, true)
	a2 := create(t, s, "alice", 300)
	pay(t, s, db, a2, false)
	pay(t, s, db, a1, false) // a terminal order does not change: no change

	paid := a1
	paid.Status, paid.UpdatedAt = orders.StatusPaid, t0.Add(time.Second).Truncate(time.Microsecond)
	cancelled := a2
	cancelled.Status, cancelled.CancelReason, cancelled.UpdatedAt = orders.StatusCancelled, orders.CancelReasonInsufficientFunds, paid.UpdatedAt
	tests := []struct {
		name  string
		user  string
		after int64
		want  []orders.Change
	}{
		{"AliceFromStart", "alice", 0, []orders.Change{{Seq: 1, Order: a1}, {Seq: 2, Order: paid}, {Seq: 3, Order: a2}, {Seq: 4, Order: cancelled}}},
		{"AliceAfter2", "alice", 2, []orders.Change{{Seq: 3, Order: a2}, {Seq: 4, Order: cancelled}}},
		{"AliceAfterLatest", "alice", 4, nil},
		{"Bob", "bob", 0, []orders.Change{{Seq: 1, Order: b1}}},
		{"NoOrders", "carol", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ChangesAfter(ctx, tt.user, tt.after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
	for user, want := range map[string]int64{"alice": 4, "bob": 1, "carol": 0} {
		if got, err := s.LatestChange(ctx, user); err != nil || got != want {
			t.Errorf("LatestChange(%s) = %d, %v; want %d", user, got, err, want)
		}
	}
}

func TestWatcherDeliversTheUsersChangesOnly(t *testing.T) {
	s, db, c := newStore(t)
	w := startWatcher(t, db)
	alice := subscribe(t, w, "alice")
	bob := subscribe(t, w, "bob")

	a := create(t, s, "alice", 100)
	create(t, s, "bob", 200)
	c.Set(t0.Add(time.Second))
	pay(t, s, db, a, false)

	if got, want := receive(t, alice), (orders.Change{Seq: 1, Order: a}); !cmp.Equal(want, got) {
		t.Errorf("first change of alice (-want +got):\n%s", cmp.Diff(want, got))
	}
	cancelled := a
	cancelled.Status, cancelled.CancelReason, cancelled.UpdatedAt = orders.StatusCancelled, orders.CancelReasonInsufficientFunds, t0.Add(time.Second).Truncate(time.Microsecond)
	if got, want := receive(t, alice), (orders.Change{Seq: 2, Order: cancelled}); !cmp.Equal(want, got) {
		t.Errorf("second change of alice (-want +got):\n%s", cmp.Diff(want, got))
	}
	if got := receive(t, bob); got.Seq != 1 || got.Order.UserID != "bob" {
		t.Errorf("bob got %+v, want his own order as change 1", got)
	}
	select {
	case got := <-alice:
		t.Errorf("alice got a third change %+v", got)
	case <-time.After(200 * time.Millisecond):
	}
}

// Only the changes of a user someone watches are announced (a NOTIFY
// serializes commits); the others are only in the log.
func TestOnlyWatchedUsersAreAnnounced(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN order_changes"); err != nil {
		t.Fatal(err)
	}
	create(t, s, "nobody", 100)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	n, err := conn.Conn().WaitForNotification(wctx)
	cancel()
	if err == nil {
		t.Fatalf("an unwatched user's change was announced: %s", n.Payload)
	}

	w := startWatcher(t, db)
	subscribe(t, w, "alice")
	create(t, s, "alice", 100)
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err = conn.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("a watched user's change was not announced: %v", err)
	}
	if !strings.Contains(n.Payload, `"user_id" : "alice"`) {
		t.Errorf("payload %s, want alice's order", n.Payload)
	}
	if got, err := s.ChangesAfter(ctx, "nobody", 0, 10); err != nil || len(got) != 1 {
		t.Errorf("log of the unwatched user: %v, %v; want one change", got, err)
	}
}

// Concurrent transactions of one user get numbers in commit order: a
// subscriber sees 1, 2, 3, ... without a hole or a swap, and so does the log.
func TestConcurrentChangesOfOneUserArriveInNumberOrder(t *testing.T) {
	s, db, _ := newStore(t)
	w := startWatcher(t, db)
	ch := subscribe(t, w, "alice")
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			o := create(t, s, "alice", 100)
			pay(t, s, db, o, true)
		})
	}
	for want := int64(1); want <= 2*n; want++ {
		if got := receive(t, ch); got.Seq != want {
			t.Fatalf("live change number %d, want %d", got.Seq, want)
		}
	}
	wg.Wait()
	log, err := s.ChangesAfter(context.Background(), "alice", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range log {
		if c.Seq != int64(i+1) {
			t.Fatalf("log entry %d has number %d", i, c.Seq)
		}
	}
	if len(log) != 2*n {
		t.Errorf("log has %d changes, want %d", len(log), 2*n)
	}
}

// A subscriber that does not read is dropped when its buffer is full; the
// others go on.
func TestWatcherDropsASubscriberThatFallsBehind(t *testing.T) {
	s, db, _ := newStore(t)
	w := startWatcher(t, db)
	slow := subscribe(t, w, "alice")
	fast := subscribe(t, w, "alice")
	n := postgres.DefaultWatchBuffer + 10
	fastGot := make(chan int)
	go func() {
		got := 0
		timeout := time.After(30 * time.Second)
		for got < n {
			select {
			case _, ok := <-fast:
				if !ok {
					fastGot <- got
					return
				}
				got++
			case <-timeout:
				fastGot <- got
				return
			}
		}
		fastGot <- got
	}()
	for range n {
		create(t, s, "alice", 100)
	}
	got := <-fastGot
	drained := 0
	for range slow {
		drained++
	}
	if drained != postgres.DefaultWatchBuffer {
		t.Errorf("slow subscriber held %d changes before it was dropped, want %d", drained, postgres.DefaultWatchBuffer)
	}
	if got != n {
		t.Errorf("fast subscriber got %d, want %d", got, n)
	}
}
