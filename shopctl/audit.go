package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"shop/audit"
)

// runAudit runs the money audit of shop/audit over both databases, as
// shop-audit does, and prints its summary.
func runAudit(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("audit takes no arguments\n%s", usage)
	}
	cfg, err := loadConfig(ctx, lookup)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r, err := audit.CheckDatabases(ctx, string(cfg.payments.DatabaseURL), string(cfg.orders.DatabaseURL))
	if err != nil {
		return err
	}
	if _, err := r.WriteTo(out); err != nil {
		return err
	}
	if !r.OK() {
		return errFound
	}
	return nil
}
