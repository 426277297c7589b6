package systemtest_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shop/gateway/httpapi"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestConcurrentOrdersOverdraw sends many orders at once, through the REST
// API, from one account whose balance covers only some of them: exactly
// those are paid, the rest are cancelled for insufficient funds, and the
// balance never goes below zero.
func TestConcurrentOrdersOverdraw(t *testing.T) {
	t.Parallel()
	const (
		balance = 1000
		amount  = 100
		orders  = 60
		workers = 8
		paid    = balance / amount
	)
	// One user's orders at once, on purpose: no rate limit.
	s := startShop(t, system.Options{RateLimit: system.NoRateLimit})
	user := stacktest.Unique("rush")
	s.openAccount(t, user, balance)

	// Watch the balance while the orders are paid.
	ctx, stopWatch := context.WithCancel(context.Background())
	type watch struct {
		samples int
		min     int64
		err     error
	}
	watched := make(chan watch, 1)
	go func() {
		w := watch{min: balance}
		defer func() { watched <- w }()
		sample := time.NewTicker(5 * time.Millisecond)
		defer sample.Stop()
		for {
			var b int64
			if err := s.PaymentsDB.Pool.QueryRow(ctx, `SELECT balance FROM accounts WHERE user_id = $1`, user).Scan(&b); err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				return
			}
			w.samples++
			w.min = min(w.min, b)
			select {
			case <-ctx.Done():
				return
			case <-sample.C:
			}
		}
	}()

	jobs := make(chan int)
	var (
		mu      sync.Mutex
		created []string
		errs    []error
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range jobs {
				o, err := s.createOrder(context.Background(), user, amount)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					created = append(created, o.ID)
				}
				mu.Unlock()
			}
		})
	}
	for i := range orders {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d of %d orders not created: %v", len(errs), orders, err)
	}

	settled := s.waitSettled(t, orders, user)
	stopWatch()
	w := <-watched
	if w.err != nil {
		t.Errorf("watching the balance: %v", w.err)
	}
	if w.min < 0 {
		t.Errorf("balance went down to %d", w.min)
	}
	t.Logf("balance sampled %d times while paying, lowest %d", w.samples, w.min)

	var paidIDs, wantIDs []string
	cancelled := 0
	for _, o := range settled {
		switch {
		case o.Status == "PAID":
			paidIDs = append(paidIDs, o.ID)
		case o.Status == "CANCELLED" && o.Reason == "INSUFFICIENT_FUNDS":
			cancelled++
		default:
			t.Errorf("order %s: %s/%s, want PAID or CANCELLED/INSUFFICIENT_FUNDS", o.ID, o.Status, o.Reason)
		}
	}
	if len(paidIDs) != paid || cancelled != orders-paid {
		t.Errorf("%d PAID and %d CANCELLED/INSUFFICIENT_FUNDS, want %d and %d", len(paidIDs), cancelled, paid, orders-paid)
	}
	for _, id := range created {
		if _, ok := settled[id]; !ok {
			t.Errorf("created order %s not in the orders database", id)
		}
	}

	// The debits are exactly the paid orders, each once.
	debits, rows := s.debits(t, user)
	for id, a := range debits {
		wantIDs = append(wantIDs, id)
		if a != amount {
			t.Errorf("debit of order %s = %d, want %d", id, a, amount)
		}
	}
	slices.Sort(paidIDs)
	slices.Sort(wantIDs)
	if diff := cmp.Diff(paidIDs, wantIDs); diff != "" || rows != paid {
		t.Errorf("%d debit rows; PAID orders (-) against debited orders (+):\n%s", rows, diff)
	}
	if got := s.balance(t, user); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
	s.checkRunningBalance(t, user)

	// The REST API tells the same story.
	var acc httpapi.Account
	if err := s.call(context.Background(), "GET", "/api/v1/account", user, "", http.StatusOK, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Balance != 0 {
		t.Errorf("GET account: balance %d, want 0", acc.Balance)
	}
	var list httpapi.OrderList
	if err := s.call(context.Background(), "GET", "/api/v1/orders?limit=100", user, "", http.StatusOK, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Orders) != orders {
		t.Errorf("GET orders: %d orders, want %d", len(list.Orders), orders)
	}
	for _, o := range list.Orders {
		if db := settled[o.ID]; o.Status != db.Status || o.CancelReason != db.Reason {
			t.Errorf("GET orders: %s is %s/%s, the database says %s/%s", o.ID, o.Status, o.CancelReason, db.Status, db.Reason)
		}
	}

	s.auditClean(t)
}

// checkRunningBalance replays user's ledger in commit order and fails if the
// running balance ever goes below zero. Ledger ids of one account are
// allocated in commit order: each entry is written after the account row is
// locked by its UPDATE.
func (s *shop) checkRunningBalance(t *testing.T, user string) {
	t.Helper()
	var lowest int64
	var entries int
	err := s.PaymentsDB.Pool.QueryRow(context.Background(), `
		SELECT COALESCE(MIN(running), 0)::bigint, COUNT(*) FROM (
			SELECT SUM(CASE kind WHEN 'CREDIT' THEN amount ELSE -amount END) OVER (ORDER BY id) AS running
			FROM ledger WHERE user_id = $1) r`, user).Scan(&lowest, &entries)
	if err != nil {
		t.Fatalf("running balance of %s: %v", user, err)
	}
	if lowest < 0 || entries == 0 {
		t.Errorf("ledger of %s (%d entries) replayed in order goes down to %d, want never below 0", user, entries, lowest)
	}
}
