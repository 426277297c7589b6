package local

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"shop/service"
	schema "shop/sql"
	"shop/stack/jars"
)

// Config configures the infrastructure: directories, ports, durability
// and passwords.
type Config struct {
	// DataDir holds postgres/, kafka/ and connect/; the data survives a restart.
	DataDir string
	// CacheDir holds the fetched jars (see package jars); default
	// jars.DefaultCacheDir().
	CacheDir       string
	PostgresPort   int
	KafkaPort      int
	ControllerPort int
	ConnectPort    int
	// KafkaMetricsPort and ConnectMetricsPort are where the JMX exporter
	// agents serve Kafka's and Connect's metrics (Debezium's among them) on
	// 127.0.0.1. A zero port, of these or the ones above, is a free one.
	KafkaMetricsPort, ConnectMetricsPort int
	// KafkaPlaintext adds a PLAINTEXT listener to Kafka on
	// KafkaPlaintextPort (a free one when 0): the test stack's, for
	// clients without SASL, which may do nothing unless a test grants the
	// principal ANONYMOUS something (KafkaConfig.PlaintextPort).
	KafkaPlaintext     bool
	KafkaPlaintextPort int
	// NoMetricsAgents starts Kafka and Connect without their JMX exporter
	// agents (SHOP_TELEMETRY=false, to measure what telemetry costs).
	NoMetricsAgents bool
	// Durable keeps fsync on (make run); tests turn it off.
	Durable bool
	// Passwords of the Postgres superuser and the replication role
	// (default postgres and debezium).
	SuperuserPassword, ReplicationPassword string
	// RolePasswords are the passwords of the services' roles by role name
	// (ServiceRoles); a role without one has its own name as its password,
	// the development default.
	RolePasswords map[string]string
}

// agentPort is the port of a JMX exporter agent: port, or 0 (no agent)
// with NoMetricsAgents.
func (cfg Config) agentPort(port int) int {
	if cfg.NoMetricsAgents {
		return 0
	}
	return port
}

// Password is the password of the services' role named role.
func (cfg Config) Password(role string) string {
	if pw := cfg.RolePasswords[role]; pw != "" {
		return pw
	}
	return role
}

// Roles are the roles of the stack with their passwords: the replication
// role, the services' roles (ServiceRoles) and the audit's
// (schema.AuditRole).
func (cfg Config) Roles() []Role {
	roles := []Role{{Name: ReplicationRole, Attrs: "LOGIN REPLICATION", Password: cfg.ReplicationPassword}}
	for _, r := range append(ServiceRoles(), schema.AuditRole) {
		roles = append(roles, Role{Name: r, Attrs: "LOGIN", Password: cfg.Password(r)})
	}
	return roles
}

// roleURL is the URL of role with cfg's password for database dbname.
func (cfg Config) roleURL(role, dbname string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, cfg.Password(role)),
		Host: "127.0.0.1:" + strconv.Itoa(cfg.PostgresPort), Path: "/" + dbname, RawQuery: "sslmode=disable"}
	return u.String()
}

// ReplicationRole is the role Debezium connects as (REPLICATION, reads only
// the captured tables).
const ReplicationRole = schema.ReplicationRole

// ServiceRoles are the roles of the services' databases, three per
// database: its owner, which runs the migrations, the runtime role the
// service connects as, and the operator role shopctl connects as
// (schema.Database's OwnerRole, RuntimeRole and OperatorRole).
func ServiceRoles() []string {
	var roles []string
	for _, db := range []schema.Database{schema.Orders, schema.Payments} {
		roles = append(roles, db.OwnerRole(), db.RuntimeRole(), db.OperatorRole())
	}
	return roles
}

// SystemConfig configures a whole shop run by StartSystem.
type SystemConfig struct {
	// Config is the infrastructure.
	Config
	// Services false runs the infrastructure and the connectors only
	// (`make infra`).
	Services bool
	// Root is the repository root the services are built from (go build
	// ./orders/cmd/orders and so on); BinDir receives the binaries
	// (default Root/.bin).
	Root, BinDir string
	// Topics are created and routed to by the connectors (default
	// service.Topics' defaults), with TopicPartitions partitions (default 6).
	Topics          service.Topics
	TopicPartitions int32
	// GatewayAddr is the gateway's listen address, host:port; empty picks a
	// free port on 127.0.0.1.
	GatewayAddr string
	// OrdersAddr and PaymentsAddr are the gRPC listen addresses (host:port)
	// of each service's first instance; instance i listens on the i-th
	// port from there, skipping the ports of the gateway and of the other
	// service's first instance, so that 9101 and 9102 with two instances
	// each give orders 9101, 9103 and payments 9102, 9104. Empty gives
	// every instance a free port on 127.0.0.1.
	OrdersAddr, PaymentsAddr string
	// GatewayAdminAddr, OrdersAdminAddr and PaymentsAdminAddr are the admin
	// listeners (/metrics, /debug/pprof/) of the gateway and of each
	// service's first instance; the other instances get the following
	// ports as for the gRPC addresses, skipping every port of the system
	// (so 9111 and 9112 with two instances each, and the JMX exporters on
	// 9113 and 9114, give orders 9111, 9115 and payments 9112, 9116).
	// Empty gives a free port on 127.0.0.1.
	GatewayAdminAddr, OrdersAdminAddr, PaymentsAdminAddr string
	// AuditAdminAddr is the scheduled audit's admin listener (/metrics);
	// no service instance gets its port. Empty picks a free port on
	// 127.0.0.1.
	AuditAdminAddr string
	// OrdersInstances and PaymentsInstances are the instances of each
	// service (default 1); they share the service's consumer group and
	// database, and the gateway balances over them.
	OrdersInstances, PaymentsInstances int
	// Env is added to the environment of every service process, which
	// inherits this process's; the system's own settings (addresses,
	// database URLs, brokers, topics) take precedence.
	Env []string
	// ConnectorVars resolves the placeholders of the connector
	// configurations that the system does not set itself (default
	// os.LookupEnv).
	ConnectorVars func(string) (string, bool)
	// Policy is how components are restarted (DefaultRestartPolicy when
	// zero).
	Policy RestartPolicy
	// AuthMode is the gateway's AUTH_MODE: service.AuthJWT runs the
	// development issuer (see DevIssuerDir); service.AuthHeader or empty
	// has the gateway trust X-User-ID.
	AuthMode string
}

// withDefaults fills what Config's fields say is filled when empty, and
// makes the paths absolute: the children run in other directories.
func (cfg Config) withDefaults() (_ Config, err error) {
	if cfg.CacheDir == "" {
		cfg.CacheDir = jars.DefaultCacheDir()
	}
	for _, pw := range []struct {
		p   *string
		def string
	}{
		{&cfg.SuperuserPassword, "postgres"}, {&cfg.ReplicationPassword, "debezium"},
	} {
		if *pw.p == "" {
			*pw.p = pw.def
		}
	}
	for _, p := range []*string{&cfg.DataDir, &cfg.CacheDir} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return cfg, err
		}
	}
	ports := []*int{&cfg.PostgresPort, &cfg.KafkaPort, &cfg.ControllerPort, &cfg.ConnectPort,
		&cfg.KafkaMetricsPort, &cfg.ConnectMetricsPort}
	if cfg.KafkaPlaintext {
		ports = append(ports, &cfg.KafkaPlaintextPort)
	} else {
		cfg.KafkaPlaintextPort = 0
	}
	for _, p := range ports {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, nil
}

// withDefaults fills what SystemConfig's fields say is filled when empty,
// Config's among them, and makes the paths absolute.
func (cfg SystemConfig) withDefaults() (_ SystemConfig, err error) {
	if cfg.Config, err = cfg.Config.withDefaults(); err != nil {
		return cfg, err
	}
	if cfg.TopicPartitions == 0 {
		cfg.TopicPartitions = 6
	}
	if cfg.Topics == (service.Topics{}) {
		cfg.Topics = service.Defaults[service.Topics]()
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.Root, ".bin")
	}
	for _, p := range []*string{&cfg.Root, &cfg.BinDir} {
		if *p, err = filepath.Abs(*p); err != nil {
			return cfg, err
		}
	}
	if cfg.ConnectorVars == nil {
		cfg.ConnectorVars = os.LookupEnv
	}
	return cfg, nil
}

// TempDataDir creates a fresh directory for the data of a throwaway system
// (Config.DataDir), named from prefix in the system's temporary directory.
// It is open to others to traverse: as root, Postgres runs as the postgres
// system user, which must reach its cluster in it.
func TempDataDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
