package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"shop/audit"
	"shop/service"
	schema "shop/sql"
	"shop/stack/jars"
	"shop/stack/local"
)

// config is everything `stack` reads from the environment (docs/configuration.md,
// "Variables"). The services' addresses and the topics are the shared
// pieces of shop/service, with the defaults the services themselves use, so
// the stack starts, checks and wires the services where they look by
// default.
type config struct {
	// Root is the repository root, where the services are built from
	// (default: the working directory).
	Root string `env:"STACK_ROOT, overwrite"`
	// DataDir holds the infrastructure's data and the logs (default:
	// Root/.data).
	DataDir string `env:"STACK_DATA_DIR"`
	// CacheDir holds the fetched jars (default: jars.DefaultCacheDir).
	CacheDir string `env:"STACK_CACHE_DIR, overwrite"`

	PostgresPort int `env:"POSTGRES_PORT, default=5432"`
	// KafkaPort defaults to the port of the services' default broker
	// (service.Kafka).
	KafkaPort      int `env:"KAFKA_PORT, overwrite"`
	ControllerPort int `env:"KAFKA_CONTROLLER_PORT, default=9093"`
	ConnectPort    int `env:"CONNECT_PORT, default=8083"`
	// KafkaMetricsPort and ConnectMetricsPort are where the Prometheus JMX
	// exporter agents serve Kafka's and Connect's (and Debezium's) metrics,
	// on 127.0.0.1.
	KafkaMetricsPort   int `env:"KAFKA_METRICS_PORT, default=9114"`
	ConnectMetricsPort int `env:"CONNECT_METRICS_PORT, default=9113"`
	// Telemetry false starts Kafka and Connect without the JMX exporter
	// agents; the services read the same variable (service.Process) and
	// record no metrics or spans. Only to measure what telemetry costs.
	Telemetry bool `env:"SHOP_TELEMETRY, default=true"`

	// Passwords of the Postgres superuser, the replication role and the
	// services' roles: each database's owner (migrations) and runtime role
	// (the service). Development defaults: each role's name.
	SuperuserPassword     string `env:"POSTGRES_PASSWORD, default=postgres"`
	ReplicationPassword   string `env:"DEBEZIUM_DB_PASSWORD, default=debezium"`
	OrdersOwnerPassword   string `env:"ORDERS_OWNER_DB_PASSWORD, default=orders_owner"`
	OrdersPassword        string `env:"ORDERS_DB_PASSWORD, default=orders_app"`
	PaymentsOwnerPassword string `env:"PAYMENTS_OWNER_DB_PASSWORD, default=payments_owner"`
	PaymentsPassword      string `env:"PAYMENTS_DB_PASSWORD, default=payments_app"`
	AuditPassword         string `env:"AUDIT_DB_PASSWORD, default=shop_audit"`

	// Topics are created with TopicPartitions partitions, routed to by the
	// connectors and consumed by the services.
	Topics          service.Topics
	TopicPartitions int32 `env:"TOPIC_PARTITIONS, default=6"`

	Gateway  service.GatewayEndpoint
	Orders   service.OrdersEndpoint
	Payments service.PaymentsEndpoint
	// The admin listeners (/metrics, /debug/pprof/); the instances of a
	// service get consecutive ports as for the gRPC addresses.
	GatewayAdmin  service.GatewayAdmin
	OrdersAdmin   service.OrdersAdmin
	PaymentsAdmin service.PaymentsAdmin
	// AuditAdmin is the scheduled audit's admin listener (audit.Admin).
	AuditAdmin audit.Admin
	// OrdersInstances and PaymentsInstances are the instances of each
	// service, on consecutive ports from ORDERS_GRPC_ADDR and
	// PAYMENTS_GRPC_ADDR (local.SystemConfig says how clashes are skipped).
	OrdersInstances   int `env:"ORDERS_INSTANCES, default=1"`
	PaymentsInstances int `env:"PAYMENTS_INSTANCES, default=1"`
	// Auth is the gateway's AUTH_MODE, its default: jwt runs the
	// development issuer, keyed under DataDir (`stack token`).
	Auth service.AuthMode
}

// loadConfig reads the configuration from lookup (os.LookupEnv in main). It
// returns an error for a value that does not parse or does not Validate.
func loadConfig(ctx context.Context, lookup service.Lookup) (config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return config{}, err
	}
	kafkaPort, err := defaultKafkaPort()
	if err != nil {
		return config{}, err
	}
	// Defaults that are computed, not written in a tag: Load keeps them
	// unless the variable is set.
	c := config{Root: wd, CacheDir: jars.DefaultCacheDir(), KafkaPort: kafkaPort}
	if err := service.Load(ctx, lookup, &c); err != nil {
		return config{}, err
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join(c.Root, ".data")
	}
	return c, nil
}

// defaultKafkaPort is the port of service.Kafka's first default broker.
func defaultKafkaPort() (int, error) {
	broker := service.Defaults[service.Kafka]().Brokers[0]
	_, port, err := net.SplitHostPort(broker)
	if err != nil {
		return 0, fmt.Errorf("default broker %q: %w", broker, err)
	}
	return strconv.Atoi(port)
}

// maxInstances bounds ORDERS_INSTANCES and PAYMENTS_INSTANCES: more
// instances than a topic's partitions would idle anyway.
const maxInstances = 16

// Validate reports every invalid value at once. The listen addresses are
// checked by binding them, when `stack run` starts.
func (c *config) Validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		port int
	}{
		{"POSTGRES_PORT", c.PostgresPort},
		{"KAFKA_PORT", c.KafkaPort},
		{"KAFKA_CONTROLLER_PORT", c.ControllerPort},
		{"CONNECT_PORT", c.ConnectPort},
		{"KAFKA_METRICS_PORT", c.KafkaMetricsPort},
		{"CONNECT_METRICS_PORT", c.ConnectMetricsPort},
	} {
		if p.port < 1 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s=%d: want a TCP port", p.name, p.port))
		}
	}
	for _, n := range []struct {
		name string
		n    int
	}{{"ORDERS_INSTANCES", c.OrdersInstances}, {"PAYMENTS_INSTANCES", c.PaymentsInstances}} {
		if n.n < 1 || n.n > maxInstances {
			errs = append(errs, fmt.Errorf("%s=%d: want 1 to %d", n.name, n.n, maxInstances))
		}
	}
	if c.TopicPartitions < 1 {
		errs = append(errs, fmt.Errorf("TOPIC_PARTITIONS=%d: want at least 1", c.TopicPartitions))
	}
	errs = append(errs, c.Auth.Validate(), c.Topics.Validate(), c.Orders.Validate(), c.Payments.Validate(),
		c.GatewayAdmin.Validate(), c.OrdersAdmin.Validate(), c.PaymentsAdmin.Validate())
	return errors.Join(errs...)
}

// infra is the configuration of the infrastructure that `stack run` keeps
// (Durable); test-env changes the directory, the ports and durability.
func (c config) infra() local.Config {
	return local.Config{
		DataDir:            c.DataDir,
		CacheDir:           c.CacheDir,
		PostgresPort:       c.PostgresPort,
		KafkaPort:          c.KafkaPort,
		ControllerPort:     c.ControllerPort,
		ConnectPort:        c.ConnectPort,
		KafkaMetricsPort:   c.KafkaMetricsPort,
		ConnectMetricsPort: c.ConnectMetricsPort,
		NoMetricsAgents:    !c.Telemetry,
		Durable:            true,
		SuperuserPassword:  c.SuperuserPassword,
		RolePasswords: map[string]string{
			schema.Orders.OwnerRole():     c.OrdersOwnerPassword,
			schema.Orders.RuntimeRole():   c.OrdersPassword,
			schema.Payments.OwnerRole():   c.PaymentsOwnerPassword,
			schema.Payments.RuntimeRole(): c.PaymentsPassword,
			schema.AuditRole:              c.AuditPassword,
		},
		ReplicationPassword: c.ReplicationPassword,
	}
}

// system is what `stack run` (withServices) and `stack infra` start.
func (c config) system(withServices bool) local.SystemConfig {
	return local.SystemConfig{
		Config:            c.infra(),
		Services:          withServices,
		Root:              c.Root,
		Topics:            c.Topics,
		TopicPartitions:   c.TopicPartitions,
		GatewayAddr:       c.Gateway.HTTPAddr,
		OrdersAddr:        c.Orders.GRPCAddr,
		PaymentsAddr:      c.Payments.GRPCAddr,
		GatewayAdminAddr:  c.GatewayAdmin.Addr,
		OrdersAdminAddr:   c.OrdersAdmin.Addr,
		PaymentsAdminAddr: c.PaymentsAdmin.Addr,
		AuditAdminAddr:    c.AuditAdmin.Addr,
		OrdersInstances:   c.OrdersInstances,
		PaymentsInstances: c.PaymentsInstances,
		AuthMode:          c.Auth.Mode,
	}
}
