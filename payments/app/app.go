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
	"shop/payments/grpcapi"
	"shop/payments/postgres"
	paymentsv1 "shop/proto/payments/v1"
	schema "shop/sql"
)

// Run runs the payments service until ctx is cancelled, then shuts down
// gracefully: health goes NOT_SERVING, the gRPC server drains (GracefulStop,
// bounded by cfg.ShutdownTimeout), the consumer finishes or rolls back its
// batch, and Run returns nil. It returns an error when startup fails (bad
// config, database unreachable, migration failure, address in use) or the
// gRPC server stops on its own.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		return errors.New("payments: nil logger")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("payments config: %w", err)
	}
	pool, err := schema.Open(ctx, cfg.DatabaseURL, schema.Payments)
	if err != nil {
		return fmt.Errorf("payments database %s: %w", cfg.RedactedDatabaseURL(), err)
	}
	defer pool.Close()
	store, err := postgres.New(pool)
	if err != nil {
		return err
	}
	api, err := grpcapi.New(store, logger.With(slog.String("component", "grpc")))
	if err != nil {
		return err
	}
	consumer, err := inbox.New(inbox.Config{
		Brokers: cfg.KafkaBrokers,
		Group:   cfg.ConsumerGroup,
		Topic:   cfg.OrdersTopic,
		Pool:    pool,
		Apply:   payOrders(store, logger.With(slog.String("component", "payer"))),
		Logger:  logger.With(slog.String("component", "consumer")),
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("payments grpc listen on %s (PAYMENTS_GRPC_ADDR): %w", cfg.GRPCAddr, err)
	}

	srv := grpc.NewServer()
	paymentsv1.RegisterPaymentServiceServer(srv, api)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	healthSrv.SetServingStatus(paymentsv1.PaymentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	// A background job that stops on its own (the consumer, above all) stops
	// the service: serving gRPC while no order gets paid would hide it.
	background := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			err := f(ctx)
			if parent.Err() == nil {
				if err == nil {
					err = errors.New("stopped")
				}
				logger.Error("background job stopped", slog.String("job", name), slog.Any("error", err))
				cancel(fmt.Errorf("payments %s: %w", name, err))
			}
		})
	}
	background("consumer", consumer.Run)
	background("outbox purger", func(ctx context.Context) error {
		return outbox.RunPurger(ctx, pool, cfg.PurgeInterval, cfg.OutboxRetention, logger.With(slog.String("component", "outbox-purger")))
	})
	background("idempotency purger", func(ctx context.Context) error {
		return runKeyPurger(ctx, store, cfg.PurgeInterval, cfg.IdempotencyRetention, logger.With(slog.String("component", "idempotency-purger")))
	})

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	logger.Info("payments started", slog.String("grpc_addr", lis.Addr().String()),
		slog.String("database", cfg.RedactedDatabaseURL()), slog.String("orders_topic", cfg.OrdersTopic),
		slog.String("consumer_group", cfg.ConsumerGroup))

	var runErr error
	select {
	case <-ctx.Done():
		if parent.Err() == nil {
			runErr = context.Cause(ctx)
		}
	case err := <-serveErr:
		runErr = fmt.Errorf("payments grpc server: %w", err)
	}
	logger.Info("payments shutting down")
	healthSrv.Shutdown()
	lifecycle.StopGracefully(srv, cfg.ShutdownTimeout)
	cancel(nil)
	wg.Wait()
	logger.Info("payments stopped")
	return runErr
}

// runKeyPurger deletes idempotency keys older than retention every interval
// until ctx is cancelled. Failures are logged and retried at the next tick.
func runKeyPurger(ctx context.Context, store *postgres.Store, every, retention time.Duration, logger *slog.Logger) error {
	lifecycle.RunEvery(ctx, every, logger, "idempotency key purge failed", func(ctx context.Context) error {
		n, err := store.PurgeIdempotencyKeys(ctx, retention)
		if err == nil && n > 0 {
			logger.InfoContext(ctx, "idempotency keys purged", slog.Int64("rows", n))
		}
		return err
	})
	return nil
}
