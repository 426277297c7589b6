package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"shop/stack/stacktest"
)

// startGateway runs Run in the background and returns its base URL and a
// function that stops it and returns Run's error.
func startGateway(t *testing.T, cfg Config) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("Run did not return after cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case a := <-ready:
		return "http://" + a.String(), stop
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready in 10s")
	}
	return "", nil
}

func TestRunServesAndShutsDown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Orders.GRPCAddr, cfg.Payments.GRPCAddr = stacktest.FreeAddr(t), stacktest.FreeAddr(t)
	cfg.BackendTimeout = time.Second
	base, stop := startGateway(t, cfg)

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d, want 200", resp.StatusCode)
	}

	// Both backends are down: not ready, and a call fails fast with 503.
	for _, path := range []string{"/readyz", "/api/v1/account"} {
		start := time.Now()
		r, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-User-ID", "alice")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("%s = %d %s, want 503", path, resp.StatusCode, body)
		}
		var e struct{ Error struct{ Code string } }
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "UNAVAILABLE" {
			t.Errorf("%s body %s, want code UNAVAILABLE", path, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %s with backends down", path, d)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestRunErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	bad := DefaultConfig()
	bad.BackendTimeout = 0
	busy := DefaultConfig()
	busy.HTTPAddr = taken.Addr().String()

	tests := []struct {
		name    string
		cfg     Config
		logger  *slog.Logger
		wantErr string
	}{
		{"InvalidConfig", bad, slog.New(slog.DiscardHandler), "GATEWAY_BACKEND_TIMEOUT"},
		{"PortTaken", busy, slog.New(slog.DiscardHandler), "GATEWAY_HTTP_ADDR"},
		{"NoLogger", DefaultConfig(), nil, "logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), tt.cfg, tt.logger)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}
