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
	"shop/orders/grpcapi"
	"shop/orders/paymentevents"
	"shop/orders/postgres"
	ordersv1 "shop/proto/orders/v1"
	"shop/service"
	schema "shop/sql"
)

// Run runs the orders service until ctx is done, then stops gracefully and
// returns nil: the gRPC server stops accepting calls and finishes those in
// flight (for at most cfg.Process.ShutdownTimeout), the consumer finishes or
// rolls back its batch, the purges stop.
//
// Run connects as the runtime role of cfg.DatabaseURL, which cannot
// migrate: it checks that the database is migrated (schema.Orders, applied
// by its owner role through schema.Migrate) before serving. It returns an
// error when cfg is invalid, when the database cannot be reached or lacks a
// migration, when the address cannot be listened on, or when the server or a
// job stops on its own (the rest is then stopped as on cancellation). Kafka
// being unreachable is not an error: the consumer retries.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		return errors.New("run orders: nil logger")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("run orders: invalid configuration: %w", err)
	}
	pool, err := schema.Open(ctx, string(cfg.DatabaseURL), schema.Orders)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	defer pool.Close()

	// Status changes are announced after their commit, never in the money
	// transaction (sql/orders/0007).
	announcer, err := postgres.NewAnnouncer(pool, logger)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	store, err := postgres.New(pool, postgres.WithLogger(logger), postgres.WithCreateLinger(cfg.CreateLinger),
		postgres.WithAnnouncer(announcer))
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	// The page token key is read once, here, so that a database without
	// one stops the start rather than every list request.
	if _, err := store.PageTokens(ctx); err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	api, err := grpcapi.New(store, logger)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	// One LISTEN connection of this instance serves every WatchOrders
	// stream.
	watcher, err := postgres.NewWatcher(pool, logger)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	if err := api.EnableWatch(watcher, store); err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	applier, err := paymentevents.New(store, logger)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	consumer, err := inbox.New(inbox.Config{
		Kafka:  cfg.Kafka,
		Group:  cfg.ConsumerGroup,
		Topic:  cfg.Topics.Payments,
		Pool:   pool,
		Effect: applier.Effects().Effect,
		Logger: logger,
		Linger: cfg.Consume.Linger,
		// The key of a payment result is its user.
		Committed: func(users []string) { announcer.Changed(users...) },
		// Without telemetry, no lag gauges or delivery histogram.
		NoMetrics: !cfg.Process.Telemetry,
	})
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	// The pipeline's gauges (slot, connector, dead letters) are polled
	// only with telemetry on.
	var gauges []service.Job
	if cfg.Process.Telemetry {
		if gauges, err = pipelinemetrics.ServiceJobs(prometheus.DefaultRegisterer, pool, cfg.Slot.Name, cfg.Connector.Name, logger); err != nil {
			return fmt.Errorf("run orders: %w", err)
		}
		gauges = append(gauges, pipelinemetrics.OrdersPendingJob(pool, 0, logger), pipelinemetrics.ParkedPaymentsJob(pool, 0, logger))
		notifyQueue, err := pipelinemetrics.NotifyQueueJob(prometheus.DefaultRegisterer, pool, 0, logger)
		if err != nil {
			return fmt.Errorf("run orders: %w", err)
		}
		gauges = append(gauges, notifyQueue)
	}

	return service.Run(ctx, service.Spec{
		Name:    "orders",
		Addr:    cfg.Endpoint.GRPCAddr,
		Service: &ordersv1.OrderService_ServiceDesc,
		Impl:    api,
		GRPC:    cfg.GRPC,
		Jobs: append([]service.Job{{Name: "payment events consumer", Run: consumer.Run},
			{Name: "order changes watcher", Run: watcher.Run},
			{Name: "order changes announcer", Run: announcer.Run},
			service.Every("parked payment results sweep", paymentevents.SweepInterval, logger, applier.Sweep)},
			append(gauges, append(retention.Jobs(pool, cfg.Retention, cfg.Slot.Name, logger, store.PurgeIdempotencyKeys),
				service.Purge("order change purge", cfg.Retention.PurgeInterval, logger, func(ctx context.Context) (int64, error) {
					return store.PurgeChanges(ctx, postgres.ChangeRetention)
				}))...)...),
		ShutdownTimeout: cfg.Process.ShutdownTimeout,
		Ready:           cfg.Ready,
		AdminAddr:       cfg.Admin.Addr,
		AdminEnv:        "ORDERS_ADMIN_ADDR",
		AdminReady:      cfg.AdminReady,
		Logger:          logger,
		NoTelemetry:     !cfg.Process.Telemetry,
	})
}
