// Package service is how a service process of the shop runs: one gRPC
// server with the standard health service, reflection and panic recovery, a
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
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"shop/service/fault"
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
	// Jobs run beside the server.
	Jobs []Job
	// ShutdownTimeout bounds the graceful stop of the gRPC server; calls
	// still running after it are cancelled.
	ShutdownTimeout time.Duration
	// Ready, if set, is called once with the address the server listens on,
	// once it accepts calls and the jobs have started.
	Ready func(addr string)
	// Logger is the service's logger.
	Logger *slog.Logger
}

// Run serves s until ctx is done, then stops gracefully: health goes
// NOT_SERVING, the server drains (GracefulStop, bounded by
// s.ShutdownTimeout), the jobs return, and Run returns nil. It returns an
// error when the address cannot be listened on, or when the server or a job
// stops on its own; the rest is then stopped the same way. A call whose
// handler panics fails with codes.Internal "internal error", and the panic
// is logged once with its stack; the server keeps serving.
func Run(ctx context.Context, s Spec) error {
	if s.Logger == nil || s.Service == nil || s.Impl == nil {
		return fmt.Errorf("run %s: missing logger or service", s.Name)
	}
	lis, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("run %s: listen on %s: %w", s.Name, s.Addr, err)
	}
	onPanic := recovery.WithRecoveryHandlerContext(recovered(s.Logger))
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(onPanic)),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(onPanic)),
	)
	srv.RegisterService(s.Service, s.Impl)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	healthSrv.SetServingStatus(s.Service.ServiceName, healthpb.HealthCheckResponse_SERVING)

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
	for _, j := range s.Jobs {
		g.Go(func() error { return stopped(j.Name, j.Run(gctx)) })
	}
	g.Go(func() error {
		<-gctx.Done()
		s.Logger.Info(s.Name + " service stopping")
		healthSrv.Shutdown()
		StopGracefully(srv, s.ShutdownTimeout)
		return nil
	})

	addr := lis.Addr().String()
	s.Logger.Info(s.Name+" service started", slog.String("grpc_addr", addr))
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
