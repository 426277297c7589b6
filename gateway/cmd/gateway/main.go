// Command gateway serves the shop's REST API (with Swagger UI) in front of
// the orders and payments gRPC services. Configuration comes from the
// environment (shop/gateway/app.Config); it stops gracefully on SIGINT or
// SIGTERM.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"shop/gateway/app"
	"shop/service/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := app.LoadConfig(ctx, os.LookupEnv)
	if err != nil {
		return err
	}
	logger := slog.New(tracing.LogHandler(cfg.Process.NewLogger().Handler()))
	tp, err := tracing.ForProcess(ctx, "gateway", cfg.Process.Telemetry, os.LookupEnv)
	if err != nil {
		return err
	}
	defer tp.Close(logger)
	logger.Info("tracing", slog.Bool("telemetry", cfg.Process.Telemetry), slog.Bool("exporting", tp.Exporting()))
	return app.Run(ctx, cfg, logger)
}
