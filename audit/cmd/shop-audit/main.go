// Command shop-audit checks the money invariants across the payments and
// orders databases (see package audit) and prints a summary. Exit status: 0
// when consistent, 1 on violations, 2 when the check could not run.
//
// Usage: shop-audit [-payments-db URL] [-orders-db URL] [-timeout 1m]
// The URLs default to PAYMENTS_DATABASE_URL and ORDERS_DATABASE_URL, read
// like the services read them (shop/service.Load).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"shop/audit"
	"shop/service"
)

// errViolations makes main exit 1.
var errViolations = errors.New("violations found")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout)
	stop()
	switch {
	case errors.Is(err, errViolations):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "shop-audit:", err)
		os.Exit(2)
	}
}

// config is where the two databases are, under the variables of the
// services that own them.
type config struct {
	PaymentsDatabaseURL service.DatabaseURL `env:"PAYMENTS_DATABASE_URL, default=postgres://payments_app:payments_app@127.0.0.1:5432/payments"`
	OrdersDatabaseURL   service.DatabaseURL `env:"ORDERS_DATABASE_URL, default=postgres://orders_app:orders_app@127.0.0.1:5432/orders"`
}

// Validate checks that both are postgres:// URLs.
func (c *config) Validate() error {
	return errors.Join(c.PaymentsDatabaseURL.Validate("PAYMENTS_DATABASE_URL"), c.OrdersDatabaseURL.Validate("ORDERS_DATABASE_URL"))
}

func run(ctx context.Context, args []string, lookup service.Lookup, out io.Writer) error {
	var cfg config
	if err := service.Load(ctx, lookup, &cfg); err != nil {
		return err
	}
	fs := flag.NewFlagSet("shop-audit", flag.ContinueOnError)
	paymentsURL := fs.String("payments-db", string(cfg.PaymentsDatabaseURL), "payments database URL (PAYMENTS_DATABASE_URL)")
	ordersURL := fs.String("orders-db", string(cfg.OrdersDatabaseURL), "orders database URL (ORDERS_DATABASE_URL)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r, err := audit.CheckDatabases(ctx, *paymentsURL, *ordersURL)
	if err != nil {
		return err
	}
	if _, err := r.WriteTo(out); err != nil {
		return err
	}
	if !r.OK() {
		return errViolations
	}
	return nil
}
