package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"shop/gateway/httpapi"
	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// Run serves the gateway until ctx is done, then shuts the HTTP server down
// gracefully (in-flight requests finish within cfg.Process.ShutdownTimeout)
// and closes the backend connections. It returns nil after a clean shutdown,
// or the error that stopped it: an invalid config, a port that cannot be
// bound, a server failure.
//
// Backend connections are lazy: Run does not wait for the backends, and a
// call to a backend that is down fails fast with 503.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		return errors.New("gateway: logger is required")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gateway config: %w", err)
	}

	ordersConn, err := grpc.NewClient(cfg.Orders.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("orders client %s: %w", cfg.Orders.GRPCAddr, err)
	}
	defer ordersConn.Close()
	paymentsConn, err := grpc.NewClient(cfg.Payments.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("payments client %s: %w", cfg.Payments.GRPCAddr, err)
	}
	defer paymentsConn.Close()

	handler, err := httpapi.NewRouter(httpapi.Options{
		Orders:   ordersv1.NewOrderServiceClient(ordersConn),
		Payments: paymentsv1.NewPaymentServiceClient(paymentsConn),
		Probes: []httpapi.Probe{
			httpapi.GRPCHealthProbe("orders", ordersConn),
			httpapi.GRPCHealthProbe("payments", paymentsConn),
		},
		Logger:         logger,
		BackendTimeout: cfg.BackendTimeout,
	})
	if err != nil {
		return err
	}

	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway HTTP listen on %s (GATEWAY_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.BackendTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("gateway listening",
		"addr", ln.Addr().String(),
		"swagger", "http://"+ln.Addr().String()+"/swagger/index.html",
		"orders", cfg.Orders.GRPCAddr, "payments", cfg.Payments.GRPCAddr)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("gateway HTTP server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("gateway shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Process.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("gateway HTTP shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway HTTP server: %w", err)
	}
	return nil
}
