// Package app wires the payments service: configuration, the database, the
// gRPC server, the orders.events consumer and the retention jobs.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"shop/lifecycle"
)

// Config is the payments service configuration, read once from the
// environment by ConfigFromEnv.
type Config struct {
	// GRPCAddr is the gRPC listen address (PAYMENTS_GRPC_ADDR).
	GRPCAddr string
	// DatabaseURL is the payments database (PAYMENTS_DATABASE_URL). It holds
	// a password: never log it, use RedactedDatabaseURL.
	DatabaseURL string
	// KafkaBrokers (KAFKA_BROKERS, comma separated).
	KafkaBrokers []string
	// OrdersTopic is the topic of OrderCreated events (ORDERS_TOPIC).
	OrdersTopic string
	// ConsumerGroup is the Kafka group of the consumer (PAYMENTS_CONSUMER_GROUP).
	ConsumerGroup string
	// LogLevel (LOG_LEVEL: debug, info, warn, error).
	LogLevel slog.Level

	// Not configurable from the environment; defaults from DefaultConfig.
	OutboxRetention      time.Duration
	IdempotencyRetention time.Duration
	PurgeInterval        time.Duration
	ShutdownTimeout      time.Duration
}

// DefaultConfig returns the defaults of docs/CONTRACTS.md.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:             "127.0.0.1:9102",
		DatabaseURL:          "postgres://shop:shop@127.0.0.1:5432/payments",
		KafkaBrokers:         []string{"127.0.0.1:9092"},
		OrdersTopic:          "orders.events",
		ConsumerGroup:        "payments",
		LogLevel:             slog.LevelInfo,
		OutboxRetention:      24 * time.Hour,
		IdempotencyRetention: 24 * time.Hour,
		PurgeInterval:        10 * time.Minute,
		ShutdownTimeout:      10 * time.Second,
	}
}

// ConfigFromEnv returns DefaultConfig overridden by the environment
// variables present in getenv (os.Getenv in main), validated.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	env := lifecycle.Env(func(name string) (string, bool) { return getenv(name), true })
	env.String("PAYMENTS_GRPC_ADDR", &c.GRPCAddr)
	env.String("PAYMENTS_DATABASE_URL", &c.DatabaseURL)
	env.String("ORDERS_TOPIC", &c.OrdersTopic)
	env.String("PAYMENTS_CONSUMER_GROUP", &c.ConsumerGroup)
	env.List("KAFKA_BROKERS", &c.KafkaBrokers)
	if v, ok := env.Lookup("LOG_LEVEL"); ok {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Config{}, fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every invalid field, joined.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
		errs = append(errs, fmt.Errorf("PAYMENTS_GRPC_ADDR %q: %w", c.GRPCAddr, err))
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("PAYMENTS_DATABASE_URL: must be a postgres:// URL"))
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS: no brokers"))
	}
	for _, b := range c.KafkaBrokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("KAFKA_BROKERS %q: %w", b, err))
		}
	}
	if c.OrdersTopic == "" {
		errs = append(errs, errors.New("ORDERS_TOPIC: empty"))
	}
	if c.ConsumerGroup == "" {
		errs = append(errs, errors.New("PAYMENTS_CONSUMER_GROUP: empty"))
	}
	if c.OutboxRetention <= 0 || c.PurgeInterval <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("retention, purge interval and shutdown timeout must be positive"))
	}
	if c.IdempotencyRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("idempotency retention %s: keys must be kept at least 24h", c.IdempotencyRetention))
	}
	return errors.Join(errs...)
}

// RedactedDatabaseURL is DatabaseURL with the password masked, for logs.
func (c Config) RedactedDatabaseURL() string {
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
