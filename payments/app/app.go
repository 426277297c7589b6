package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"shop/cdc/inbox"
	"shop/cdc/pipelinemetrics"
	"shop/cdc/retention"
	"shop/payments/grpcapi"
	"shop/payments/orderevents"
	"shop/payments/postgres"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service"
	schema "shop/sql"
)

// Run runs the payments service until ctx is done, then stops gracefully
// and returns nil: the gRPC server stops accepting calls and finishes those
// in flight (for at most cfg.Process.ShutdownTimeout), the consumer finishes
// or rolls back its batch, the purges stop.
//
// Run connects as the runtime role of cfg.DatabaseURL, which cannot
// migrate: it checks that the database is migrated (schema.Payments, applied
// by its owner role through schema.Migrate) before serving. It returns an
// error when cfg is invalid, when the database cannot be reached or lacks a
// migration, when the address cannot be listened on, or when the server or a
// job stops on its own (the rest is then stopped as on cancellation). Kafka
// being unreachable is not an error: the consumer retries.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		return errors.New("run payments: nil logger")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("run payments: invalid configuration: %w", err)
	}
	pool, err := schema.Open(ctx, string(cfg.DatabaseURL), schema.Payments)
	if err != nil {
		return fmt.Errorf("run payments: %w", err)
	}
	defer pool.Close()

	store, err := postgres.New(pool)
	if err != nil {
		return fmt.Errorf("run payments: %w", err)
	}
	api, err := grpcapi.New(store, logger)
	if err != nil {
		return fmt.Errorf("run payments: %w", err)
	}
	applier, err := orderevents.New(store, logger)
	if err != nil {
		return fmt.Errorf("run payments: %w", err)
	}
	consumer, err := inbox.New(inbox.Config{
		Kafka:  cfg.Kafka,
		Group:  cfg.ConsumerGroup,
		Topic:  cfg.Topics.Orders,
		Pool:   pool,
		Effect: applier.Effects().Effect,
		Logger: logger,
		Linger: cfg.Consume.Linger,
		// Without telemetry, no lag gauges or delivery histogram.
		NoMetrics: !cfg.Process.Telemetry,
	})
	if err != nil {
		return fmt.Errorf("run payments: %w", err)
	}
	// The pipeline's gauges (slot, connector, dead letters) are polled
	// only with telemetry on.
	var gauges []service.Job
	if cfg.Process.Telemetry {
		if gauges, err = pipelinemetrics.ServiceJobs(prometheus.DefaultRegisterer, pool, cfg.Slot.Name, cfg.Connector.Name, logger); err != nil {
			return fmt.Errorf("run payments: %w", err)
		}
	}

	return service.Run(ctx, service.Spec{
		Name:    "payments",
		Addr:    cfg.Endpoint.GRPCAddr,
		Service: &paymentsv1.PaymentService_ServiceDesc,
		Impl:    api,
		GRPC:    cfg.GRPC,
		Jobs: append([]service.Job{{Name: "order events consumer", Run: consumer.Run}},
			append(gauges, retention.Jobs(pool, cfg.Retention, cfg.Slot.Name, logger, store.PurgeIdempotencyKeys)...)...),
		ShutdownTimeout: cfg.Process.ShutdownTimeout,
		Ready:           cfg.Ready,
		AdminAddr:       cfg.Admin.Addr,
		AdminEnv:        "PAYMENTS_ADMIN_ADDR",
		AdminReady:      cfg.AdminReady,
		Logger:          logger,
		NoTelemetry:     !cfg.Process.Telemetry,
	})
}
