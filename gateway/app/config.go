// Package app wires the gateway: configuration from the environment, the
// gRPC clients of the backends, and the HTTP server with graceful shutdown.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is the gateway's configuration. Build it with ConfigFromEnv or
// DefaultConfig; Run validates it.
type Config struct {
	// HTTPAddr is the listen address (GATEWAY_HTTP_ADDR); port 0 picks a
	// free port, reported through Ready.
	HTTPAddr string
	// OrdersAddr and PaymentsAddr are the backends' gRPC addresses
	// (ORDERS_GRPC_ADDR, PAYMENTS_GRPC_ADDR).
	OrdersAddr   string
	PaymentsAddr string
	// BackendTimeout is the deadline of each backend call
	// (GATEWAY_BACKEND_TIMEOUT, a Go duration such as "3s").
	BackendTimeout time.Duration
	// LogLevel is the minimum level logged (LOG_LEVEL: debug, info, warn,
	// error). Run does not use it; main builds the logger with it.
	LogLevel slog.Level
	// ShutdownTimeout bounds the graceful shutdown of the HTTP server.
	ShutdownTimeout time.Duration

	// Ready, when set, is called once with the bound HTTP address as soon
	// as the server accepts connections. Not read from the environment.
	Ready func(addr net.Addr)
}

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:        "127.0.0.1:8080",
		OrdersAddr:      "127.0.0.1:9101",
		PaymentsAddr:    "127.0.0.1:9102",
		BackendTimeout:  3 * time.Second,
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: 10 * time.Second,
	}
}

// ConfigFromEnv returns DefaultConfig overridden by the variables that
// lookup finds (pass os.LookupEnv). It fails on a value that does not
// parse or on a configuration that does not Validate.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && v != "" {
			*dst = v
		}
	}
	str("GATEWAY_HTTP_ADDR", &cfg.HTTPAddr)
	str("ORDERS_GRPC_ADDR", &cfg.OrdersAddr)
	str("PAYMENTS_GRPC_ADDR", &cfg.PaymentsAddr)

	var errs []error
	if v, ok := lookup("GATEWAY_BACKEND_TIMEOUT"); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GATEWAY_BACKEND_TIMEOUT: %w", err))
		}
		cfg.BackendTimeout = d
	}
	if v, ok := lookup("LOG_LEVEL"); ok && v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if err := checkHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_HTTP_ADDR: %w", err))
	}
	for _, a := range []struct{ name, value string }{
		{"ORDERS_GRPC_ADDR", c.OrdersAddr},
		{"PAYMENTS_GRPC_ADDR", c.PaymentsAddr},
	} {
		// A gRPC target URI such as dns:///orders:9101 is passed on as is.
		if strings.Contains(a.value, ":///") {
			continue
		}
		if err := checkHostPort(a.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.name, err))
		}
	}
	if c.BackendTimeout <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_BACKEND_TIMEOUT must be positive, got %s", c.BackendTimeout))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout must be positive, got %s", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// checkHostPort accepts host:port with a numeric port (the host may be
// empty, meaning all interfaces).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}
