package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"shop/stack/jars"
)

// Config configures the whole local stack.
type Config struct {
	// DataDir holds postgres/, kafka/ and connect/; the data survives a restart.
	DataDir string
	// CacheDir holds the fetched jars (see package jars).
	CacheDir       string
	PostgresPort   int
	KafkaPort      int
	ControllerPort int
	ConnectPort    int
	// KafkaMetricsPort and ConnectMetricsPort are where the JMX exporter
	// agents serve Kafka's and Connect's metrics (Debezium's among them) on
	// 127.0.0.1; 0 runs no agent (Start) or picks a free port
	// (StartSystem).
	KafkaMetricsPort, ConnectMetricsPort int
	// Durable keeps fsync on (make run); tests turn it off.
	Durable bool
	// Passwords of the Postgres superuser, the service role and the
	// replication role.
	SuperuserPassword, ServicePassword, ReplicationPassword string
}

// Stack is the running infrastructure.
type Stack struct {
	Postgres *Postgres
	Kafka    *Kafka
	Connect  *ConnectWorker
	Jars     jars.Layout
	cfg      Config
	log      *slog.Logger
}

// The roles of the stack: the services connect as ServiceRole, Debezium as
// ReplicationRole (REPLICATION, reads only the captured tables).
const (
	ServiceRole     = "shop"
	ReplicationRole = "debezium"
)

// Start fetches the jars and starts Postgres (with the roles), Kafka and
// Kafka Connect, printing progress per component. On failure it stops what
// it started and returns an error naming the component.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Stack, err error) {
	s := &Stack{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	// Every port first, so that a taken one stops the run before anything starts.
	if err := cfg.checkPorts(); err != nil {
		return nil, err
	}
	if s.Jars, err = jars.Fetch(ctx, cfg.CacheDir, log); err != nil {
		return nil, err
	}
	s.Postgres, err = StartPostgres(ctx, PostgresConfig{
		Dir: filepath.Join(cfg.DataDir, "postgres"), Port: cfg.PostgresPort,
		SuperuserPassword: cfg.SuperuserPassword, Durable: cfg.Durable,
	}, log)
	if err != nil {
		return nil, err
	}
	if err := EnsureRoles(ctx, s.AdminURL("postgres"), cfg.ServicePassword, cfg.ReplicationPassword); err != nil {
		return nil, err
	}
	s.Kafka, err = StartKafka(ctx, KafkaConfig{
		Dir: filepath.Join(cfg.DataDir, "kafka"), Port: cfg.KafkaPort, ControllerPort: cfg.ControllerPort,
		MetricsPort: cfg.KafkaMetricsPort, Jars: s.Jars,
	}, log)
	if err != nil {
		return nil, err
	}
	s.Connect, err = StartConnect(ctx, ConnectConfig{
		Dir: filepath.Join(cfg.DataDir, "connect"), Port: cfg.ConnectPort, MetricsPort: cfg.ConnectMetricsPort,
		Brokers: s.Kafka.Brokers(), Jars: s.Jars,
	}, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AdminURL is the superuser's URL for dbname.
func (s *Stack) AdminURL(dbname string) string { return s.Postgres.AdminURL(dbname) }

// ServiceURL is the service role's URL for dbname.
func (s *Stack) ServiceURL(dbname string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", ServiceRole, s.cfg.ServicePassword, s.cfg.PostgresPort, dbname)
}

// Stop stops Connect, Kafka and Postgres, in that order.
func (s *Stack) Stop() {
	if s.Connect != nil {
		s.log.Info("stopping kafka connect")
		s.Connect.Stop()
	}
	if s.Kafka != nil {
		s.log.Info("stopping kafka")
		s.Kafka.Stop()
	}
	if s.Postgres != nil {
		s.log.Info("stopping postgres")
		s.Postgres.Stop()
	}
}

// EnsureRoles creates (or updates the passwords of) the service role and the
// replication role.
func EnsureRoles(ctx context.Context, adminURL, servicePassword, replicationPassword string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("postgres roles: %w", err)
	}
	defer conn.Close(ctx)
	roles := []struct{ name, attrs, password string }{
		{ServiceRole, "LOGIN", servicePassword},
		{ReplicationRole, "LOGIN REPLICATION", replicationPassword},
	}
	for _, r := range roles {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", r.name).Scan(&exists); err != nil {
			return fmt.Errorf("postgres roles: %w", err)
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		// Passwords cannot be bind parameters in utility statements.
		q := fmt.Sprintf("%s ROLE %s WITH %s PASSWORD %s", verb, quoteIdent(r.name), r.attrs, quoteLiteral(r.password))
		if _, err := conn.Exec(ctx, q); err != nil && !isDuplicate(err) {
			return fmt.Errorf("postgres role %s: %w", r.name, err)
		}
	}
	return nil
}

// EnsureDatabase creates database name owned by the service role unless it
// exists. With template set, the database is a copy of it.
func EnsureDatabase(ctx context.Context, adminURL, name, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	q := fmt.Sprintf("CREATE DATABASE %s OWNER %s", quoteIdent(name), quoteIdent(ServiceRole))
	if template != "" {
		q += " TEMPLATE " + quoteIdent(template)
	}
	if _, err := conn.Exec(ctx, q); err != nil && !isDuplicate(err) {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func isDuplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42710" || pe.Code == "42P04" || pe.Code == "23505")
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// checkPorts reports the first port of the infrastructure that is taken,
// by the component's name and variable.
func (cfg Config) checkPorts() error {
	for _, p := range []struct {
		component, env string
		port           int
	}{
		{"postgres", "POSTGRES_PORT", cfg.PostgresPort},
		{"kafka", "KAFKA_PORT", cfg.KafkaPort},
		{"kafka controller", "KAFKA_CONTROLLER_PORT", cfg.ControllerPort},
		{"kafka connect", "CONNECT_PORT", cfg.ConnectPort},
		{"kafka metrics", "KAFKA_METRICS_PORT", cfg.KafkaMetricsPort},
		{"kafka connect metrics", "CONNECT_METRICS_PORT", cfg.ConnectMetricsPort},
	} {
		if p.port == 0 {
			continue
		}
		if err := checkPort(p.component, p.port, p.env); err != nil {
			return err
		}
	}
	return nil
}
