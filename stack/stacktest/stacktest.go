// Package stacktest hands tests the real infrastructure: Postgres databases
// cloned from migrated templates, Kafka topics and Debezium connectors on
// Kafka Connect.
//
// Under `make test` one stack, started by `stack test-env`, is shared by
// every test package: its addresses arrive in STACK_TEST_* variables. A
// package run alone (`go test ./x`) starts its own stack on first use (local
// processes, or dockertest containers where a Docker engine answers and
// STACK_PROVIDER=docker) and stops it when the package's tests end, provided
// its TestMain calls Main.
package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/connect"
	schema "shop/sql"
	"shop/stack/jars"
	"shop/stack/local"
)

// Attachment is how a test process finds a stack started by another process.
type Attachment struct {
	AdminURL            string // superuser, database "postgres"
	ReplicationPassword string
	PostgresPort        int
	Brokers             []string
	ConnectURL          string
	// ConnectDBHost and ConnectDBPort are Postgres as Kafka Connect reaches
	// it (the same as the tests' unless Connect runs in a container).
	ConnectDBHost string
	ConnectDBPort int
	// ConnectUsername and ConnectPassword are what Connect's REST API asks
	// for (Credentials).
	ConnectUsername, ConnectPassword string
	// ConnectSecretsDir is the directory, as Kafka Connect sees it, its
	// directory config provider reads the connectors' secrets from: the
	// replication password (local.ConnectPasswordSecret) and ConnectSecret's.
	ConnectSecretsDir string
	// KafkaSecretsDir holds the Kafka principals' passwords
	// (local.KafkaSecrets); Brokers is a SASL listener then. Empty: Kafka
	// has no authentication (the docker provider).
	KafkaSecretsDir string
	// PlaintextBrokers is Kafka's PLAINTEXT listener, whose clients are
	// ANONYMOUS and may do nothing a test does not grant them.
	PlaintextBrokers []string
}

// ConnectCredentials are the credentials of Connect's REST API.
func (a Attachment) ConnectCredentials() connect.Credentials {
	return connect.Credentials{Username: a.ConnectUsername, Password: a.ConnectPassword}
}

// Environ renders a as STACK_TEST_* variables.
func (a Attachment) Environ() []string {
	return []string{
		"STACK_TEST_ADMIN_URL=" + a.AdminURL,
		"STACK_TEST_REPLICATION_PASSWORD=" + a.ReplicationPassword,
		"STACK_TEST_POSTGRES_PORT=" + strconv.Itoa(a.PostgresPort),
		"STACK_TEST_BROKERS=" + strings.Join(a.Brokers, ","),
		"STACK_TEST_CONNECT_URL=" + a.ConnectURL,
		"STACK_TEST_CONNECT_DB_HOST=" + a.ConnectDBHost,
		"STACK_TEST_CONNECT_DB_PORT=" + strconv.Itoa(a.ConnectDBPort),
		"STACK_TEST_CONNECT_USERNAME=" + a.ConnectUsername,
		"STACK_TEST_CONNECT_PASSWORD=" + a.ConnectPassword,
		"STACK_TEST_CONNECT_SECRETS_DIR=" + a.ConnectSecretsDir,
		"STACK_TEST_KAFKA_SECRETS_DIR=" + a.KafkaSecretsDir,
		"STACK_TEST_PLAINTEXT_BROKERS=" + strings.Join(a.PlaintextBrokers, ","),
	}
}

func attachmentFromEnv() (Attachment, bool) {
	a := Attachment{
		AdminURL:            os.Getenv("STACK_TEST_ADMIN_URL"),
		ReplicationPassword: os.Getenv("STACK_TEST_REPLICATION_PASSWORD"),
		ConnectURL:          os.Getenv("STACK_TEST_CONNECT_URL"),
		ConnectUsername:     os.Getenv("STACK_TEST_CONNECT_USERNAME"),
		ConnectPassword:     os.Getenv("STACK_TEST_CONNECT_PASSWORD"),
		ConnectSecretsDir:   os.Getenv("STACK_TEST_CONNECT_SECRETS_DIR"),
	}
	a.PostgresPort, _ = strconv.Atoi(os.Getenv("STACK_TEST_POSTGRES_PORT"))
	a.ConnectDBHost = os.Getenv("STACK_TEST_CONNECT_DB_HOST")
	a.ConnectDBPort, _ = strconv.Atoi(os.Getenv("STACK_TEST_CONNECT_DB_PORT"))
	if b := os.Getenv("STACK_TEST_BROKERS"); b != "" {
		a.Brokers = strings.Split(b, ",")
	}
	a.KafkaSecretsDir = os.Getenv("STACK_TEST_KAFKA_SECRETS_DIR")
	if b := os.Getenv("STACK_TEST_PLAINTEXT_BROKERS"); b != "" {
		a.PlaintextBrokers = strings.Split(b, ",")
	}
	return a, a.AdminURL != "" && a.ConnectURL != "" && len(a.Brokers) > 0
}

// Env is the shared infrastructure. Its methods are safe for concurrent use.
type Env struct {
	Attachment
	// Jars is where the Kafka and Debezium jars are (for extra workers).
	Jars jars.Layout

	mu        sync.Mutex
	templates map[schema.Database]string
	// kafka holds the principals' passwords, empty without
	// KafkaSecretsDir.
	kafka local.KafkaSecrets
}

var (
	once     sync.Once
	shared   *Env
	ownStack *local.System
	ownDir   string
	// ownDocker removes the containers and network this process started.
	ownDocker []func()
	startErr  error
)

// Main runs the package's tests and then stops a stack this process started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if ownStack != nil {
		ownStack.Stop()
		os.RemoveAll(ownDir)
	}
	for _, f := range ownDocker {
		f()
	}
	os.Exit(code)
}

// Logger returns a logger for tests: quiet unless STACK_TEST_VERBOSE is set.
func Logger() *slog.Logger {
	if os.Getenv("STACK_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Get returns the shared infrastructure, starting it on first use when no
// stack is attached. It fails the test when the infrastructure is not there.
func Get(t testing.TB) *Env {
	t.Helper()
	once.Do(func() { shared, startErr = start() })
	if startErr != nil {
		t.Fatalf("test infrastructure: %v", startErr)
	}
	return shared
}

func start() (*Env, error) {
	layout, err := jars.Fetch(context.Background(), cacheDir(), Logger())
	if err != nil {
		return nil, err
	}
	if a, ok := attachmentFromEnv(); ok {
		// The stack may have been started before a role was added: the
		// roles are ensured on attaching (with their development passwords).
		if err := local.EnsureRoles(context.Background(), a.AdminURL, local.Config{ReplicationPassword: a.ReplicationPassword}.Roles()); err != nil {
			return nil, err
		}
		return newEnv(a, layout)
	}
	if os.Getenv("STACK_PROVIDER") == "docker" || (os.Getenv("STACK_PROVIDER") == "" && dockerAnswers()) {
		a, err := startDocker()
		if err != nil {
			return nil, err
		}
		return newEnv(a, layout)
	}
	dir, err := local.TempDataDir("shop-test-stack-")
	if err != nil {
		return nil, err
	}
	// Free ports, no fsync, no JMX exporter agents.
	cfg := local.Config{DataDir: dir, CacheDir: cacheDir(), SuperuserPassword: "postgres", ReplicationPassword: "debezium", NoMetricsAgents: true,
		KafkaPlaintext: true}
	s, err := local.StartInfra(context.Background(), cfg, Logger())
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ownStack, ownDir = s, dir
	return newEnv(Attach(s), s.Jars)
}

// newEnv is the Env of a, reading its Kafka passwords.
func newEnv(a Attachment, layout jars.Layout) (*Env, error) {
	e := &Env{Attachment: a, Jars: layout, templates: map[schema.Database]string{}}
	if a.KafkaSecretsDir != "" {
		var err error
		if e.kafka, err = local.EnsureKafkaSecrets(a.KafkaSecretsDir, testPrincipals...); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// testPrincipals are the Kafka principals of a test stack.
var testPrincipals = []string{local.KafkaAdmin, local.KafkaOrders, local.KafkaPayments, local.KafkaConnect, local.KafkaShopctl, local.KafkaTester}

// Attach is how a test process finds the infrastructure s, which runs on
// this machine.
func Attach(s *local.System) Attachment {
	cfg := s.Config()
	return Attachment{
		AdminURL: s.AdminURL("postgres"), ReplicationPassword: cfg.ReplicationPassword,
		PostgresPort: cfg.PostgresPort, Brokers: s.Brokers(), ConnectURL: s.ConnectURL(),
		ConnectDBHost: "127.0.0.1", ConnectDBPort: cfg.PostgresPort,
		ConnectUsername: s.ConnectCredentials().Username, ConnectPassword: s.ConnectCredentials().Password,
		ConnectSecretsDir: s.ConnectSecretsDir(),
		KafkaSecretsDir:   s.KafkaSecrets.Dir, PlaintextBrokers: s.PlaintextBrokers(),
	}
}

func cacheDir() string {
	if d := os.Getenv("STACK_CACHE_DIR"); d != "" {
		return d
	}
	return jars.DefaultCacheDir()
}

// Unique returns prefix followed by random hex, usable as a database, slot,
// topic or group name.
func Unique(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Database is a fresh database for one test, with the roles and privileges
// of a real one: its owner role owns it, the runtime role has Grant's
// privileges, and only they and the replication role may connect.
type Database struct {
	Name string
	// URL and Pool connect as the runtime role (Kind.RuntimeRole), as the
	// service does: they read and write rows, and cannot create, alter or
	// drop anything.
	URL  string
	Pool *pgxpool.Pool
	// OwnerURL and Owner connect as the owner role (Kind.OwnerRole), which
	// owns the tables: for what a test sets up beyond rows (its own tables
	// and triggers, which the runtime role may then use, or the
	// publication). Owner connects only when used.
	OwnerURL string
	Owner    *pgxpool.Pool
	// OperatorURL and Operator connect as the operator role
	// (Kind.OperatorRole), as shopctl does to handle dead letters.
	// Operator connects only when used.
	OperatorURL string
	Operator    *pgxpool.Pool
	// Kind says which migrations it has.
	Kind schema.Database
}

// roleURL is the URL of role (with its development password, local.Config's
// default) for database db on the cluster of adminURL.
func roleURL(adminURL, role, db string) string {
	u, err := url.Parse(adminURL)
	if err != nil {
		return ""
	}
	u.User = url.UserPassword(role, local.Config{}.Password(role))
	u.Path = "/" + db
	return u.String()
}

// template returns the migrated template database of kind, creating it once.
// Processes sharing one stack serialize on an advisory lock.
func (e *Env) template(ctx context.Context, kind schema.Database) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if name, ok := e.templates[kind]; ok {
		return name, nil
	}
	v, err := schema.Version(kind)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("tmpl_%s_%s", kind, v[:12])
	admin, err := pgx.Connect(ctx, e.AdminURL)
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(4711)"); err != nil {
		return "", err
	}
	defer admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(4711)") //nolint:errcheck // released with the session
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		build := name + "_build"
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)")
		if err := local.EnsureDatabase(ctx, e.AdminURL, build, kind, ""); err != nil {
			return "", err
		}
		if err := schema.Migrate(ctx, roleURL(e.AdminURL, kind.OwnerRole(), build), kind); err != nil {
			return "", err
		}
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", build, name)); err != nil {
			return "", err
		}
	}
	e.templates[kind] = name
	return name, nil
}

// NewDatabase returns a database of kind cloned from the migrated template,
// dropped (with its replication slots) when the test ends.
func (e *Env) NewDatabase(t testing.TB, kind schema.Database) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmpl, err := e.template(ctx, kind)
	if err != nil {
		t.Fatalf("template database %s: %v", kind, err)
	}
	name := Unique("t_" + string(kind) + "_")
	if err := local.EnsureDatabase(ctx, e.AdminURL, name, kind, tmpl); err != nil {
		t.Fatalf("%v", err)
	}
	db := &Database{Name: name, URL: roleURL(e.AdminURL, kind.RuntimeRole(), name),
		OwnerURL: roleURL(e.AdminURL, kind.OwnerRole(), name), OperatorURL: roleURL(e.AdminURL, kind.OperatorRole(), name), Kind: kind}
	t.Cleanup(func() {
		if db.Pool != nil {
			db.Pool.Close()
		}
		if db.Owner != nil {
			db.Owner.Close()
		}
		if db.Operator != nil {
			db.Operator.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.dropDatabase(ctx, name); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	// A copy does not inherit the template's CONNECT privileges.
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", name, kind.OwnerRole(), err)
	}
	err = schema.Grant(ctx, owner, kind)
	owner.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		pool **pgxpool.Pool
		url  string
	}{{&db.Pool, db.URL}, {&db.Owner, db.OwnerURL}, {&db.Operator, db.OperatorURL}} {
		cfg, err := pgxpool.ParseConfig(p.url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 20
		if *p.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			t.Fatalf("connect %s: %v", name, err)
		}
	}
	return db
}

func (e *Env) dropDatabase(ctx context.Context, name string) error {
	admin, err := pgx.Connect(ctx, e.AdminURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	// A slot keeps a database alive; the connector is gone by now, but its
	// walsender may take a moment to exit.
	for i := 0; ; i++ {
		_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, name)
		if err == nil {
			_, err = admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, name)
		}
		if err == nil || i == 50 {
			if err != nil {
				return err
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// NewTopic creates a topic named base plus a random suffix, with 3 partitions.
func (e *Env) NewTopic(t testing.TB, base string) string {
	t.Helper()
	return e.NewTopicWithPartitions(t, base, 3)
}

// NewTopicWithPartitions creates a topic named base plus a random suffix,
// with the given number of partitions.
func (e *Env) NewTopicWithPartitions(t testing.TB, base string, partitions int32) string {
	t.Helper()
	name := e.NewBareTopic(t, base, partitions)
	e.Grant(t, local.TestTopicGrants(name)...)
	return name
}

// NewBareTopic creates a topic named base plus a random suffix, with the
// given number of partitions and no ACL: nobody but the administrator may
// use it until the test grants something (Grant).
func (e *Env) NewBareTopic(t testing.TB, base string, partitions int32) string {
	t.Helper()
	name := Unique(base + ".")
	if err := local.CreateTopics(e.Brokers, e.adminConfig(), partitions, name); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

// ConnectorVars returns the placeholder values that point the bundled
// connector config of kind at db and topic, on this stack. The password is
// the replication role's, read by Connect from its secrets directory; a
// test that wants another sets CONNECT_DB_PASSWORD_SECRET to a name from
// ConnectSecret.
func (e *Env) ConnectorVars(db *Database, topic string) map[string]string {
	p := strings.ToUpper(string(db.Kind))
	return map[string]string{
		"CONNECT_DB_HOST":     e.ConnectDBHost,
		"CONNECT_DB_PORT":     strconv.Itoa(e.ConnectDBPort),
		"CONNECT_DB_USER":     local.ReplicationRole,
		"CONNECT_SECRETS_DIR": e.ConnectSecretsDir,
		p + "_CONNECTOR":      db.Name,
		p + "_DB_NAME":        db.Name,
		p + "_SLOT":           db.Name,
		p + "_TOPIC":          topic,
		"TOPIC_PARTITIONS":    "3",
	}
}

// Connector renders the bundled config of db's kind with vars.
func Connector(db *Database, vars map[string]string) (connect.Connector, error) {
	return connect.Bundled(string(db.Kind)+"-outbox.json", func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
}

// ConnectClient returns a client of the shared worker's REST API, with its
// credentials.
func (e *Env) ConnectClient(t testing.TB) *connect.Client {
	t.Helper()
	client, err := connect.NewClient(e.ConnectURL, e.ConnectCredentials())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// ConnectSecret writes value into the shared worker's secrets directory
// under a fresh name, removed when the test ends, and returns the name: a
// connector config reads it as ${dir:ConnectSecretsDir:name} (for the
// password, CONNECT_DB_PASSWORD_SECRET=name in ConnectorVars).
func (e *Env) ConnectSecret(t testing.TB, value string) string {
	t.Helper()
	name := Unique("secret_")
	path := filepath.Join(e.ConnectSecretsDir, name)
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		t.Fatalf("connect secret: %v", err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// StartConnector runs the Debezium outbox connector of db's kind from
// connect/, routing db's outbox to topic, on the shared worker (or on
// worker when given). It returns the connector's name once it and its task
// are RUNNING, and deletes it when the test ends.
func (e *Env) StartConnector(t testing.TB, db *Database, topic string, worker ...*local.ConnectWorker) string {
	t.Helper()
	vars := e.ConnectorVars(db, topic)
	client := e.ConnectClient(t)
	if len(worker) > 0 {
		// That worker reads the password from its own secrets directory.
		w := worker[0]
		vars["CONNECT_SECRETS_DIR"] = w.SecretsDir()
		if err := os.WriteFile(filepath.Join(w.SecretsDir(), local.ConnectPasswordSecret), []byte(e.ReplicationPassword), 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		if client, err = connect.NewClient(w.URL(), w.Credentials()); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Connector(db, vars)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := client.Apply(ctx, c); err != nil {
		t.Fatalf("apply connector: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Delete(ctx, c.Name); err != nil && !connect.IsNotFound(err) {
			t.Logf("delete connector %s: %v", c.Name, err)
		}
	})
	if err := client.Wait(ctx, c.Name); err != nil {
		t.Fatalf("connector %s: %v", c.Name, err)
	}
	return c.Name
}

// StartConnectWorker starts a Kafka Connect worker of its own (own group,
// internal topics, REST credentials and secrets directory) for a test that
// kills or restarts it; it is stopped when the test ends.
func (e *Env) StartConnectWorker(t testing.TB) *local.ConnectWorker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w, err := local.StartConnect(ctx, e.ConnectWorkerConfig(t), Logger())
	if err != nil {
		t.Fatalf("connect worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// ConnectWorkerConfig is the configuration of a worker of the test's own:
// a free port, a directory and a group of its own, granted what a worker
// needs in Kafka, as the principal connect.
func (e *Env) ConnectWorkerConfig(t testing.TB) local.ConnectConfig {
	t.Helper()
	port, err := local.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	group := Unique("connect-")
	e.Grant(t, local.ConnectWorkerGrants(group)...)
	return local.ConnectConfig{Dir: t.TempDir(), Port: port, Brokers: e.Brokers, Jars: e.Jars, GroupID: group, HeapMB: 512, KafkaSecrets: e.kafka}
}
