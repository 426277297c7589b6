package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/orders"
	"shop/orders/postgres"
	"shop/stack/stacktest"
)

// startAnnouncer runs an announcer over db's pool until the test ends.
func startAnnouncer(t *testing.T, db *stacktest.Database) *postgres.Announcer {
	t.Helper()
	a, err := postgres.NewAnnouncer(db.Pool, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "announcer", a.Run)
	return a
}

// noNotification fails the test when conn receives a notification within
// wait.
func noNotification(t *testing.T, conn *pgx.Conn, wait time.Duration, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if n, err := conn.WaitForNotification(ctx); err == nil {
		t.Fatalf("%s: notification %s", what, n.Payload)
	}
}

// The transaction that applies a payment result notifies nothing, even
// for a watched user: a NOTIFY there would tie the money to Postgres'
// notification queue, whose filling (a listener that stops reading) fails
// every notifying commit. The announcer sends the change after the commit.
func TestPaymentTransactionNotifiesNothing(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	conn := listen(t, db)
	w := startWatcher(t, db)
	subscribe(t, w, "alice")
	o := create(t, s, "alice", 100)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := conn.Conn().WaitForNotification(wctx); err != nil {
		t.Fatalf("creation not announced: %v", err)
	}

	pay(t, s, db, o, true)
	noNotification(t, conn.Conn(), 500*time.Millisecond, "the payment's transaction notified")

	a := startAnnouncer(t, db)
	a.Changed("alice", "nobody")
	n, err := conn.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("the announcer did not announce the payment: %v", err)
	}
	if !strings.Contains(n.Payload, `"status" : "PAID"`) || !strings.Contains(n.Payload, `"seq" : 2`) {
		t.Errorf("payload %s, want alice's change 2, PAID", n.Payload)
	}
	noNotification(t, conn.Conn(), 300*time.Millisecond, "an unwatched user was announced")
}

// A listener that stops reading (here a session left in a transaction,
// which Postgres delivers nothing to, as to a process under SIGSTOP) holds
// the notification queue; payments are applied all the same, and a
// subscriber gets them (the announcement, or the watcher's poll).
func TestStuckListenerDoesNotStopPayments(t *testing.T) {
	s, db, _ := newStore(t)
	ctx := context.Background()
	stuck := listen(t, db)
	tx, err := stuck.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	startAnnouncer(t, db)
	w := startWatcher(t, db)
	ch := subscribe(t, w, "alice")
	o := create(t, s, "alice", 100)
	if c := receive(t, ch); c.Seq != 1 {
		t.Fatalf("got change %d, want 1", c.Seq)
	}
	pay(t, s, db, o, false)
	c := receive(t, ch)
	if c.Seq != 2 || c.Order.Status != orders.StatusCancelled || c.Order.CancelReason != orders.CancelReasonInsufficientFunds {
		t.Errorf("got change %d %s %s, want 2 CANCELLED INSUFFICIENT_FUNDS", c.Seq, c.Order.Status, c.Order.CancelReason)
	}
}
