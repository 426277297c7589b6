// Package audit checks the money invariants of the system across the
// payments and orders databases: once (Check, for shop-audit and shopctl
// audit), or on a schedule (NewJob, shop-audit -every) that exports the
// violations of its last run as Prometheus gauges.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// InFlightGrace is how long a debit may wait for its order to become PAID:
// the PaymentSucceeded event travels through the outbox, Debezium and Kafka
// to the orders service, so a fresh debit of a PENDING order is in flight,
// not a violation.
const InFlightGrace = 5 * time.Minute

// Violation kinds.
const (
	BalanceMismatch   = "BALANCE_MISMATCH"   // balance != sum(credits) - sum(debits)
	NegativeBalance   = "NEGATIVE_BALANCE"   // balance < 0
	PaidWithoutDebit  = "PAID_WITHOUT_DEBIT" // PAID order with no DEBIT
	DebitMismatch     = "DEBIT_MISMATCH"     // DEBIT amount or user differs from its order
	DebitWithoutOrder = "DEBIT_WITHOUT_PAID_ORDER"
)

// Violation is one broken invariant.
type Violation struct {
	Kind    string
	UserID  string
	OrderID string // empty for account violations
	Detail  string
}

func (v Violation) String() string {
	s := v.Kind + " user=" + v.UserID
	if v.OrderID != "" {
		s += " order=" + v.OrderID
	}
	return s + ": " + v.Detail
}

// Report is the result of Check.
type Report struct {
	Accounts   int
	Debits     int
	PaidOrders int
	// InFlight counts debits of PENDING orders younger than InFlightGrace.
	InFlight   int
	Violations []Violation
}

// OK reports whether no invariant is broken.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// WriteTo writes r as the operator commands print it: the counts, one line
// per violation, and "OK" when there is none.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "accounts: %d, debits: %d, paid orders: %d, debits in flight: %d, violations: %d\n",
		r.Accounts, r.Debits, r.PaidOrders, r.InFlight, len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintln(&b, "  ", v)
	}
	if r.OK() {
		fmt.Fprintln(&b, "OK")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Check verifies, on a consistent snapshot of each database:
//   - every account: balance = sum(credits) - sum(debits) and balance >= 0;
//   - every PAID order has exactly one DEBIT with its order id, user and
//     amount (the ledger's unique order_id rules out more than one);
//   - every DEBIT belongs to a PAID order, except debits of PENDING orders
//     younger than InFlightGrace (counted in Report.InFlight).
//
// With ordersPool nil only the account checks run. An error means the check
// could not run; violations are in the Report.
func Check(ctx context.Context, paymentsPool, ordersPool *pgxpool.Pool) (Report, error) {
	if paymentsPool == nil {
		return Report{}, errors.New("audit: nil payments pool")
	}
	var r Report
	if err := checkBalances(ctx, paymentsPool, &r); err != nil {
		return Report{}, err
	}
	if ordersPool == nil {
		return r, nil
	}
	debits, err := loadDebits(ctx, paymentsPool)
	if err != nil {
		return Report{}, err
	}
	orders, err := loadOrders(ctx, ordersPool, debits)
	if err != nil {
		return Report{}, err
	}
	r.Debits = len(debits)
	checkOrders(&r, debits, orders, time.Now())
	return r, nil
}

func checkBalances(ctx context.Context, pool *pgxpool.Pool, r *Report) error {
	// Sums are numeric: they cannot overflow. One statement, one snapshot.
	rows, err := pool.Query(ctx, `
		SELECT a.user_id, a.balance::text,
		       (COALESCE(SUM(l.amount) FILTER (WHERE l.kind = 'CREDIT'), 0)
		      - COALESCE(SUM(l.amount) FILTER (WHERE l.kind = 'DEBIT'), 0))::text AS ledger,
		       a.balance::numeric = COALESCE(SUM(l.amount) FILTER (WHERE l.kind = 'CREDIT'), 0)
		                          - COALESCE(SUM(l.amount) FILTER (WHERE l.kind = 'DEBIT'), 0) AS consistent,
		       a.balance >= 0 AS non_negative
		FROM accounts a LEFT JOIN ledger l ON l.user_id = a.user_id
		GROUP BY a.user_id, a.balance
		ORDER BY a.user_id`)
	if err != nil {
		return fmt.Errorf("audit balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user, balance, ledger string
		var consistent, nonNegative bool
		if err := rows.Scan(&user, &balance, &ledger, &consistent, &nonNegative); err != nil {
			return fmt.Errorf("audit balances: %w", err)
		}
		r.Accounts++
		if !consistent {
			r.Violations = append(r.Violations, Violation{Kind: BalanceMismatch, UserID: user,
				Detail: fmt.Sprintf("balance %s, credits - debits %s", balance, ledger)})
		}
		if !nonNegative {
			r.Violations = append(r.Violations, Violation{Kind: NegativeBalance, UserID: user, Detail: "balance " + balance})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit balances: %w", err)
	}
	return nil
}

type debit struct {
	userID    string
	amount    int64
	createdAt time.Time
}

type order struct {
	userID string
	amount int64
	status string
}

func loadDebits(ctx context.Context, pool *pgxpool.Pool) (map[uuid.UUID]debit, error) {
	rows, err := pool.Query(ctx, `SELECT order_id, user_id, amount, created_at FROM ledger WHERE kind = 'DEBIT'`)
	if err != nil {
		return nil, fmt.Errorf("audit debits: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID]debit)
	for rows.Next() {
		var id uuid.UUID
		var d debit
		if err := rows.Scan(&id, &d.userID, &d.amount, &d.createdAt); err != nil {
			return nil, fmt.Errorf("audit debits: %w", err)
		}
		out[id] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit debits: %w", err)
	}
	return out, nil
}

// loadOrders returns every PAID order plus the orders of the debits (to
// name the status of a debited order that is not PAID).
func loadOrders(ctx context.Context, pool *pgxpool.Pool, debits map[uuid.UUID]debit) (map[uuid.UUID]order, error) {
	ids := make([]uuid.UUID, 0, len(debits))
	for id := range debits {
		ids = append(ids, id)
	}
	rows, err := pool.Query(ctx, `SELECT id, user_id, amount, status FROM orders
		WHERE status = 'PAID' OR id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("audit orders: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID]order)
	for rows.Next() {
		var id uuid.UUID
		var o order
		if err := rows.Scan(&id, &o.userID, &o.amount, &o.status); err != nil {
			return nil, fmt.Errorf("audit orders: %w", err)
		}
		out[id] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit orders: %w", err)
	}
	return out, nil
}

// checkOrders compares debits with orders; now decides what is in flight.
func checkOrders(r *Report, debits map[uuid.UUID]debit, orders map[uuid.UUID]order, now time.Time) {
	var vs []Violation
	for id, o := range orders {
		if o.status != "PAID" {
			continue
		}
		r.PaidOrders++
		d, ok := debits[id]
		switch {
		case !ok:
			vs = append(vs, Violation{Kind: PaidWithoutDebit, UserID: o.userID, OrderID: id.String(),
				Detail: fmt.Sprintf("order of %d is PAID but has no debit", o.amount)})
		case d.amount != o.amount || d.userID != o.userID:
			vs = append(vs, Violation{Kind: DebitMismatch, UserID: o.userID, OrderID: id.String(),
				Detail: fmt.Sprintf("order: user %s amount %d; debit: user %s amount %d", o.userID, o.amount, d.userID, d.amount)})
		}
	}
	for id, d := range debits {
		o, ok := orders[id]
		switch {
		case ok && o.status == "PAID":
			// Checked above.
		case ok && o.status == "PENDING" && now.Sub(d.createdAt) < InFlightGrace:
			r.InFlight++
		case ok:
			vs = append(vs, Violation{Kind: DebitWithoutOrder, UserID: d.userID, OrderID: id.String(),
				Detail: fmt.Sprintf("debit of %d for an order that is %s", d.amount, o.status)})
		default:
			vs = append(vs, Violation{Kind: DebitWithoutOrder, UserID: d.userID, OrderID: id.String(),
				Detail: fmt.Sprintf("debit of %d for an order the orders database does not have", d.amount)})
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Kind != vs[j].Kind {
			return vs[i].Kind < vs[j].Kind
		}
		return vs[i].OrderID < vs[j].OrderID
	})
	r.Violations = append(r.Violations, vs...)
}

// CheckDatabases connects to the payments and orders databases at the two
// URLs, runs Check over them and closes the connections: what both audit
// commands (shop-audit, shopctl audit) do.
func CheckDatabases(ctx context.Context, paymentsURL, ordersURL string) (Report, error) {
	paymentsPool, err := pgxpool.New(ctx, paymentsURL)
	if err != nil {
		return Report{}, fmt.Errorf("payments database: %w", err)
	}
	defer paymentsPool.Close()
	ordersPool, err := pgxpool.New(ctx, ordersURL)
	if err != nil {
		return Report{}, fmt.Errorf("orders database: %w", err)
	}
	defer ordersPool.Close()
	return Check(ctx, paymentsPool, ordersPool)
}
