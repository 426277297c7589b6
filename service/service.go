// Package service is how a service process of the shop runs: one gRPC
// server with mutual TLS and the authorization of its callers (package
// grpctls), the standard health service (also in plaintext on the admin
// listener, for probes that cannot do TLS), reflection only when turned
// on, and panic recovery, a
// set of background jobs (the consumer, the retention purges), a graceful
// stop when the process is asked to stop, and configuration read once from
// the environment. Orders and payments are both run by Run.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"shop/service/fault"
	"shop/service/grpctls"
	"shop/service/tracing"
)

// Job is a background job of a service. It runs until ctx is done and then
// returns nil; a job that returns before that, with or without an error,
// stops the service (serving gRPC while, say, no order gets paid would hide
// the failure).
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Spec is what Run runs.
type Spec struct {
	// Name names the service in logs and errors ("orders").
	Name string
	// Addr is the gRPC listen address; port 0 picks a free port, reported
	// through Ready.
	Addr string
	// Service is the gRPC service (its descriptor and implementation),
	// registered with the health service reporting SERVING under its name.
	Service *grpc.ServiceDesc
	Impl    any
	// GRPC is the server's transport security (mutual TLS, or plaintext
	// explicitly), the callers it accepts and whether it offers
	// reflection.
	GRPC grpctls.Server
	// Jobs run beside the server.
	Jobs []Job
	// ShutdownTimeout bounds the graceful stop of the gRPC server; calls
	// still running after it are cancelled.
	ShutdownTimeout time.Duration
	// Ready, if set, is called once with the address the server listens on,
	// once it accepts calls and the jobs have started.
	Ready func(addr string)
	// AdminAddr is the address of the admin listener (AdminHandler:
	// /metrics, /debug/pprof/), named by the variable AdminEnv in errors;
	// port 0 picks a free port, reported through AdminReady. Empty means no
	// admin listener.
	AdminAddr string
	AdminEnv  string
	// AdminReady, if set, is called once with the address the admin
	// listener listens on, before Ready.
	AdminReady func(addr string)
	// Logger is the service's logger.
	Logger *slog.Logger
	// NoTelemetry leaves out the per-call metrics and spans
	// (service.Process.Telemetry false).
	NoTelemetry bool
}

// streamWorkers is how many goroutines of a gRPC server take its calls in
// turn. Without them grpc-go starts a goroutine per call, whose stack
// starts small and is grown and copied on every call that goes deep (the
// interceptors, protojson's timestamps): 6 % of the orders service's CPU
// at 500 orders/s. A worker keeps its grown stack. When all are busy (a
// burst, or long streams holding them), a call gets its own goroutine as
// before; an idle worker costs only its stack.
const streamWorkers = 32

// maxConnectionAge is how long a TLS connection is kept before the server
// asks the client to make a new one (GOAWAY; calls and streams in flight
// finish on the old one): every connection is then made with certificates
// read at most this long ago, so a rotated certificate, or a CA no longer
// trusted, takes effect on every connection within it.
const maxConnectionAge = time.Hour

// Run serves s until ctx is done, then stops gracefully: health goes
// NOT_SERVING, the server drains (GracefulStop, bounded by
// s.ShutdownTimeout), the jobs return, and Run returns nil. It returns an
// error when the address cannot be listened on, or when the server or a job
// stops on its own; the rest is then stopped the same way. A call whose
// handler panics fails with codes.Internal "internal error", and the panic
// is logged once with its stack; the server keeps serving. A caller that
// s.GRPC does not accept gets Unauthenticated or PermissionDenied
// (grpctls.Authorizer); Run returns an error when s.GRPC is invalid or its
// files cannot be read. The health service is also served in plaintext on
// the admin listener (Admin.ServeHealth).
func Run(ctx context.Context, s Spec) error {
	if s.Logger == nil || s.Service == nil || s.Impl == nil {
		return fmt.Errorf("run %s: missing logger or service", s.Name)
	}
	creds, err := grpctls.ServerCredentials(s.GRPC, s.Logger)
	if err != nil {
		return fmt.Errorf("run %s: %w", s.Name, err)
	}
	lis, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("run %s: listen on %s: %w", s.Name, s.Addr, err)
	}
	var admin *Admin
	if s.AdminAddr != "" {
		if admin, err = ListenAdmin(ctx, s.AdminEnv, s.AdminAddr, s.Logger); err != nil {
			lis.Close()
			return fmt.Errorf("run %s: %w", s.Name, err)
		}
	}
	onPanic := recovery.WithRecoveryHandlerContext(recovered(s.Logger))
	// The metrics interceptors come first, so that a call that panics counts
	// with the code the client sees (Internal).
	unary := []grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(onPanic)}
	stream := []grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(onPanic)}
	// Authorization comes before the handler and its recovery, after the
	// metrics: a refused call counts with its code.
	if authUnary, authStream := grpctls.Authorizer(s.GRPC, s.Logger); authUnary != nil {
		unary = append([]grpc.UnaryServerInterceptor{authUnary}, unary...)
		stream = append([]grpc.StreamServerInterceptor{authStream}, stream...)
	}
	opts := []grpc.ServerOption{grpc.Creds(creds)}
	if s.GRPC.TLS() {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: maxConnectionAge}))
	}
	if !s.NoTelemetry {
		metrics := grpcMetrics()
		unary = append([]grpc.UnaryServerInterceptor{metrics.UnaryServerInterceptor()}, unary...)
		stream = append([]grpc.StreamServerInterceptor{metrics.StreamServerInterceptor()}, stream...)
		opts = append(opts, tracing.GRPCServerOption())
	}
	opts = append(opts, grpc.NumStreamWorkers(streamWorkers))
	srv := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))...)
	srv.RegisterService(s.Service, s.Impl)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	if s.GRPC.Reflection {
		reflection.Register(srv)
	}
	healthSrv.SetServingStatus(s.Service.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if admin != nil {
		admin.ServeHealth(healthSrv)
	}

	g, gctx := errgroup.WithContext(ctx)
	// stopped reports whether the caller asked to stop; anything that ends
	// before that is a failure.
	stopped := func(name string, err error) error {
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	g.Go(func() error { return stopped("grpc server", srv.Serve(lis)) })
	// The admin listener outlives the drain of the gRPC server, so that it
	// can be scraped and profiled while the service stops.
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	if admin != nil {
		g.Go(func() error {
			if err := admin.Serve(adminCtx, s.ShutdownTimeout); err != nil {
				return stopped("admin server", err)
			}
			return nil
		})
	}
	for _, j := range s.Jobs {
		g.Go(func() error { return stopped(j.Name, j.Run(gctx)) })
	}
	g.Go(func() error {
		<-gctx.Done()
		s.Logger.Info(s.Name + " service stopping")
		healthSrv.Shutdown()
		StopGracefully(srv, s.ShutdownTimeout)
		stopAdmin()
		return nil
	})

	addr := lis.Addr().String()
	attrs := []any{slog.String("grpc_addr", addr)}
	if admin != nil {
		attrs = append(attrs, slog.String("admin_addr", admin.Addr().String()))
	}
	s.Logger.Info(s.Name+" service started", attrs...)
	if admin != nil && s.AdminReady != nil {
		s.AdminReady(admin.Addr().String())
	}
	if s.Ready != nil {
		s.Ready(addr)
	}
	if err := g.Wait(); err != nil {
		s.Logger.Error(s.Name+" service failed", slog.Any("error", err))
		return fmt.Errorf("run %s: %w", s.Name, err)
	}
	s.Logger.Info(s.Name + " service stopped")
	return nil
}

// recovered returns the handler of a panic in a gRPC handler: one error
// log line with the method, the panic and its stack, and the status of an
// internal error for the caller, which must not see the panic. A panic
// fails its call alone instead of the whole process, which serves other
// callers and runs the jobs.
func recovered(logger *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		logger.ErrorContext(ctx, "handler panicked", slog.String("method", method),
			slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		return fault.Status(ctx, fault.Errorf(fault.Internal, "panic: %v", p)).Err()
	}
}

// Every returns a job that runs fn at once, then every interval, until ctx
// is done (see RunEvery); a failing run is logged as name+" failed" and
// retried at the next tick.
func Every(name string, interval time.Duration, logger *slog.Logger, fn func(context.Context) error) Job {
	return Job{Name: name, Run: func(ctx context.Context) error {
		RunEvery(ctx, interval, logger, name+" failed", fn)
		return nil
	}}
}

// Purge returns an Every job for a retention purge that reports how many
// rows it deleted; a run that deleted rows is logged at info level.
func Purge(name string, interval time.Duration, logger *slog.Logger, purge func(context.Context) (int64, error)) Job {
	return Every(name, interval, logger, func(ctx context.Context) error {
		n, err := purge(ctx)
		if err == nil && n > 0 {
			logger.InfoContext(ctx, name, slog.Int64("rows", n))
		}
		return err
	})
}

// grpcMetrics returns the process's gRPC server metrics, registered with
// prometheus.DefaultRegisterer on first use: grpc_server_started_total,
// grpc_server_handled_total{grpc_code}, grpc_server_msg_received_total,
// grpc_server_msg_sent_total and grpc_server_handling_seconds, each by
// grpc_type, grpc_service and grpc_method. One set serves every server of
// the process (two services run in one test process), told apart by
// grpc_service.
var grpcMetrics = sync.OnceValue(func() *grpcprom.ServerMetrics {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
	))
	prometheus.MustRegister(m)
	return m
})
