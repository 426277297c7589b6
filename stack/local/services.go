package local

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Service is one of the shop's own Go services run as a child process.
type Service struct {
	*Process
}

// StartService starts binary with env and waits until ready succeeds.
func StartService(ctx context.Context, name, binary, logDir string, env []string, ready func(context.Context) error, log *slog.Logger) (*Service, error) {
	start := logStart(log, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	p, err := startProcess(name, filepath.Join(logDir, name+".log"), nil, env, "/", binary)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, 60*time.Second, ready); err != nil {
		p.Stop(syscall.SIGTERM, 10*time.Second)
		return nil, err
	}
	log.Info(name+" ready", "took", time.Since(start).Round(time.Millisecond))
	return &Service{Process: p}, nil
}

// Stop asks the service to shut down gracefully.
func (s *Service) Stop() { s.Process.Stop(syscall.SIGTERM, 20*time.Second) }

// TCPReady is a readiness check that succeeds once addr accepts connections.
func TCPReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HTTPReady is a readiness check that succeeds once url answers 200.
func HTTPReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}
