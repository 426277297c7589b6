package systemtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestPaymentsKilled kills the payments process with SIGKILL while a stream
// of orders is being paid, and starts it again: every order is decided once,
// no debit is lost or doubled, and the books balance.
func TestPaymentsKilled(t *testing.T) {
	t.Parallel()
	const (
		total    = 200
		amount   = 100
		funds    = 3000 // each funded user can pay for 30 of their 50 orders
		killFrom = total / 3
	)
	// 200 orders from four users as fast as they are answered: no rate
	// limit.
	s := startShop(t, system.Options{PaymentsBinary: system.BuildPayments(t), RateLimit: system.NoRateLimit})
	funded := []string{stacktest.Unique("k"), stacktest.Unique("k"), stacktest.Unique("k")}
	for _, u := range funded {
		s.openAccount(t, u, funds)
	}
	users := append([]string{stacktest.Unique("noacct")}, funded...)
	perUser := total / len(users)

	// One goroutine creates the orders while the test kills payments.
	var (
		createdN  atomic.Int64
		createErr error
		creating  sync.WaitGroup
	)
	creating.Go(func() {
		var errs []error
		for i := range total {
			if _, err := s.createOrder(context.Background(), users[i%len(users)], amount); err != nil {
				errs = append(errs, err)
			}
			createdN.Add(1)
		}
		createErr = errors.Join(errs...)
	})

	// Kill once a third of the orders exist and payments is paying them,
	// preferably while it is behind (some created order not yet decided),
	// but before two thirds exist in any case.
	var created, decided int64
	stacktest.WaitForNil(t, settleTimeout, "payments paying a third of the orders", func() error {
		decided = int64(stacktest.Count(t, s.PaymentsDB.Pool, `SELECT COUNT(*) FROM payment_outcomes`))
		created = createdN.Load()
		if created >= killFrom && decided > 0 && (decided < created || created >= 2*killFrom) {
			return nil
		}
		return fmt.Errorf("%d orders created, %d decided; payments never got going", created, decided)
	})
	s.Payments.Kill()
	t.Logf("payments killed with %d orders created and %d decided", created, decided)
	s.Payments.Start()
	s.WaitPaymentsServing(t)

	creating.Wait()
	if createErr != nil {
		t.Fatalf("creating orders (payments being down must not matter): %v", createErr)
	}
	settled := s.waitSettled(t, total, users...)

	want := map[string]map[string]int{} // user -> "STATUS/REASON" -> count
	got := map[string]map[string]int{}
	for _, u := range funded {
		want[u] = map[string]int{"PAID/": funds / amount, "CANCELLED/INSUFFICIENT_FUNDS": perUser - funds/amount}
	}
	want[users[0]] = map[string]int{"CANCELLED/ACCOUNT_NOT_FOUND": perUser}
	paidByUser := map[string]int64{}
	for _, o := range settled {
		if got[o.UserID] == nil {
			got[o.UserID] = map[string]int{}
		}
		got[o.UserID][o.Status+"/"+o.Reason]++
		if o.Status == "PAID" {
			paidByUser[o.UserID] += o.Amount
		}
	}
	for _, u := range users {
		for k, n := range want[u] {
			if got[u][k] != n {
				t.Errorf("user %s: %d orders %s, want %d (all: %v)", u, got[u][k], k, n, got[u])
			}
		}
	}

	for _, u := range funded {
		credits, debits := s.ledgerTotals(t, u)
		bal := s.balance(t, u)
		if bal != credits-debits || credits != funds || debits != paidByUser[u] || bal != 0 {
			t.Errorf("user %s: balance %d, credits %d, debits %d, PAID orders %d; want balance 0 = credits %d - debits, debits = PAID",
				u, bal, credits, debits, paidByUser[u], funds)
		}
		ledger, rows := s.debits(t, u)
		for id, a := range ledger {
			if o, ok := settled[id]; !ok || o.Status != "PAID" || o.Amount != a {
				t.Errorf("debit of %d for order %s, which is %+v", a, id, o)
			}
		}
		if rows != len(ledger) {
			t.Errorf("user %s: %d debit rows for %d orders", u, rows, len(ledger))
		}
	}
	r := s.auditClean(t)
	if r.PaidOrders != len(funded)*funds/amount {
		t.Errorf("audit saw %d PAID orders, want %d", r.PaidOrders, len(funded)*funds/amount)
	}
}
