// Command shop-audit checks the money invariants across the payments and
// orders databases (see package audit).
//
// Once (the default) it prints a summary. Exit status: 0 when consistent,
// 1 on violations, 2 when the check could not run.
//
// With -every D it runs the audit at once and then every D until SIGINT or
// SIGTERM, serving the result of the last run as Prometheus metrics
// (shop_audit_violations{check}, shop_audit_last_success_timestamp_seconds)
// on AUDIT_ADMIN_ADDR's /metrics and logging each violation; `make run`
// supervises it so. It should connect as the audit role (shop_audit), which
// may read the audit's tables and nothing else.
//
// Usage: shop-audit [-payments-db URL] [-orders-db URL] [-timeout 1m] [-every D]
// The URLs default to PAYMENTS_DATABASE_URL and ORDERS_DATABASE_URL, read
// like the services read them (shop/service.Load), -every to
// AUDIT_INTERVAL (audit.Config).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"shop/audit"
	"shop/service"
)

// errViolations makes main exit 1.
var errViolations = errors.New("violations found")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errViolations):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "shop-audit:", err)
		os.Exit(2)
	}
}

// run runs shop-audit with args and the environment lookup: the report of a
// single run goes to out, the scheduled audit's JSON log to logOut.
func run(ctx context.Context, args []string, lookup service.Lookup, out, logOut io.Writer) error {
	var cfg audit.Config
	if err := service.Load(ctx, lookup, &cfg); err != nil {
		return err
	}
	fs := flag.NewFlagSet("shop-audit", flag.ContinueOnError)
	paymentsURL := fs.String("payments-db", string(cfg.PaymentsDatabaseURL), "payments database URL (PAYMENTS_DATABASE_URL)")
	ordersURL := fs.String("orders-db", string(cfg.OrdersDatabaseURL), "orders database URL (ORDERS_DATABASE_URL)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long (once)")
	every := fs.Duration("every", cfg.Interval, "run on this schedule, serving metrics on AUDIT_ADMIN_ADDR, until stopped (0: once; AUDIT_INTERVAL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *every < 0:
		return fmt.Errorf("-every %v: want a positive interval, or 0 for once", *every)
	case *every > 0:
		return runScheduled(ctx, *paymentsURL, *ordersURL, cfg.Admin.Addr, *every, slog.New(slog.NewJSONHandler(logOut, nil)))
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

// runScheduled runs the audit's job and serves its metrics on adminAddr
// until ctx ends. A database that does not answer is the job's failed
// run, retried at the next tick, never the end of the process.
func runScheduled(ctx context.Context, paymentsURL, ordersURL, adminAddr string, every time.Duration, logger *slog.Logger) error {
	if err := audit.RegisterMetrics(prometheus.DefaultRegisterer); err != nil {
		return err
	}
	pools := make([]*pgxpool.Pool, 2)
	for i, u := range []string{paymentsURL, ordersURL} {
		pcfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			return fmt.Errorf("database URL: %w", err)
		}
		pcfg.MaxConns = 2
		if pools[i], err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
			return err
		}
		defer pools[i].Close()
	}
	job, err := audit.NewJob(audit.JobConfig{Payments: pools[0], Orders: pools[1], Interval: every, Logger: logger})
	if err != nil {
		return err
	}
	admin, err := service.ListenAdmin(ctx, "AUDIT_ADMIN_ADDR", adminAddr, logger)
	if err != nil {
		return err
	}
	logger.InfoContext(ctx, "audit scheduled", slog.String("every", every.String()), slog.String("admin_addr", admin.Addr().String()),
		slog.Any("payments_db", service.DatabaseURL(paymentsURL)), slog.Any("orders_db", service.DatabaseURL(ordersURL)))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Serve(gctx, 5*time.Second) })
	g.Go(func() error { return job.Run(gctx) })
	return g.Wait()
}
