package local

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ServiceComponent is one of the shop's own Go services as a Component:
// binary runs with env added to this process's environment and its output
// in logDir/name.log; it is ready when ready (TCPReady, HTTPReady)
// succeeds, within a minute, and stops gracefully on SIGTERM within 20 s.
func ServiceComponent(name, binary, logDir string, env []string, ready func(context.Context) error, dependsOn ...string) Component {
	return Component{
		Name: name,
		Start: func(context.Context) (*Process, error) {
			if err := os.MkdirAll(logDir, 0o755); err != nil {
				return nil, err
			}
			return startProcess(name, filepath.Join(logDir, name+".log"), procOptions{env: env, dir: "/"}, binary)
		},
		Ready:        ready,
		ReadyTimeout: time.Minute,
		StopSignal:   syscall.SIGTERM,
		StopGrace:    20 * time.Second,
		DependsOn:    dependsOn,
	}
}

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
