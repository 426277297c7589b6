// Command orders runs the orders service: the gRPC OrderService and the
// consumer of payment events. It is configured from the environment (see
// app.Config) and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"shop/cdc/inbox"
	"shop/orders/app"
	"shop/service/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	inbox.DisableClientMetrics() // before any Kafka client exists
	cfg, err := app.LoadConfig(ctx, os.LookupEnv)
	if err != nil {
		return err
	}
	logger := slog.New(tracing.LogHandler(cfg.Process.NewLogger().Handler()))
	logger.Info("configuration", slog.Any("config", cfg))
	tp, err := tracing.ForProcess(ctx, "orders", cfg.Process.Telemetry, os.LookupEnv)
	if err != nil {
		return err
	}
	defer tp.Close(logger)
	logger.Info("tracing", slog.Bool("telemetry", cfg.Process.Telemetry), slog.Bool("exporting", tp.Exporting()))
	return app.Run(ctx, cfg, logger)
}
