package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// auditURL is db's URL as the audit role, as `make run` gives it.
func auditURL(t *testing.T, db *stacktest.Database) string {
	t.Helper()
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(schema.AuditRole, local.Config{}.Password(schema.AuditRole))
	return u.String()
}

// With -every, shop-audit runs the audit on a schedule and serves its
// result on AUDIT_ADMIN_ADDR's /metrics until it is stopped: a debit
// without its order shows as shop_audit_violations{check="DEBIT_WITHOUT_PAID_ORDER"} 1.
func TestScheduledServesMetrics(t *testing.T) {
	env := stacktest.Get(t)
	payments := env.NewDatabase(t, schema.Payments)
	orders := env.NewDatabase(t, schema.Orders)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := payments.Pool.Exec(ctx, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at) VALUES ('bob', 0, 'RUB', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := payments.Pool.Exec(ctx, `INSERT INTO ledger (user_id, kind, amount, order_id, created_at)
		VALUES ('bob', 'CREDIT', 50, NULL, now()), ('bob', 'DEBIT', 50, $1, now())`, uuid.New()); err != nil {
		t.Fatal(err)
	}
	addr := stacktest.FreeAddr(t)
	vars := map[string]string{"PAYMENTS_DATABASE_URL": auditURL(t, payments), "ORDERS_DATABASE_URL": auditURL(t, orders), "AUDIT_ADMIN_ADDR": addr}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-every", "200ms"}, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, io.Discard, io.Discard)
	}()
	stacktest.WaitForNil(t, 30*time.Second, "the audit's metrics", func() error {
		select {
		case err := <-done:
			t.Fatalf("shop-audit -every stopped: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for _, want := range []string{`shop_audit_violations{check="DEBIT_WITHOUT_PAID_ORDER"} 1`, `shop_audit_violations{check="BALANCE_MISMATCH"} 0`, "shop_audit_last_success_timestamp_seconds "} {
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("/metrics lacks %q", want)
			}
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shop-audit -every after its context ended: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shop-audit -every did not stop with its context")
	}
}
