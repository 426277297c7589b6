package faults

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/audit"
)

// dbOrder is an order as the orders database holds it.
type dbOrder struct {
	ID          string
	User        string
	Amount      int64
	Status      string
	Reason      string
	Description string
	Updated     time.Time
}

// books is what the databases hold, read once the shop is quiet.
type books struct {
	orders      []dbOrder
	debits      map[string][]int64 // order id -> amounts of its DEBIT rows
	credits     map[string]int64   // user -> sum of CREDIT rows
	balances    map[string]int64
	deadLetters []string // "database: topic/partition/offset: error"
	pending     int
}

// readBooks reads every order, the ledger, the balances and the dead letters
// of both databases.
func readBooks(ctx context.Context, ordersDB, paymentsDB *pgxpool.Pool) (*books, error) {
	b := &books{debits: map[string][]int64{}, credits: map[string]int64{}, balances: map[string]int64{}}
	rows, err := ordersDB.Query(ctx, `SELECT id::text, user_id, amount, status, COALESCE(cancel_reason, ''), description, updated_at FROM orders`)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	for rows.Next() {
		var o dbOrder
		if err := rows.Scan(&o.ID, &o.User, &o.Amount, &o.Status, &o.Reason, &o.Description, &o.Updated); err != nil {
			rows.Close()
			return nil, err
		}
		if o.Status == "PENDING" {
			b.pending++
		}
		b.orders = append(b.orders, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	rows, err = paymentsDB.Query(ctx, `SELECT user_id, kind, amount, COALESCE(order_id::text, '') FROM ledger`)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	for rows.Next() {
		var user, kind, orderID string
		var amount int64
		if err := rows.Scan(&user, &kind, &amount, &orderID); err != nil {
			rows.Close()
			return nil, err
		}
		if kind == "DEBIT" {
			b.debits[orderID] = append(b.debits[orderID], amount)
		} else {
			b.credits[user] += amount
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	rows, err = paymentsDB.Query(ctx, `SELECT user_id, balance FROM accounts`)
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	for rows.Next() {
		var user string
		var bal int64
		if err := rows.Scan(&user, &bal); err != nil {
			rows.Close()
			return nil, err
		}
		b.balances[user] = bal
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	for name, db := range map[string]*pgxpool.Pool{"orders": ordersDB, "payments": paymentsDB} {
		rows, err := db.Query(ctx, `SELECT topic || '/' || partition || '/' || "offset" || ': ' || error FROM dead_letters ORDER BY id`)
		if err != nil {
			return nil, fmt.Errorf("read dead letters of %s: %w", name, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			b.deadLetters = append(b.deadLetters, name+": "+s)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read dead letters of %s: %w", name, err)
		}
	}
	slices.Sort(b.deadLetters)
	return b, nil
}

// tally is what a check found for the orders of one step.
type tally struct {
	orders  int // sent
	retried int // needed more than one request
	lost    int // a 201 whose order is not in the database as answered
	doubled int // a key with more than one order, or an order debited twice
	stuck   int // not PAID or CANCELLED, or never answered with a 201
}

func (t *tally) add(o tally) {
	t.orders += o.orders
	t.retried += o.retried
	t.lost += o.lost
	t.doubled += o.doubled
	t.stuck += o.stuck
}

// check compares what the client was told (sent) with the books and
// returns the tally of each step's orders plus the problems found. funds
// is every account's top-up; users not in it have no account. It expects the shop quiet: every request answered, every
// event consumed.
func check(sent []*order, b *books, funds map[string]int64, steps int) ([]tally, []string) {
	var problems []string
	problem := func(format string, args ...any) {
		if len(problems) < 50 {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else if len(problems) == 50 {
			problems = append(problems, "(more problems not shown)")
		}
	}
	tallies := make([]tally, steps)
	byKey := map[string][]dbOrder{}
	byID := map[string]dbOrder{}
	for _, o := range b.orders {
		byKey[o.Description] = append(byKey[o.Description], o)
		byID[o.ID] = o
	}
	known := map[string]bool{}
	for _, o := range sent {
		known[o.Key] = true
		t := &tallies[o.Step]
		t.orders++
		if o.Attempts > 1 {
			t.retried++
		}
		made := byKey[o.Key]
		if len(made) > 1 {
			t.doubled++
			problem("key %s made %d orders: %v", o.Key, len(made), made)
		}
		if o.Acked.IsZero() {
			t.stuck++
			problem("order %s of %s (sent %s) never got a 201: %s", o.Key, o.User, o.Sent.Format(time.TimeOnly), o.Err)
			continue
		}
		got, ok := byID[o.ID]
		if !ok || got.Description != o.Key || got.User != o.User || got.Amount != o.Amount {
			t.lost++
			problem("order %s (key %s) answered 201 but the database has %+v", o.ID, o.Key, got)
			continue
		}
		switch got.Status {
		case "PAID":
			if len(b.debits[o.ID]) > 1 {
				t.doubled++
				problem("order %s debited %d times: %v", o.ID, len(b.debits[o.ID]), b.debits[o.ID])
			}
		case "CANCELLED":
		default:
			t.stuck++
			problem("order %s (key %s, sent %s) still %s", o.ID, o.Key, o.Sent.Format(time.TimeOnly), got.Status)
		}
	}
	for key, made := range byKey {
		if !known[key] {
			problem("the database has orders no client asked for: key %q, %v", key, made)
		}
	}

	// The money: debits are exactly the PAID orders, balances are top-ups
	// minus PAID orders.
	paid := map[string]int64{}
	for _, o := range b.orders {
		debits := b.debits[o.ID]
		switch {
		case o.Status == "PAID" && (len(debits) != 1 || debits[0] != o.Amount):
			problem("PAID order %s of %d has debits %v", o.ID, o.Amount, debits)
		case o.Status != "PAID" && len(debits) > 0:
			problem("%s order %s has debits %v", o.Status, o.ID, debits)
		}
		if o.Status == "PAID" {
			paid[o.User] += o.Amount
		}
	}
	// The decisions: a user without an account has every order CANCELLED
	// for ACCOUNT_NOT_FOUND; a user with one never has that reason, and an
	// order CANCELLED for INSUFFICIENT_FUNDS must not fit in the final
	// balance (balances only go down during the run, so it did not fit
	// when it was decided either).
	for _, o := range b.orders {
		f, hasAccount := funds[o.User]
		switch {
		case !hasAccount && (o.Status != "CANCELLED" || o.Reason != "ACCOUNT_NOT_FOUND") && o.Status != "PENDING":
			problem("order %s of %s, who has no account: %s %s", o.ID, o.User, o.Status, o.Reason)
		case hasAccount && o.Reason == "ACCOUNT_NOT_FOUND":
			problem("order %s of %s, who has an account: CANCELLED for ACCOUNT_NOT_FOUND", o.ID, o.User)
		case hasAccount && o.Reason == "INSUFFICIENT_FUNDS" && f-paid[o.User] >= o.Amount:
			problem("order %s of %d CANCELLED for INSUFFICIENT_FUNDS, but %s has %d left", o.ID, o.Amount, o.User, f-paid[o.User])
		}
	}
	for id, amounts := range b.debits {
		if _, ok := byID[id]; !ok {
			problem("debits %v of order %s, which does not exist", amounts, id)
		}
	}
	for user, f := range funds {
		if b.credits[user] != f {
			problem("user %s: credits %d, want the top-up %d", user, b.credits[user], f)
		}
		if want := f - paid[user]; b.balances[user] != want {
			problem("user %s: balance %d, want top-up %d - PAID %d = %d", user, b.balances[user], f, paid[user], want)
		}
	}
	for user := range b.balances {
		if _, ok := funds[user]; !ok {
			problem("an account of %s, who never opened one", user)
		}
	}
	for _, d := range b.deadLetters {
		problem("dead letter %s", d)
	}
	return tallies, problems
}

// auditProblems runs the consistency check of shop-audit over both
// databases; once the shop is quiet, a debit in flight is a problem too.
func auditProblems(ctx context.Context, ordersDB, paymentsDB *pgxpool.Pool) ([]string, error) {
	r, err := audit.Check(ctx, paymentsDB, ordersDB)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, v := range r.Violations {
		problems = append(problems, "audit: "+v.String())
	}
	if r.InFlight != 0 {
		problems = append(problems, fmt.Sprintf("audit: %d debits of PENDING orders in a quiet shop", r.InFlight))
	}
	return problems, nil
}
