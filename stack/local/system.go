// Package local runs the shop as plain processes on this machine, every
// process supervised and restarted when it exits: the infrastructure alone
// (Postgres 15, one Kafka node in KRaft mode, Kafka Connect with the
// Debezium PostgreSQL plugin) for the tests, and the whole system with its
// databases, topics, connectors and services for `make run` and the fault
// tests. Both start through one path: StartInfra is the first part of
// StartSystem.
package local

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"

	"shop/connect"
	"shop/service"
	schema "shop/sql"
	"shop/stack/jars"
)

// The names of a System's components, for Supervisor.Process, Ready and
// Restarted. The service instances are named by InstanceName.
const (
	NamePostgres = "postgres"
	NameKafka    = "kafka"
	NameConnect  = "kafka connect"
	NameGateway  = "gateway"
	// The services, for InstanceName.
	Orders   = "orders"
	Payments = "payments"
)

// InstanceName is the component name of instance i (from 1) of svc
// (Orders or Payments), such as "orders-2"; its log is logs/orders-2.log.
func InstanceName(svc string, i int) string { return svc + "-" + strconv.Itoa(i) }

// System is a whole shop on this machine, every process supervised: Postgres,
// Kafka, Kafka Connect with the connectors, the service instances and the
// gateway; or, started by StartInfra, the first three alone. The embedded Supervisor finds, waits for and stops its
// components; their names are NamePostgres, NameKafka, NameConnect,
// InstanceName(Orders, i), InstanceName(Payments, i), NameGateway and
// NameAudit.
type System struct {
	*Supervisor
	Jars jars.Layout
	// OrdersAddrs and PaymentsAddrs are the instances' gRPC addresses in
	// instance order; GatewayAddr is the gateway's HTTP address. Empty
	// without Services.
	OrdersAddrs, PaymentsAddrs []string
	GatewayAddr                string
	// OrdersAdminAddrs, PaymentsAdminAddrs and GatewayAdminAddr are the
	// admin listeners, in the same order. Empty without Services.
	OrdersAdminAddrs, PaymentsAdminAddrs []string
	GatewayAdminAddr                     string
	// AuditAdminAddr is the scheduled audit's admin listener (NameAudit).
	AuditAdminAddr string
	// KafkaSecrets are the Kafka principals' passwords, under the data
	// directory (KafkaSecretsDir).
	KafkaSecrets KafkaSecrets
	cfg          SystemConfig
	connectCred  connect.Credentials
}

// StartInfra starts the infrastructure alone, supervised: Postgres (with
// the roles), Kafka and Kafka Connect, with no database, topic or
// connector of the shop's (`stack test-env`, and package stacktest, whose
// tests create their own). On failure it stops what it started and returns
// an error naming the component, as StartSystem does.
func StartInfra(ctx context.Context, cfg Config, log *slog.Logger) (_ *System, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &System{Supervisor: NewSupervisor(log, DefaultRestartPolicy), cfg: SystemConfig{Config: cfg}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.startInfra(ctx, log, append(ConnectWorkerGrants(ConnectGroup), testInfraGrants()...), KafkaTester); err != nil {
		return nil, err
	}
	return s, nil
}

// StartSystem builds the services, starts the infrastructure (as
// StartInfra does), provisions the databases (created and migrated), the
// topics and the connectors, then starts the service instances and the
// gateway, each component supervised from the moment it is ready. It
// returns when the gateway's /readyz answers 200. On failure it stops what
// it started and returns an error naming the component (a *StartError with
// the end of its log, a *PortInUseError, a build error).
//
// As root, Postgres runs as the postgres system user: DataDir and its
// parents must be traversable by it.
func StartSystem(ctx context.Context, cfg SystemConfig, log *slog.Logger) (_ *System, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &System{Supervisor: NewSupervisor(log, cfg.Policy), cfg: cfg}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	var binaries map[string]string
	if cfg.Services {
		if err := s.assignAddrs(); err != nil {
			return nil, err
		}
		if binaries, err = Build(ctx, cfg.Root, cfg.BinDir, log, Orders, Payments, NameGateway, NameAudit); err != nil {
			return nil, err
		}
	}
	if err := s.startInfra(ctx, log, ShopGrants(cfg.Topics, OrdersGroup, PaymentsGroup, ConnectGroup)); err != nil {
		return nil, err
	}
	if err := s.provision(ctx, log); err != nil {
		return nil, err
	}
	if cfg.Services {
		if err := s.startServices(ctx, binaries); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Config is the infrastructure's configuration as it runs: with its
// defaults, the ports chosen among them.
func (s *System) Config() Config { return s.cfg.Config }

// AdminURL is the superuser's URL for dbname.
func (s *System) AdminURL(dbname string) string {
	return adminURL(s.cfg.SuperuserPassword, s.cfg.PostgresPort, dbname)
}

// ServiceURL is the URL of the runtime role of the service whose database
// is dbname ("orders" or "payments"): what its instances connect with.
func (s *System) ServiceURL(dbname string) string {
	return s.cfg.roleURL(schema.Database(dbname).RuntimeRole(), dbname)
}

// OwnerURL is the URL of the owner role of database dbname: what the
// migrations run with.
func (s *System) OwnerURL(dbname string) string {
	return s.cfg.roleURL(schema.Database(dbname).OwnerRole(), dbname)
}

// Brokers returns Kafka's bootstrap addresses (SASL, see KafkaSecrets).
func (s *System) Brokers() []string { return KafkaConfig{Port: s.cfg.KafkaPort}.Brokers() }

// PlaintextBrokers returns the address of Kafka's PLAINTEXT listener, nil
// without one (Config.KafkaPlaintext).
func (s *System) PlaintextBrokers() []string {
	return KafkaConfig{PlaintextPort: s.cfg.KafkaPlaintextPort}.PlaintextBrokers()
}

// Kafka is how principal reaches Kafka: brokers and credentials.
func (s *System) Kafka(principal string) service.Kafka {
	return s.KafkaSecrets.Client(s.Brokers(), principal)
}

// ConnectURL is Kafka Connect's REST address.
func (s *System) ConnectURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.cfg.ConnectPort) }

// ConnectCredentials are what Kafka Connect's REST API asks for; the
// password is also in ConnectPasswordFile.
func (s *System) ConnectCredentials() connect.Credentials { return s.connectCred }

// ConnectPasswordFile is the owner-only file holding the REST password,
// under the data directory.
func (s *System) ConnectPasswordFile() string {
	return ConnectPasswordFile(filepath.Join(s.cfg.DataDir, "connect"))
}

// ConnectSecretsDir is the directory Kafka Connect's config provider reads
// the connectors' secrets from (ConnectPasswordSecret), under the data
// directory: the connector configs' ${CONNECT_SECRETS_DIR}.
func (s *System) ConnectSecretsDir() string {
	return filepath.Join(s.cfg.DataDir, "connect", "secrets")
}

// ConnectMetricsURL and KafkaMetricsURL are the JMX exporters' /metrics,
// "" when the agents are off.
func (s *System) ConnectMetricsURL() string {
	if s.cfg.NoMetricsAgents {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.cfg.ConnectMetricsPort)
}

// KafkaMetricsURL: see ConnectMetricsURL.
func (s *System) KafkaMetricsURL() string {
	if s.cfg.NoMetricsAgents {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.cfg.KafkaMetricsPort)
}

// GatewayURL is the gateway's base URL, such as http://127.0.0.1:8080.
func (s *System) GatewayURL() string { return "http://" + s.GatewayAddr }
