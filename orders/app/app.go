package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"shop/cdc/inbox"
	"shop/cdc/outbox"
	"shop/lifecycle"
	"shop/orders/grpcapi"
	"shop/orders/paymentevents"
	"shop/orders/postgres"
	ordersv1 "shop/proto/orders/v1"
	schema "shop/sql"
)

// Run runs the orders service until ctx is cancelled, then shuts down
// gracefully and returns nil: the gRPC server stops accepting calls and
// finishes those in flight (for at most cfg.ShutdownTimeout), the consumer
// finishes or rolls back its batch, the purges stop.
//
// Run migrates the database (schema.Orders) before serving. It returns an
// error when cfg is invalid, when the database cannot be reached or migrated,
// when the address cannot be listened on, or when a component fails while
// running (the others are then stopped as on cancellation). Kafka being
// unreachable is not an error: the consumer retries.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		return errors.New("run orders: nil logger")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	pool, err := schema.Open(ctx, cfg.DatabaseURL, schema.Orders)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	defer pool.Close()

	store, err := postgres.New(pool)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	api, err := grpcapi.New(store, logger)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	applier, err := paymentevents.NewApplier(store, logger)
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}
	consumer, err := inbox.New(inbox.Config{
		Brokers: cfg.KafkaBrokers,
		Group:   cfg.ConsumerGroup,
		Topic:   cfg.PaymentsTopic,
		Pool:    pool,
		Apply:   applier.Apply,
		Logger:  logger,
	})
	if err != nil {
		return fmt.Errorf("run orders: %w", err)
	}

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("run orders: listen on %s: %w", cfg.GRPCAddr, err)
	}
	srv := grpc.NewServer()
	ordersv1.RegisterOrderServiceServer(srv, api)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	healthSrv.SetServingStatus(ordersv1.OrderService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	start := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(runCtx); err != nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		})
	}
	start("grpc server", func(context.Context) error { return srv.Serve(lis) })
	start("payments consumer", consumer.Run)
	start("outbox purger", func(ctx context.Context) error {
		return outbox.RunPurger(ctx, pool, cfg.PurgeInterval, cfg.OutboxRetention, logger)
	})
	start("idempotency purger", func(ctx context.Context) error {
		return purgeIdempotencyKeys(ctx, store, cfg.PurgeInterval, cfg.IdempotencyRetention, logger)
	})

	addr := lis.Addr().String()
	logger.Info("orders service started", slog.String("grpc_addr", addr), slog.String("payments_topic", cfg.PaymentsTopic))
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}

	<-runCtx.Done()
	logger.Info("orders service stopping")
	healthSrv.Shutdown()
	lifecycle.StopGracefully(srv, cfg.ShutdownTimeout)
	wg.Wait()
	if ctx.Err() == nil { // a component failed; the caller did not ask to stop
		return fmt.Errorf("run orders: %w", context.Cause(runCtx))
	}
	logger.Info("orders service stopped")
	return nil
}

// purgeIdempotencyKeys deletes keys older than retention every interval
// until ctx is cancelled; then it returns nil. Failures are logged and
// retried at the next tick.
func purgeIdempotencyKeys(ctx context.Context, store *postgres.Store, every, retention time.Duration, logger *slog.Logger) error {
	lifecycle.RunEvery(ctx, every, logger, "idempotency key purge failed", func(ctx context.Context) error {
		n, err := store.PurgeIdempotencyKeys(ctx, retention)
		if err == nil && n > 0 {
			logger.InfoContext(ctx, "idempotency keys purged", slog.Int64("rows", n))
		}
		return err
	})
	return nil
}
