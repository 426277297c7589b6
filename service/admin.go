package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// AdminHandler serves what an operator scrapes or profiles, never on a
// public port: /metrics, the Prometheus text of everything registered with
// prometheus.DefaultRegisterer (the Go and process collectors, the request
// metrics, the pipeline's collectors), and /debug/pprof/, Go's profiles.
// The pprof handlers are on this handler alone, not on
// http.DefaultServeMux.
func AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(prometheus.DefaultRegisterer,
		promhttp.HandlerFor(prometheus.DefaultGatherer, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// Admin is a listening admin server (AdminHandler). Build it with
// ListenAdmin, then Serve it.
type Admin struct {
	ln  net.Listener
	srv *http.Server
}

// ListenAdmin listens on addr for the admin server; port 0 picks a free
// port, reported by Addr. It returns an error, naming the variable env,
// when the address cannot be listened on.
func ListenAdmin(ctx context.Context, env, addr string, logger *slog.Logger) (*Admin, error) {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen on %s (%s): %w", addr, env, err)
	}
	return &Admin{ln: ln, srv: &http.Server{
		Handler:           AdminHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: /debug/pprof/profile?seconds=30 writes for as
		// long as it profiles.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// Addr is the address the admin server listens on.
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Serve serves until ctx is done, then shuts down: requests in flight get
// up to timeout to finish (a running profile is then cut). It returns nil
// after that, or the error that stopped the server before.
func (a *Admin) Serve(ctx context.Context, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		_ = a.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin server: %w", err)
	}
	return nil
}

// ServeHealth also serves the gRPC health service h on the admin listener,
// in plaintext (HTTP/2 without TLS, as a gRPC client dials with insecure
// credentials): what a probe that cannot do TLS checks, such as
// Kubernetes' grpc probe, while the service port takes mutual TLS only.
// It reveals nothing but the serving status. Call it before Serve.
func (a *Admin) ServeHealth(h healthpb.HealthServer) {
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, h)
	next := a.srv.Handler
	a.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	a.srv.Protocols = p
}

// Close closes the listener of an admin server that will not be served.
func (a *Admin) Close() error { return a.ln.Close() }
