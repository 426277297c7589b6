// Command shop-migrate migrates the orders and payments databases as their
// owner roles and grants the services' runtime roles their privileges
// (schema.Migrate). The services never migrate: they connect as the runtime
// role, which cannot create, alter or drop anything, and stop when their
// schema is not up to date. Compose runs this command before the services;
// `make run` and the tests call schema.Migrate themselves.
//
//	shop-migrate [orders] [payments]     (both when none is named)
//
// ORDERS_MIGRATION_DATABASE_URL and PAYMENTS_MIGRATION_DATABASE_URL are the
// owner roles' URLs; each named database needs its own. A database that
// does not answer yet is tried again for up to a minute.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"shop/service"
	schema "shop/sql"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.LookupEnv, log); err != nil {
		log.Error("migrate", "error", err)
		os.Exit(1)
	}
}

// config holds the owner roles' URLs.
type config struct {
	Orders   service.DatabaseURL `env:"ORDERS_MIGRATION_DATABASE_URL"`
	Payments service.DatabaseURL `env:"PAYMENTS_MIGRATION_DATABASE_URL"`
}

// Validate checks the URLs that are set; run checks that the named ones are.
func (c *config) Validate() error {
	var errs []error
	if c.Orders != "" {
		errs = append(errs, c.Orders.Validate("ORDERS_MIGRATION_DATABASE_URL"))
	}
	if c.Payments != "" {
		errs = append(errs, c.Payments.Validate("PAYMENTS_MIGRATION_DATABASE_URL"))
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, lookup service.Lookup, log *slog.Logger) error {
	var cfg config
	if err := service.Load(ctx, lookup, &cfg); err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{string(schema.Orders), string(schema.Payments)}
	}
	urls := map[schema.Database]service.DatabaseURL{schema.Orders: cfg.Orders, schema.Payments: cfg.Payments}
	for _, a := range args {
		db := schema.Database(a)
		u, known := urls[db]
		if !known {
			return fmt.Errorf("unknown database %q: want orders or payments", a)
		}
		if u == "" {
			return fmt.Errorf("%s: %s_MIGRATION_DATABASE_URL is not set", db, upper(db))
		}
		if err := migrate(ctx, string(u), db, log); err != nil {
			return err
		}
		log.Info("migrated", "database", db, "url", u, "runtime_role", db.RuntimeRole())
	}
	return nil
}

// migrate runs schema.Migrate, again every 2 s for up to a minute while it
// fails (Postgres starting, or not yet accepting connections).
func migrate(ctx context.Context, url string, db schema.Database, log *slog.Logger) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := schema.Migrate(ctx, url, db)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		log.Warn("migrate failed, trying again", "database", db, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

func upper(db schema.Database) string {
	if db == schema.Orders {
		return "ORDERS"
	}
	return "PAYMENTS"
}
