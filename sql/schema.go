// Package schema holds the migrations of the orders and payments databases,
// applies them as each database's owner role with the privileges of its
// runtime role (Migrate, Grant), and opens the runtime role's pool after
// checking the schema (Open). Each database gets the CDC set (outbox,
// inbox, dead letters, heartbeat, publication) and its own set. Every
// migration expands or contracts the schema, and says which on its first
// line, so that the previous release keeps running on it during a rolling
// upgrade (docs/upgrades.md); Open accepts a schema newer than its binary.
package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed cdc/*.sql orders/*.sql payments/*.sql
var files embed.FS

// Database names a migration target.
type Database string

// The two databases.
const (
	Orders   Database = "orders"
	Payments Database = "payments"
)

// ReplicationRole is the role Debezium connects as. The stack creates it
// (with REPLICATION, apart from the services' roles); migrations grant it
// read access to the captured tables, Grant the right to connect.
const ReplicationRole = "debezium"

// AuditRole is the role the scheduled money audit (shop/audit, shop-audit
// -every) connects as, to both databases: Grant lets it read the tables
// of the audit (auditTables) and nothing else. The stack creates it.
const AuditRole = "shop_audit"

// OwnerRole is the role that owns db's database and its tables and runs its
// migrations (Migrate). The service never connects as it.
func (db Database) OwnerRole() string { return string(db) + "_owner" }

// RuntimeRole is the role the service of db connects as: it reads and
// writes rows, as Grant allows, and cannot create, alter or drop anything.
func (db Database) RuntimeRole() string { return string(db) + "_app" }

// OperatorRole is the role the operator's tool (shopctl) connects as to
// handle dead letters: the runtime role's privileges, and besides them the
// right to mark a dead letter handled and to record the action, which the
// runtime role lacks (a service cannot silence its own dead letters).
func (db Database) OperatorRole() string { return string(db) + "_operator" }

// Publication is the publication the connectors read.
const Publication = "shop_outbox"

type migration struct {
	set     string
	version int
	name    string
	sql     string
}

// sets returns the migration sets of db in the order they apply.
func (db Database) sets() ([]string, error) {
	switch db {
	case Orders, Payments:
		return []string{"cdc", string(db)}, nil
	}
	return nil, fmt.Errorf("unknown database %q", db)
}

func load(set string) ([]migration, error) { return readSet(files, set) }

// readSet reads the migration set set from fsys, in the order it applies.
func readSet(fsys fs.FS, set string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, set)
	if err != nil {
		return nil, fmt.Errorf("read migrations %s: %w", set, err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", set, e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(set, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{set: set, version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate brings db up to date as its owner: it connects to url (the
// database's owner role, db.OwnerRole), applies the migrations (Apply) and
// then the runtime role's privileges (Grant). This is the one way the
// databases are migrated: by the stack before it starts the services, by
// the test harness into its templates, and by shop-migrate under Compose or
// in a deployment. The services only check the schema (Open).
func Migrate(ctx context.Context, url string, db Database) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := apply(ctx, conn, db); err != nil {
		return err
	}
	return Grant(ctx, conn, db)
}

// Apply brings db up to date: every migration not yet recorded in
// schema_migrations runs in its own transaction. Concurrent callers are
// serialized by an advisory lock, so several replicas may start at once.
// It grants nothing: Migrate applies and grants.
func Apply(ctx context.Context, pool *pgxpool.Pool, db Database) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", db, err)
	}
	defer conn.Release()
	return apply(ctx, conn.Conn(), db)
}

func apply(ctx context.Context, conn *pgx.Conn, db Database) error {
	sets, err := db.sets()
	if err != nil {
		return err
	}
	// An arbitrary constant: the lock id of schema migrations.
	const lockID = 7_235_114_002
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", db, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockID) //nolint:errcheck // released with the session anyway
	// A migration may take longer than a request's statement (an index on
	// a large table), and a replica starting beside another waits for its
	// migrations on the advisory lock: neither is bounded by the pool's
	// timeouts. RESET gives the session back the values it connected with.
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0; SET lock_timeout = 0"); err != nil {
		return fmt.Errorf("migrate %s: %w", db, err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout; RESET lock_timeout"); err != nil {
			conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the pool drops a closed connection
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   text        NOT NULL,
		version    integer     NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (set_name, version))`); err != nil {
		return fmt.Errorf("migrate %s: %w", db, err)
	}
	for _, set := range sets {
		ms, err := load(set)
		if err != nil {
			return err
		}
		for _, m := range ms {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, `INSERT INTO schema_migrations (set_name, version, name)
					VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, m.set, m.version, m.name)
				if err != nil || tag.RowsAffected() == 0 {
					return err
				}
				_, err = tx.Exec(ctx, m.sql)
				return err
			})
			if err != nil {
				return fmt.Errorf("migrate %s: %s/%s: %w", db, m.set, m.name, err)
			}
		}
	}
	return nil
}

// Check returns an error unless every migration of db is recorded in the
// database's schema_migrations: a service started before its database was
// migrated (Migrate) stops with a message that says so. A database with
// migrations this binary does not know (a newer release migrated it) passes.
func Check(ctx context.Context, pool *pgxpool.Pool, db Database) error {
	sets, err := db.sets()
	if err != nil {
		return err
	}
	rows, err := pool.Query(ctx, "SELECT set_name, version FROM schema_migrations")
	if err != nil {
		if sqlState(err) == "42P01" {
			return fmt.Errorf("check %s schema: the database is not migrated: migrate it as %s first (shop-migrate, or the stack)", db, db.OwnerRole())
		}
		return fmt.Errorf("check %s schema: %w", db, err)
	}
	applied := map[string]bool{}
	for rows.Next() {
		var set string
		var v int
		if err := rows.Scan(&set, &v); err != nil {
			return fmt.Errorf("check %s schema: %w", db, err)
		}
		applied[fmt.Sprintf("%s/%d", set, v)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check %s schema: %w", db, err)
	}
	var missing []string
	for _, set := range sets {
		ms, err := load(set)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !applied[fmt.Sprintf("%s/%d", m.set, m.version)] {
				missing = append(missing, m.set+"/"+m.name)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("check %s schema: migrations not applied: %s: migrate the database as %s first (shop-migrate, or the stack)",
			db, strings.Join(missing, ", "), db.OwnerRole())
	}
	return nil
}

// sqlState is the SQLSTATE of err, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Version identifies the migrations of db and the grants of its runtime
// role: a hash of every file applied to it and of Grant's statements. Test
// harnesses name template databases after it.
func Version(db Database) (string, error) {
	sets, err := db.sets()
	if err != nil {
		return "", err
	}
	h := fnv.New64a()
	for _, set := range sets {
		ms, err := load(set)
		if err != nil {
			return "", err
		}
		for _, m := range ms {
			fmt.Fprintf(h, "%s/%s\n%s\n", m.set, m.name, m.sql)
		}
	}
	fmt.Fprintf(h, "grants\n%s\n", grantsVersion(db))
	return fmt.Sprintf("%016x", h.Sum64()), nil
}

// DefaultMaxConns is the pool size Open uses unless the URL sets
// pool_max_conns: pgx's own default (max(4, CPUs)) queues API calls behind
// the consumer's transactions under load.
const DefaultMaxConns = 16

// The session timeouts of every connection Open makes, unless the URL sets
// the parameter itself: as a query parameter such as ?statement_timeout=30s
// (sent to Postgres as a run-time parameter) or in options (-c
// statement_timeout=30s, also from PGOPTIONS).
const (
	// StatementTimeout bounds one statement, its lock waits included. The
	// services' statements touch a few rows by key and take milliseconds;
	// the purges delete in batches that take far less. A statement running
	// longer is stuck (a lock held by a hung session, a stopped disk):
	// failing it frees the connection, and the consumer retries, while an
	// API call has given up by then anyway (the gateway's deadline is 3 s).
	StatementTimeout = 5 * time.Second
	// IdleInTransactionTimeout ends a session that keeps a transaction open
	// without running a statement, as a process stopped (SIGSTOP) or cut off
	// in the middle of one does, so that the rows it locked (an idempotency
	// key, an account) are freed. No transaction of the services waits on
	// anything but the database between its statements.
	IdleInTransactionTimeout = 10 * time.Second
)

// sessionDefaults are the run-time parameters Open sets unless the URL does.
// lock_timeout is not among them: StatementTimeout already bounds every
// lock wait, and the one wait with a meaning of its own, the idempotency
// claim, sets its own (idempotency.Claim).
var sessionDefaults = map[string]time.Duration{
	"statement_timeout":                   StatementTimeout,
	"idle_in_transaction_session_timeout": IdleInTransactionTimeout,
}

// Open connects a pool to db's database at url, the runtime role's
// (statements prepared and cached per connection, DefaultMaxConns
// connections and the session timeouts StatementTimeout and
// IdleInTransactionTimeout unless the URL says otherwise, uuid.UUID encoded
// directly: RegisterUUID), and checks that
// the schema is up to date (Check). It never migrates: Migrate does, as the
// owner. The caller closes the pool.
func Open(ctx context.Context, url string, db Database) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%s database url: %w", db, err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		RegisterUUID(conn.TypeMap())
		return nil
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	params := cfg.ConnConfig.RuntimeParams
	for name, d := range sessionDefaults {
		// Postgres applies the options parameter (-c name=value, also from
		// PGOPTIONS) before the others: a default here would override it.
		if _, set := params[name]; !set && !strings.Contains(params["options"], name) {
			params[name] = fmt.Sprintf("%dms", d.Milliseconds())
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", db, err)
	}
	if err := Check(ctx, pool, db); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
