package audit_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"shop/audit"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// asAuditRole returns a pool on db as the audit role (schema.AuditRole),
// with its development password, as `make run` connects the audit.
func asAuditRole(t *testing.T, db *stacktest.Database) *pgxpool.Pool {
	t.Helper()
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(schema.AuditRole, local.Config{}.Password(schema.AuditRole))
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// wantViolations is the exposition of shop_audit_violations when the
// stranded debits number debitsWithoutOrder and nothing else is broken.
func wantViolations(debitsWithoutOrder int) string {
	return fmt.Sprintf(`# HELP shop_audit_violations Violations of a money invariant the last successful audit found, by check (0 when none).
# TYPE shop_audit_violations gauge
shop_audit_violations{check="BALANCE_MISMATCH"} 0
shop_audit_violations{check="DEBIT_MISMATCH"} 0
shop_audit_violations{check="DEBIT_WITHOUT_PAID_ORDER"} %d
shop_audit_violations{check="NEGATIVE_BALANCE"} 0
shop_audit_violations{check="PAID_WITHOUT_DEBIT"} 0
`, debitsWithoutOrder)
}

// TestScheduledAuditExportsViolations runs the audit's job over two
// databases, as the audit role: a consistent shop gives every check a
// series at 0 and a time of the last success; a debit whose order the
// orders database does not have (a stranded debit) raises
// shop_audit_violations{check="DEBIT_WITHOUT_PAID_ORDER"} to 1.
func TestScheduledAuditExportsViolations(t *testing.T) {
	env := stacktest.Get(t)
	payments := env.NewDatabase(t, schema.Payments)
	orders := env.NewDatabase(t, schema.Orders)
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := audit.RegisterMetrics(reg); err != nil {
			t.Fatalf("RegisterMetrics() = %v, want nil (also the second time)", err)
		}
	}
	ctx := context.Background()
	paid := uuid.New()
	exec := func(pool *pgxpool.Pool, q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(payments.Pool, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at) VALUES ('alice', 900, 'RUB', now(), now())`)
	exec(payments.Pool, `INSERT INTO ledger (user_id, kind, amount, order_id, created_at) VALUES ('alice', 'CREDIT', 1000, NULL, now()), ('alice', 'DEBIT', 100, $1, now())`, paid)
	exec(orders.Pool, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at) VALUES ($1, 'alice', 100, 'RUB', 'paid', 'PAID', now(), now())`, paid)

	job, err := audit.NewJob(audit.JobConfig{Payments: asAuditRole(t, payments), Orders: asAuditRole(t, orders),
		Interval: 200 * time.Millisecond, Logger: stacktest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- job.Run(jctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("audit job: %v", err)
		}
	})

	stacktest.WaitForNil(t, 30*time.Second, "a clean audit", func() error {
		if err := testutil.GatherAndCompare(reg, strings.NewReader(wantViolations(0)), "shop_audit_violations"); err != nil {
			return err
		}
		if n, err := testutil.GatherAndCount(reg, "shop_audit_last_success_timestamp_seconds"); err != nil || n != 1 {
			return fmt.Errorf("shop_audit_last_success_timestamp_seconds: %d series, %v; want 1", n, err)
		}
		return nil
	})

	// Bob is debited for an order that never existed.
	exec(payments.Pool, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at) VALUES ('bob', 0, 'RUB', now(), now())`)
	exec(payments.Pool, `INSERT INTO ledger (user_id, kind, amount, order_id, created_at) VALUES ('bob', 'CREDIT', 50, NULL, now()), ('bob', 'DEBIT', 50, $1, now())`, uuid.New())
	stacktest.WaitForNil(t, 30*time.Second, "the stranded debit counted", func() error {
		return testutil.GatherAndCompare(reg, strings.NewReader(wantViolations(1)), "shop_audit_violations")
	})
}
