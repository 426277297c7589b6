package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"UnknownDatabase", []string{"inventory"}, map[string]string{"ORDERS_MIGRATION_DATABASE_URL": "postgres://x@h/orders"}, `unknown database "inventory"`},
		{"NoURL", []string{"payments"}, map[string]string{"ORDERS_MIGRATION_DATABASE_URL": "postgres://x@h/orders"}, "PAYMENTS_MIGRATION_DATABASE_URL is not set"},
		{"BothByDefault", nil, map[string]string{"ORDERS_MIGRATION_DATABASE_URL": "postgres://x@127.0.0.1:1/orders?connect_timeout=1"}, "migrate orders"},
		{"NotAURL", []string{"orders"}, map[string]string{"ORDERS_MIGRATION_DATABASE_URL": "mysql://x@h/orders"}, "want a postgres:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.name == "BothByDefault" {
				cancel() // no retries: the first failure is the answer
			}
			defer cancel()
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			err := run(ctx, tt.args, lookup, quiet())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// shop-migrate migrates a database created for its owner role, after which
// the runtime role can open it and the other service's roles cannot connect.
func TestRunMigrates(t *testing.T) {
	env := stacktest.Get(t)
	ctx := context.Background()
	name := stacktest.Unique("t_migrate_")
	if err := local.EnsureDatabase(ctx, env.AdminURL, name, schema.Payments, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, env.AdminURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	as := func(role string) string {
		u, err := url.Parse(env.AdminURL)
		if err != nil {
			t.Fatal(err)
		}
		u.User, u.Path = url.UserPassword(role, role), "/"+name
		return u.String()
	}
	lookup := func(k string) (string, bool) {
		if k == "PAYMENTS_MIGRATION_DATABASE_URL" {
			return as(schema.Payments.OwnerRole()), true
		}
		return "", false
	}
	if err := run(ctx, []string{"payments"}, lookup, quiet()); err != nil {
		t.Fatal(err)
	}
	pool, err := schema.Open(ctx, as(schema.Payments.RuntimeRole()), schema.Payments)
	if err != nil {
		t.Fatalf("open as the runtime role after shop-migrate: %v", err)
	}
	pool.Close()
	if c, err := pgx.Connect(ctx, as(schema.Orders.RuntimeRole())); err == nil {
		c.Close(ctx)
		t.Errorf("%s connected to a payments database", schema.Orders.RuntimeRole())
	}
}
