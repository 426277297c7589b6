// Package app wires the payments service: configuration, the database, the
// gRPC server, the consumer of order events and the background purges.
package app

import (
	"context"
	"errors"
	"log/slog"

	"shop/service"
	"shop/service/grpctls"
)

// Config is the configuration of the payments service, read from the
// environment once by LoadConfig: each field names its variable and
// default. The shared pieces are declared once in shop/service.
type Config struct {
	// Endpoint is the gRPC listen address (PAYMENTS_GRPC_ADDR); port 0 picks
	// a free port, reported through Ready.
	Endpoint service.PaymentsEndpoint
	// Admin is the admin listener (PAYMENTS_ADMIN_ADDR): /metrics and
	// /debug/pprof/; port 0 picks a free port, reported through AdminReady.
	Admin service.PaymentsAdmin
	// DatabaseURL is the payments database as its runtime role
	// (payments_app, rows only; the ledger append-only); it is logged
	// without its password.
	DatabaseURL service.DatabaseURL `env:"PAYMENTS_DATABASE_URL, default=postgres://payments_app:payments_app@127.0.0.1:5432/payments"`
	// ConsumerGroup is the Kafka consumer group of the order events
	// consumer.
	ConsumerGroup string `env:"PAYMENTS_CONSUMER_GROUP, default=payments"`
	// Slot is the replication slot the payments connector streams from (the
	// connector config takes the same PAYMENTS_SLOT): the outbox purge deletes
	// only rows it has confirmed.
	Slot service.PaymentsSlot
	// Connector is the connector publishing this database's outbox
	// (PAYMENTS_CONNECTOR): the label of the metric shop_connector_up, which
	// the service derives from Slot in its own database. The service never
	// talks to Kafka Connect and holds no credential of its REST API.
	Connector service.PaymentsConnector
	// GRPC is the server's transport security and the callers it accepts
	// (GRPC_TLS_*, GRPC_INSECURE, GRPC_ALLOWED_CLIENTS, GRPC_REFLECTION).
	GRPC grpctls.Server
	// Pipeline holds the brokers, the topics (the service consumes
	// Topics.Orders), the retention of what it purges, the log level and the
	// shutdown timeout.
	service.Pipeline

	// Ready, if set, is called once with the address the gRPC server
	// listens on, when the service accepts calls and consumes events. It is
	// not read from the environment.
	Ready func(addr string)
	// AdminReady, if set, is called once with the address the admin
	// listener listens on, before Ready. It is not read from the
	// environment.
	AdminReady func(addr string)
}

// DefaultConfig returns the configuration with every default applied and
// nothing read from the environment.
func DefaultConfig() Config { return service.Defaults[Config]() }

// LoadConfig returns the configuration read through lookup (os.LookupEnv in
// main): each variable set and non-empty overrides its default. It returns
// an error naming the variable for a value that does not parse, or for a
// configuration that does not validate.
func LoadConfig(ctx context.Context, lookup service.Lookup) (Config, error) {
	var c Config
	if err := service.Load(ctx, lookup, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every invalid field of c at once.
func (c *Config) Validate() error {
	return errors.Join(
		c.Endpoint.ValidateListen(),
		c.Admin.Validate(),
		c.DatabaseURL.Validate("PAYMENTS_DATABASE_URL"),
		service.Required("PAYMENTS_CONSUMER_GROUP", c.ConsumerGroup),
		c.Slot.Validate(),
		c.Connector.Validate(),
		c.GRPC.Validate(),
		c.Pipeline.Validate(),
	)
}

// LogValue renders c for logs, the database URL without its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append([]slog.Attr{
		slog.String("grpc_addr", c.Endpoint.GRPCAddr),
		slog.String("admin_addr", c.Admin.Addr),
		slog.Any("database_url", c.DatabaseURL),
		slog.String("consumer_group", c.ConsumerGroup),
		slog.String("slot", c.Slot.Name),
		slog.String("connector", c.Connector.Name),
	}, append(c.GRPC.LogAttrs(), c.Pipeline.LogAttrs()...)...)...)
}
