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
	"github.com/jackc/pgx/v5/pgxpool"

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
	runUntilCleanup(t, "watcher", w.Run)
	return w
}

// runUntilCleanup runs run until the test ends.
func runUntilCleanup(t *testing.T, name string, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s Run: %v", name, err)
		}
	})
}

// listen returns a connection of db's pool that listens on the channel of
// order changes, released when the test ends.
func listen(t *testing.T, db *stacktest.Database) *pgxpool.Conn {
	t.Helper()
	conn, err := db.Pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	if _, err := conn.Exec(context.Background(), "LISTEN order_changes"); err != nil {
		t.Fatal(err)
	}
	return conn
}

func subscribe(t *testing.T, w *postgres.Watcher, user string) <-chan *orders.Change {
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

func receive(t *testing.T, ch <-chan *orders.Change) orders.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return *c
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
	conn := listen(t, db)
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

// insertOrder inserts an order of user as a path other than CreateOrder
// would, in a transaction of its own, and returns the announcement the
// trigger left in the transaction (sql/orders/0006), which nobody sends.
func insertOrder(t *testing.T, db *stacktest.Database, user string) (uuid.UUID, string) {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	var payload *string
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders
			(id, user_id, amount, currency, description, status, created_at, updated_at)
			VALUES ($1, $2, 100, 'EUR', 'd', 'PENDING', $3, $3)`, id, user, t0); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT current_setting('shop.order_change', true)`).Scan(&payload)
	})
	if err != nil {
		t.Fatal(err)
	}
	if payload == nil || *payload == "" {
		t.Fatalf("no announcement left for the order %s of the watched user %s", id, user)
	}
	return id, *payload
}

// receiveSeqs receives len(want) changes and checks their numbers.
func receiveSeqs(t *testing.T, ch <-chan *orders.Change, want ...int64) []orders.Change {
	t.Helper()
	var got []orders.Change
	for _, w := range want {
		c := receive(t, ch)
		if c.Seq != w {
			t.Fatalf("live change number %d, want %d", c.Seq, w)
		}
		got = append(got, c)
	}
	return got
}

// The creation of an order is announced after its commit: a lost
// announcement is filled from the log when the user's next change
// arrives, with neither a hole nor a duplicate, and so is one that comes
// after the next change.
func TestWatcherFillsLostAndLateAnnouncementsFromTheLog(t *testing.T) {
	tests := []struct {
		name string
		// late sends the lost announcement after the next change.
		late bool
	}{
		{"Lost", false},
		{"Late", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, _ := newStore(t)
			w := startWatcher(t, db)
			ch := subscribe(t, w, "alice")
			ctx := context.Background()

			first := create(t, s, "alice", 100)
			receiveSeqs(t, ch, 1)
			lost, payload := insertOrder(t, db, "alice")
			next := create(t, s, "alice", 300)
			got := receiveSeqs(t, ch, 2, 3)
			if got[0].Order.ID != lost || got[1].Order.ID != next.ID {
				t.Errorf("changes 2 and 3 are of orders %s and %s, want %s and %s",
					got[0].Order.ID, got[1].Order.ID, lost, next.ID)
			}
			if tt.late {
				if _, err := db.Pool.Exec(ctx, `SELECT pg_notify('order_changes', $1)`, payload); err != nil {
					t.Fatal(err)
				}
			}
			// Announcements arrive in the order they were sent: the
			// next change comes right after 3, nothing in between.
			pay(t, s, db, first, true)
			if c := receive(t, ch); c.Seq != 4 || c.Order.ID != first.ID || c.Order.Status != orders.StatusPaid {
				t.Errorf("after change 3 got %+v, want change 4, the payment of %s", c, first.ID)
			}
		})
	}
}

// Concurrent creations of one user may be announced in any order (each
// after its own commit): the subscriber still gets every number once, in
// order.
func TestWatcherOrdersConcurrentCreationsOfOneUser(t *testing.T) {
	s, db, _ := newStore(t)
	w := startWatcher(t, db)
	ch := subscribe(t, w, "alice")
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { create(t, s, "alice", 100) })
	}
	for want := int64(1); want <= n; want++ {
		if got := receive(t, ch); got.Seq != want {
			t.Fatalf("live change number %d, want %d", got.Seq, want)
		}
	}
	wg.Wait()
	select {
	case c := <-ch:
		t.Errorf("change %d after the last one", c.Seq)
	case <-time.After(200 * time.Millisecond):
	}
}

// A subscription starts after the latest change of the user: an
// announcement of a change committed before it (a late one) is not
// delivered, the subscriber reads it from the log.
func TestWatcherDropsAnnouncementsOfChangesBeforeTheSubscription(t *testing.T) {
	s, db, _ := newStore(t)
	w := startWatcher(t, db)
	// A subscription that ended leaves alice watched for a while: the
	// trigger leaves announcements.
	_, stop, err := w.Subscribe(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	_, payload := insertOrder(t, db, "alice")
	ch := subscribe(t, w, "alice")
	if _, err := db.Pool.Exec(context.Background(), `SELECT pg_notify('order_changes', $1)`, payload); err != nil {
		t.Fatal(err)
	}
	o := create(t, s, "alice", 100)
	if c := receive(t, ch); c.Seq != 2 || c.Order.ID != o.ID {
		t.Errorf("first change %+v, want change 2 of %s", c, o.ID)
	}
}

// With an idempotency key, the creation is announced once its transaction
// commits; its replay is not announced.
func TestCreationWithAKeyIsAnnouncedOnceAndItsReplayNot(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	w := startWatcher(t, db)
	subscribe(t, w, "alice")
	conn := listen(t, db)
	p := orders.CreateOrderParams{UserID: "alice", Amount: 100, Description: "d", IdempotencyKey: "k1"}
	first, err := s.CreateOrder(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	n, err := conn.Conn().WaitForNotification(wctx)
	cancel()
	if err != nil {
		t.Fatalf("the creation was not announced: %v", err)
	}
	if !strings.Contains(n.Payload, first.Order.ID.String()) {
		t.Errorf("payload %s, want the order %s", n.Payload, first.Order.ID)
	}
	replay, err := s.CreateOrder(ctx, p)
	if err != nil || !replay.Replayed {
		t.Fatalf("replay: %+v, %v; want Replayed", replay, err)
	}
	wctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	n, err = conn.Conn().WaitForNotification(wctx)
	cancel()
	if err == nil {
		t.Errorf("the replay was announced: %s", n.Payload)
	}
}
