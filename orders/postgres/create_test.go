package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"shop/orders"
	"shop/orders/postgres"
	"shop/stack/stacktest"
)

// holdCreations makes the store's one creation pipeline busy: it creates an
// order of user "holder" while another transaction holds that user's change
// counter row, so that the creations started meanwhile wait and are merged.
// The returned func lets the holder's creation commit and waits for it.
func holdCreations(t *testing.T, s *postgres.Store, db *stacktest.Database) (release func()) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "holder", Amount: 1, Description: "d"}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM order_change_seqs WHERE user_id = 'holder' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "holder", Amount: 1, Description: "d"})
		done <- err
	}()
	stacktest.WaitForNil(t, 30*time.Second, "the holder's creation waiting for the lock", func() error {
		if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`); n != 1 {
			return fmt.Errorf("%d sessions wait for a lock", n)
		}
		return nil
	})
	return func() {
		t.Helper()
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("holder's creation: %v", err)
		}
	}
}

// createWhileHeld holds the store's one creation pipeline (holdCreations),
// starts one creation per description for user users[i%len(users)],
// concurrently, lets them queue, releases the pipeline and returns each
// call's order and error.
func createWhileHeld(t *testing.T, s *postgres.Store, db *stacktest.Database, users []string, descriptions []string) ([]orders.Order, []error) {
	t.Helper()
	release := holdCreations(t, s, db)
	os := make([]orders.Order, len(descriptions))
	errs := make([]error, len(descriptions))
	var wg sync.WaitGroup
	for i, d := range descriptions {
		wg.Go(func() {
			res, err := s.CreateOrder(context.Background(), orders.CreateOrderParams{UserID: users[i%len(users)], Amount: 100, Description: d})
			os[i], errs[i] = res.Order, err
		})
	}
	time.Sleep(500 * time.Millisecond) // let them queue behind the holder
	release()
	wg.Wait()
	return os, errs
}

// mergedTransactions counts the transactions that created more than one
// order.
func mergedTransactions(t *testing.T, db *stacktest.Database) int {
	t.Helper()
	return stacktest.Count(t, db.Pool, `SELECT count(*) FROM (SELECT xmin FROM orders GROUP BY xmin HAVING count(*) > 1) AS m`)
}

// Creations that wait for the pipeline share a transaction; each order gets
// its event and its change number, once.
func TestWaitingCreationsShareATransaction(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithCreatePipelines(1))
	users := []string{"carol", "alice", "bob"}
	descriptions := make([]string, 60)
	for i := range descriptions {
		descriptions[i] = fmt.Sprint("order ", i)
	}
	created, errs := createWhileHeld(t, s, db, users, descriptions)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creation %d: %v", i, err)
		}
	}
	if n := mergedTransactions(t, db); n == 0 {
		t.Error("every order has a transaction of its own, want the waiting ones merged")
	}
	ctx := context.Background()
	for _, o := range created {
		got, err := s.GetOrder(ctx, o.UserID, o.ID)
		if err != nil {
			t.Fatalf("get %s: %v", o.ID, err)
		}
		if got.Description != o.Description || got.Status != orders.StatusPending {
			t.Errorf("order %s stored as %+v, want %+v", o.ID, got, o)
		}
		if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox WHERE payload::jsonb->>'orderId' = $1`, o.ID.String()); n != 1 {
			t.Errorf("order %s has %d events, want 1", o.ID, n)
		}
	}
	for _, u := range users {
		log, err := s.ChangesAfter(ctx, u, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 20 {
			t.Errorf("%s's log has %d changes, want 20", u, len(log))
		}
		for i, c := range log {
			if c.Seq != int64(i+1) {
				t.Fatalf("%s's log entry %d has number %d", u, i, c.Seq)
			}
		}
	}
}

// In a merged transaction each watched user's order is announced once, with
// its own payload, and no unwatched user's order is.
func TestMergedCreationsAnnounceTheirOwnOrders(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithCreatePipelines(1))
	w := startWatcher(t, db)
	subscribe(t, w, "alice")
	ctx := context.Background()
	conn := listen(t, db)
	descriptions := make([]string, 40)
	for i := range descriptions {
		descriptions[i] = "d"
	}
	created, errs := createWhileHeld(t, s, db, []string{"alice", "bob"}, descriptions)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := mergedTransactions(t, db); n == 0 {
		t.Fatal("no merged transaction")
	}
	want := map[string]bool{}
	for _, o := range created {
		if o.UserID == "alice" {
			want[o.ID.String()] = true
		}
	}
	got := map[string]int{}
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil {
			break // a second without an announcement: all are in
		}
		var p struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
			t.Fatalf("payload %s: %v", n.Payload, err)
		}
		got[p.ID]++
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Errorf("order %s announced %d times, want alice's orders once each", id, n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d orders announced, want alice's %d", len(got), len(want))
	}
}

// One order the database refuses fails alone: the others of its merged
// transaction are created, once each.
func TestMergedCreationFailureFailsOnlyItsOrder(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithCreatePipelines(1))
	if _, err := db.Owner.Exec(context.Background(), `ALTER TABLE orders ADD CONSTRAINT test_refused CHECK (description <> 'refused')`); err != nil {
		t.Fatal(err)
	}
	descriptions := make([]string, 30)
	for i := range descriptions {
		descriptions[i] = fmt.Sprint("order ", i)
	}
	descriptions[7] = "refused"
	_, errs := createWhileHeld(t, s, db, []string{"alice", "bob"}, descriptions)
	for i, err := range errs {
		if (err != nil) != (i == 7) {
			t.Errorf("creation %d (%s): error %v", i, descriptions[i], err)
		}
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM orders WHERE user_id <> 'holder'`); n != 29 {
		t.Errorf("orders stored = %d, want 29", n)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(DISTINCT description) FROM orders WHERE user_id <> 'holder'`); n != 29 {
		t.Errorf("distinct orders stored = %d, want 29 (none twice)", n)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox WHERE aggregateid <> 'holder'`); n != 29 {
		t.Errorf("events = %d, want 29", n)
	}
}

// A creation whose caller gives up while it waits for the pipeline is not
// stored; the others go on.
func TestWaitingCreationCancelledIsNotStored(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithCreatePipelines(1))
	release := holdCreations(t, s, db)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "quitter", Amount: 100, Description: "d"})
	if err == nil {
		t.Fatal("a creation whose context ended while it waited succeeded")
	}
	release()
	if _, err := s.CreateOrder(context.Background(), orders.CreateOrderParams{UserID: "stayer", Amount: 100, Description: "d"}); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM orders WHERE user_id = 'quitter'`); n != 0 {
		t.Errorf("the cancelled creation stored %d orders", n)
	}
}

// Creations that come close together while the pipelines are free share a
// transaction: the first one that follows another within the linger waits
// for the rest to join it. Without the linger each of them, started 20 ms
// after the one before, would commit alone.
func TestCloseCreationsShareATransaction(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithCreateLinger(2*time.Second))
	ctx := context.Background()
	// The creation the others follow (alone: none came before it; a linger
	// far longer than a cold pool's first round trip).
	if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "first", Amount: 1, Description: "d"}); err != nil {
		t.Fatal(err)
	}
	users := []string{"dave", "alice", "carol", "bob", "erin"}
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			_, errs[i] = s.CreateOrder(ctx, orders.CreateOrderParams{UserID: u, Amount: 100, Description: "d"})
		})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creation %d: %v", i, err)
		}
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM (SELECT xmin FROM orders WHERE user_id <> 'first' GROUP BY xmin) AS m`); n != 1 {
		t.Errorf("the close creations took %d transactions, want 1", n)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox`); n != 6 {
		t.Errorf("events = %d, want 6", n)
	}
}

// A creation whose caller gives up while it waits for a collecting leader
// is not stored, and the leader goes on collecting; the leader's order is
// stored.
func TestCreationCancelledWhileCollectedIsNotStored(t *testing.T) {
	s, db, _ := newStore(t, postgres.WithCreateLinger(3*time.Second))
	ctx := context.Background()
	// The creation the leader follows.
	if _, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "first", Amount: 1, Description: "d"}); err != nil {
		t.Fatal(err)
	}
	leader := make(chan error, 1)
	go func() {
		_, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "leader", Amount: 1, Description: "d"})
		leader <- err
	}()
	time.Sleep(300 * time.Millisecond) // the leader collects (for 3 s)
	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := s.CreateOrder(qctx, orders.CreateOrderParams{UserID: "quitter", Amount: 100, Description: "d"})
	if err == nil {
		t.Fatal("a creation whose context ended while it waited for its leader succeeded")
	}
	select {
	case err := <-leader:
		t.Fatalf("the leader finished (%v) before the quitter gave up: the quitter did not wait for it", err)
	default:
	}
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM orders WHERE user_id = 'quitter'`); n != 0 {
		t.Errorf("the cancelled creation stored %d orders", n)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM orders WHERE user_id = 'leader'`); n != 1 {
		t.Errorf("the leader stored %d orders, want 1", n)
	}
}
