// Package app wires the gateway: configuration from the environment, the
// gRPC clients of the backends, and the HTTP server with graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"shop/service"
)

// Config is the gateway's configuration: each field's variable and default
// are in its tag. Build it with LoadConfig, or DefaultConfig in tests; Run
// validates it.
type Config struct {
	// GatewayEndpoint is the listen address (GATEWAY_HTTP_ADDR); port 0
	// picks a free port, reported through Ready.
	service.GatewayEndpoint
	// Admin is the admin listener (GATEWAY_ADMIN_ADDR): /metrics and
	// /debug/pprof/, never on the public port; port 0 picks a free port,
	// reported through AdminReady.
	Admin service.GatewayAdmin
	// Orders and Payments are the backends the gateway dials.
	Orders   service.OrdersEndpoint
	Payments service.PaymentsEndpoint
	// BackendTimeout is the deadline of each backend call and of the
	// /readyz checks (a Go duration such as "3s").
	BackendTimeout time.Duration `env:"GATEWAY_BACKEND_TIMEOUT, default=3s"`
	// Process is the log level (main builds the logger with it) and the
	// bound of the graceful shutdown of the HTTP server.
	Process service.Process

	// Ready, when set, is called once with the bound HTTP address as soon
	// as the server accepts connections. Not read from the environment.
	Ready func(addr net.Addr)
	// AdminReady, when set, is called once with the bound admin address,
	// before Ready. Not read from the environment.
	AdminReady func(addr net.Addr)
}

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config { return service.Defaults[Config]() }

// LoadConfig reads the configuration from lookup (os.LookupEnv in main):
// a variable that is unset or empty keeps its default. It returns an error
// for a value that does not parse or a configuration that does not
// Validate.
func LoadConfig(ctx context.Context, lookup service.Lookup) (Config, error) {
	var cfg Config
	if err := service.Load(ctx, lookup, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.GatewayEndpoint.Validate(), c.Admin.Validate(), c.Orders.Validate(), c.Payments.Validate())
	if c.BackendTimeout <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_BACKEND_TIMEOUT must be positive, got %s", c.BackendTimeout))
	}
	errs = append(errs, c.Process.Validate())
	return errors.Join(errs...)
}
