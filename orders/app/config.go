// Package app wires the orders service: configuration, the database, the
// gRPC server, the consumer of payment results and the background purges.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"shop/lifecycle"
)

// Config is the configuration of the orders service. ConfigFromEnv reads it
// from the environment; tests build it directly (DefaultConfig, then
// override).
type Config struct {
	// GRPCAddr is the listen address (ORDERS_GRPC_ADDR); port 0 picks a free
	// port, reported through Ready.
	GRPCAddr string
	// DatabaseURL is the orders database (ORDERS_DATABASE_URL). It may hold
	// a password: log the Config itself, which redacts it.
	DatabaseURL string
	// KafkaBrokers are the bootstrap brokers (KAFKA_BROKERS, comma separated).
	KafkaBrokers []string
	// PaymentsTopic is the topic of payment results consumed (PAYMENTS_TOPIC).
	PaymentsTopic string
	// ConsumerGroup is the Kafka consumer group (ORDERS_CONSUMER_GROUP).
	ConsumerGroup string
	// LogLevel is the minimum level logged (LOG_LEVEL: debug, info, warn,
	// error). Run does not use it; main builds the logger with it.
	LogLevel slog.Level

	// The following are not read from the environment.

	// OutboxRetention is how long published outbox rows are kept.
	OutboxRetention time.Duration
	// IdempotencyRetention is how long idempotency keys are kept; at least
	// 24h (DESIGN.md section 3).
	IdempotencyRetention time.Duration
	// PurgeInterval is how often the outbox and idempotency purges run.
	PurgeInterval time.Duration
	// ShutdownTimeout bounds the graceful stop of the gRPC server; calls
	// still running after it are cancelled.
	ShutdownTimeout time.Duration
	// Ready, if set, is called once with the address the gRPC server
	// listens on, when the service accepts calls and consumes events.
	Ready func(addr string) `json:"-"`
}

// Defaults of the configuration (docs/CONTRACTS.md).
const (
	DefaultGRPCAddr      = "127.0.0.1:9101"
	DefaultDatabaseURL   = "postgres://shop:shop@127.0.0.1:5432/orders"
	DefaultKafkaBrokers  = "127.0.0.1:9092"
	DefaultPaymentsTopic = "payments.events"
	DefaultConsumerGroup = "orders"
)

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:             DefaultGRPCAddr,
		DatabaseURL:          DefaultDatabaseURL,
		KafkaBrokers:         strings.Split(DefaultKafkaBrokers, ","),
		PaymentsTopic:        DefaultPaymentsTopic,
		ConsumerGroup:        DefaultConsumerGroup,
		LogLevel:             slog.LevelInfo,
		OutboxRetention:      time.Hour,
		IdempotencyRetention: 24 * time.Hour,
		PurgeInterval:        5 * time.Minute,
		ShutdownTimeout:      10 * time.Second,
	}
}

// ConfigFromEnv returns DefaultConfig overridden by the environment variables
// that lookup (os.LookupEnv in main) finds set and non-empty. It returns an
// error for a value that cannot be parsed or a Config that fails Validate.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	env := lifecycle.Env(lookup)
	env.String("ORDERS_GRPC_ADDR", &c.GRPCAddr)
	env.String("ORDERS_DATABASE_URL", &c.DatabaseURL)
	env.List("KAFKA_BROKERS", &c.KafkaBrokers)
	env.String("PAYMENTS_TOPIC", &c.PaymentsTopic)
	env.String("ORDERS_CONSUMER_GROUP", &c.ConsumerGroup)
	if v, ok := env.Lookup("LOG_LEVEL"); ok {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Config{}, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", v)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
		errs = append(errs, fmt.Errorf("grpc address %q: %w", c.GRPCAddr, err))
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, fmt.Errorf("database url %q: want a postgres:// URL", redactURL(c.DatabaseURL)))
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("kafka brokers: none"))
	}
	for _, b := range c.KafkaBrokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("kafka broker %q: %w", b, err))
		}
	}
	if c.PaymentsTopic == "" {
		errs = append(errs, errors.New("payments topic: empty"))
	}
	if c.ConsumerGroup == "" {
		errs = append(errs, errors.New("consumer group: empty"))
	}
	if c.OutboxRetention <= 0 || c.PurgeInterval <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("outbox retention, purge interval and shutdown timeout must be positive"))
	}
	if c.IdempotencyRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("idempotency retention %s: must be at least 24h", c.IdempotencyRetention))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid config: %w", err)
	}
	return nil
}

// LogValue renders c for logs with the database password redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("grpc_addr", c.GRPCAddr),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("kafka_brokers", strings.Join(c.KafkaBrokers, ",")),
		slog.String("payments_topic", c.PaymentsTopic),
		slog.String("consumer_group", c.ConsumerGroup),
		slog.String("log_level", c.LogLevel.String()),
	)
}

// redactURL hides the password of a URL; a URL that does not parse is
// hidden entirely, since it may still hold one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable>"
	}
	return u.Redacted()
}
