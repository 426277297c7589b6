package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/health" // the client side of healthCheckConfig
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"shop/gateway/httpapi"
	"shop/gateway/web"
	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service"
	"shop/service/grpctls"
	"shop/service/tracing"
	"shop/stack/devissuer"
)

// Run serves the gateway until ctx is done, then shuts the HTTP server down
// gracefully (in-flight requests finish within cfg.Process.ShutdownTimeout)
// and closes the backend connections. It returns nil after a clean shutdown,
// or the error that stopped it: an invalid config, a port that cannot be
// bound, a server failure.
//
// Backend connections are lazy: Run does not wait for the backends, and a
// call to a backend that is down fails fast with 503. A backend given as a
// list of addresses is balanced over (see dial); /readyz is then ready
// while at least one instance of each backend serves.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		return errors.New("gateway: logger is required")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gateway config: %w", err)
	}

	creds, err := grpctls.ClientCredentials(cfg.GRPC, logger)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	ordersConn, err := dial("orders", cfg.Orders.GRPCAddr, creds, cfg.Process.Telemetry)
	if err != nil {
		return err
	}
	defer ordersConn.Close()
	paymentsConn, err := dial("payments", cfg.Payments.GRPCAddr, creds, cfg.Process.Telemetry)
	if err != nil {
		return err
	}
	defer paymentsConn.Close()

	auth, devTokens, err := authenticator(ctx, cfg.Auth, logger)
	if err != nil {
		return err
	}
	pageConfig := web.Config{Auth: cfg.Auth.Mode}
	if devTokens != nil {
		pageConfig.DevTokenPath = httpapi.DevTokenPath
	}
	page, err := web.New(pageConfig)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	// Closed when the HTTP server shuts down: the open streams end, so
	// that the drain does not wait for them.
	stopStreams := make(chan struct{})
	var streams sync.WaitGroup
	handler, err := httpapi.NewRouter(httpapi.Options{
		Orders:   ordersv1.NewOrderServiceClient(ordersConn),
		Payments: paymentsv1.NewPaymentServiceClient(paymentsConn),
		Probes: []httpapi.Probe{
			httpapi.GRPCHealthProbe("orders", ordersConn),
			httpapi.GRPCHealthProbe("payments", paymentsConn),
		},
		Logger:         logger,
		BackendTimeout: cfg.BackendTimeout,
		Authenticator:  auth,
		RateLimit:      httpapi.RateLimit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst},
		DevTokens:      devTokens,
		Page:           page,
		Stream:         cfg.Stream.options(stopStreams, &streams),
		NoTelemetry:    !cfg.Process.Telemetry,
	})
	if err != nil {
		return err
	}

	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway HTTP listen on %s (GATEWAY_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	admin, err := service.ListenAdmin(ctx, "GATEWAY_ADMIN_ADDR", cfg.Admin.Addr, logger)
	if err != nil {
		ln.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	// The admin listener outlives the HTTP drain, so that it can be scraped
	// and profiled while the gateway stops.
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	adminErr := make(chan error, 1)
	go func() { adminErr <- admin.Serve(adminCtx, cfg.Process.ShutdownTimeout) }()
	// stopAdminServer stops the admin listener and returns its error, if it
	// failed on its own.
	stopAdminServer := func() error {
		stopAdmin()
		return <-adminErr
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
	srv.RegisterOnShutdown(func() { close(stopStreams) })

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("gateway listening",
		"addr", ln.Addr().String(),
		"admin_addr", admin.Addr().String(),
		"page", "http://"+ln.Addr().String()+"/",
		"swagger", "http://"+ln.Addr().String()+"/swagger/index.html",
		"orders", cfg.Orders.GRPCAddr, "payments", cfg.Payments.GRPCAddr, "grpc_insecure", cfg.GRPC.Insecure,
		"auth_mode", cfg.Auth.Mode, "dev_token_endpoint", devTokens != nil, "rate_limit", cfg.RateLimit)
	if cfg.AdminReady != nil {
		cfg.AdminReady(admin.Addr())
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}

	select {
	case err := <-serveErr:
		return errors.Join(fmt.Errorf("gateway HTTP server: %w", err), stopAdminServer())
	case err := <-adminErr:
		adminErr <- err // for stopAdminServer
		srv.Close()
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	logger.Info("gateway shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Process.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return errors.Join(fmt.Errorf("gateway HTTP shutdown: %w", err), stopAdminServer())
	}
	// The streams on hijacked connections are no requests Shutdown waits
	// for; Stop (closed by Shutdown) ends them.
	streamsDone := make(chan struct{})
	go func() {
		streams.Wait()
		close(streamsDone)
	}()
	select {
	case <-streamsDone:
	case <-shutdownCtx.Done():
		logger.Warn("gateway: streams still open at the end of the shutdown timeout")
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(fmt.Errorf("gateway HTTP server: %w", err), stopAdminServer())
	}
	return stopAdminServer()
}

// serviceConfig balances round robin over the backend's addresses and
// takes an instance out of the rotation while its gRPC health service does
// not report SERVING (as during its graceful stop), not only when its
// connection breaks.
const serviceConfig = `{"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}`

// dial returns the client connection to backend name at addr: one
// host:port or gRPC target URI (dns:/// resolves to every instance), or a
// comma-separated list of host:port, the instances of the backend, given
// to the balancer by a static resolver of this connection's own. With
// telemetry, each call has a client span. With TLS creds the server's
// certificate must name the host dialed (of host:port or of the dns:///
// target), or name for a list.
func dial(name, addr string, creds credentials.TransportCredentials, telemetry bool) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		// A fixed window per call (no dynamic window, which grows to
		// 16 MiB): an order stream whose client does not read holds at
		// most this much in the gateway. Messages are small.
		grpc.WithInitialWindowSize(64 << 10),
		grpc.WithInitialConnWindowSize(4 << 20),
	}
	if telemetry {
		opts = append(opts, tracing.GRPCDialOption())
	}
	target := addr
	if list := strings.Split(addr, ","); len(list) > 1 {
		r := manual.NewBuilderWithScheme("static")
		var state resolver.State
		for _, a := range list {
			state.Endpoints = append(state.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
		}
		r.InitialState(state)
		target = r.Scheme() + ":///" + name
		opts = append(opts, grpc.WithResolvers(r))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s client %s: %w", name, addr, err)
	}
	return conn, nil
}

// authenticator returns the Authenticator of cfg and, when the development
// issuer is configured, the issuer of POST /dev/token. A JWKS URL is
// refreshed until ctx ends.
func authenticator(ctx context.Context, cfg Auth, logger *slog.Logger) (httpapi.Authenticator, *httpapi.DevTokens, error) {
	if cfg.Mode == service.AuthHeader {
		return httpapi.HeaderAuthenticator{}, nil, nil
	}
	jc := httpapi.JWTConfig{Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway, MaxLifetime: cfg.MaxTokenLifetime}
	var err error
	switch {
	case cfg.JWKSFile != "":
		jc.Keys, err = httpapi.JWKSFromFile(cfg.JWKSFile)
	case cfg.JWKSURL != "":
		jc.Keys, err = httpapi.JWKSFromURL(ctx, cfg.JWKSURL, logger)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.HS256Secret != "" {
		jc.HS256Secret = []byte(cfg.HS256Secret)
	}
	auth, err := httpapi.NewJWTAuthenticator(jc)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.DevIssuerKey == "" {
		return auth, nil, nil
	}
	key, err := devissuer.Load(cfg.DevIssuerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: AUTH_DEV_ISSUER_KEY: %w", err)
	}
	dev := &httpapi.DevTokens{Key: key, Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.DevTokenTTL}
	if err := checkDevTokens(ctx, auth, dev); err != nil {
		return nil, nil, fmt.Errorf("gateway: AUTH_DEV_ISSUER_KEY %s: its tokens would be refused: %w (is its public key in the JWKS?)", cfg.DevIssuerKey, err)
	}
	logger.Warn("development issuer enabled: POST /dev/token gives a token for any user id (AUTH_DEV_ISSUER_KEY)")
	return auth, dev, nil
}

// checkDevTokens verifies a token of dev with auth.
func checkDevTokens(ctx context.Context, auth httpapi.Authenticator, dev *httpapi.DevTokens) error {
	token, err := dev.Key.Token(devissuer.Claims{Subject: "startup-check", Issuer: dev.Issuer, Audience: dev.Audience, TTL: time.Minute})
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+token)
	_, err = auth.Authenticate(r)
	return err
}
