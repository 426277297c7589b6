package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	schema "shop/sql"
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
	// NoMetricsAgents starts Kafka and Connect without their JMX exporter
	// agents (SHOP_TELEMETRY=false, to measure what telemetry costs).
	NoMetricsAgents bool
	// Durable keeps fsync on (make run); tests turn it off.
	Durable bool
	// Passwords of the Postgres superuser and the replication role.
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
// role and the services' roles (ServiceRoles).
func (cfg Config) Roles() []Role {
	roles := []Role{{Name: ReplicationRole, Attrs: "LOGIN REPLICATION", Password: cfg.ReplicationPassword}}
	for _, r := range ServiceRoles() {
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

// Stack is the running infrastructure.
type Stack struct {
	Postgres *Postgres
	Kafka    *Kafka
	Connect  *ConnectWorker
	Jars     jars.Layout
	cfg      Config
	log      *slog.Logger
}

// ReplicationRole is the role Debezium connects as (REPLICATION, reads only
// the captured tables).
const ReplicationRole = schema.ReplicationRole

// ServiceRoles are the roles of the services' databases, two per database:
// its owner, which runs the migrations, and the runtime role the service
// connects as (schema.Database's OwnerRole and RuntimeRole).
func ServiceRoles() []string {
	var roles []string
	for _, db := range []schema.Database{schema.Orders, schema.Payments} {
		roles = append(roles, db.OwnerRole(), db.RuntimeRole())
	}
	return roles
}

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
	if err := EnsureRoles(ctx, s.AdminURL("postgres"), cfg.Roles()); err != nil {
		return nil, err
	}
	s.Kafka, err = StartKafka(ctx, KafkaConfig{
		Dir: filepath.Join(cfg.DataDir, "kafka"), Port: cfg.KafkaPort, ControllerPort: cfg.ControllerPort,
		MetricsPort: cfg.agentPort(cfg.KafkaMetricsPort), Jars: s.Jars,
	}, log)
	if err != nil {
		return nil, err
	}
	s.Connect, err = StartConnect(ctx, ConnectConfig{
		Dir: filepath.Join(cfg.DataDir, "connect"), Port: cfg.ConnectPort, MetricsPort: cfg.agentPort(cfg.ConnectMetricsPort),
		Brokers: s.Kafka.Brokers(), Jars: s.Jars,
	}, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AdminURL is the superuser's URL for dbname.
func (s *Stack) AdminURL(dbname string) string { return s.Postgres.AdminURL(dbname) }

// ServiceURL is the URL of the runtime role of the service whose database
// is dbname ("orders" or "payments"): what the service connects with.
func (s *Stack) ServiceURL(dbname string) string {
	return s.cfg.roleURL(schema.Database(dbname).RuntimeRole(), dbname)
}

// OwnerURL is the URL of the owner role of database dbname ("orders" or
// "payments"): what migrations run with.
func (s *Stack) OwnerURL(dbname string) string {
	return s.cfg.roleURL(schema.Database(dbname).OwnerRole(), dbname)
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

// Role is a database role the stack creates: its name, attributes (such
// as LOGIN REPLICATION) and password.
type Role struct{ Name, Attrs, Password string }

// EnsureRoles creates roles, or updates the attributes and passwords of
// those that exist.
func EnsureRoles(ctx context.Context, adminURL string, roles []Role) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("postgres roles: %w", err)
	}
	defer conn.Close(ctx)
	// Processes sharing a cluster (test packages attaching to one stack)
	// ensure the roles at once: two ALTER ROLE of one role at the same time
	// fail ("tuple concurrently updated"). The lock goes with the session.
	const lockID = 7_235_114_003
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return fmt.Errorf("postgres roles: %w", err)
	}
	for _, r := range roles {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", r.Name).Scan(&exists); err != nil {
			return fmt.Errorf("postgres roles: %w", err)
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		// Passwords cannot be bind parameters in utility statements.
		q := fmt.Sprintf("%s ROLE %s WITH %s PASSWORD %s", verb, quoteIdent(r.Name), r.Attrs, quoteLiteral(r.Password))
		if _, err := conn.Exec(ctx, q); err != nil && !isDuplicate(err) {
			return fmt.Errorf("postgres role %s: %w", r.Name, err)
		}
	}
	return nil
}

// EnsureDatabase creates database name of kind, owned by kind's owner role
// (kind.OwnerRole), unless it exists; with template set, as a copy of it.
// A database that exists with another owner (one from before the roles
// were split) is handed to the owner role with everything its old owner
// owned in it. The privileges of the runtime role are Grant's, which
// schema.Migrate applies; a copy of a template needs schema.Grant again,
// since the right to connect is not copied.
func EnsureDatabase(ctx context.Context, adminURL, name string, kind schema.Database, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	owner := kind.OwnerRole()
	var current string
	err = conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name).Scan(&current)
	switch {
	case err == nil && current == owner:
		return nil
	case err == nil:
		return handOver(ctx, conn, adminURL, name, current, owner)
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("create database %s: %w", name, err)
	}
	q := fmt.Sprintf("CREATE DATABASE %s OWNER %s", quoteIdent(name), quoteIdent(owner))
	if template != "" {
		q += " TEMPLATE " + quoteIdent(template)
	}
	if _, err := conn.Exec(ctx, q); err != nil && !isDuplicate(err) {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// handOver makes owner the owner of database name and of the tables and
// publications its current owner (not a superuser) owns in it.
func handOver(ctx context.Context, admin *pgx.Conn, adminURL, name, current, owner string) error {
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", quoteIdent(name), quoteIdent(owner))); err != nil {
		return fmt.Errorf("database %s: new owner %s: %w", name, owner, err)
	}
	var super bool
	if err := admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", current).Scan(&super); err != nil || super {
		return err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	// Table by table: REASSIGN OWNED would also hand over the other
	// databases the old owner owns. A table's sequences follow it.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_get_userbyid(c.relowner) = %[1]s LOOP
			EXECUTE format('ALTER TABLE public.%%I OWNER TO %%I', r.relname, %[2]s);
		END LOOP;
		FOR r IN SELECT pubname FROM pg_publication WHERE pg_get_userbyid(pubowner) = %[1]s LOOP
			EXECUTE format('ALTER PUBLICATION %%I OWNER TO %%I', r.pubname, %[2]s);
		END LOOP;
	END $$`, quoteLiteral(current), quoteLiteral(owner))); err != nil {
		return fmt.Errorf("database %s: objects of %s to %s: %w", name, current, owner, err)
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
