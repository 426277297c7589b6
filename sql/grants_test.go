package schema_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jackc/pgx/v5/pgxpool"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// asRole returns db's URL with role (and its development password) as the
// user: the password of every service role in the tests is its name.
func asRole(t *testing.T, dbURL, role string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, role)
	return u.String()
}

// sqlState is the SQLSTATE of err, or "" when it has none.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// bothDatabases returns a fresh orders and a fresh payments database.
func bothDatabases(t *testing.T) map[schema.Database]*stacktest.Database {
	t.Helper()
	env := stacktest.Get(t)
	return map[schema.Database]*stacktest.Database{
		schema.Orders:   env.NewDatabase(t, schema.Orders),
		schema.Payments: env.NewDatabase(t, schema.Payments),
	}
}

// Only a database's own roles (and Debezium) may connect to it: the roles
// of the other service are refused at login.
func TestRolesConnectOnlyToTheirDatabase(t *testing.T) {
	dbs := bothDatabases(t)
	ctx := context.Background()
	for _, role := range []string{schema.Orders.OwnerRole(), schema.Orders.RuntimeRole(),
		schema.Payments.OwnerRole(), schema.Payments.RuntimeRole()} {
		for kind, db := range dbs {
			own := strings.HasPrefix(role, string(kind)+"_")
			t.Run(role+"To"+string(kind), func(t *testing.T) {
				conn, err := pgx.Connect(ctx, asRole(t, db.URL, role))
				if err == nil {
					conn.Close(ctx)
				}
				switch {
				case own && err != nil:
					t.Errorf("connect as %s to its own %s database: %v", role, kind, err)
				case !own && sqlState(err) != "42501":
					t.Errorf("connect as %s to the %s database: err = %v, want permission denied (42501)", role, kind, err)
				}
			})
		}
	}
}

// The runtime role reads and writes rows and nothing else: no DDL, no
// change or removal of a ledger entry, no TRUNCATE; the owner can.
func TestRuntimeRolePrivileges(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at)
		VALUES ('alice', 100, 'RUB', now(), now())`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stmt    string
		allowed bool
	}{
		{"InsertLedger", `INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ('alice', 'CREDIT', 100, now())`, true},
		{"SelectLedger", `SELECT count(*) FROM ledger`, true},
		{"UpdateAccount", `UPDATE accounts SET balance = 100 WHERE user_id = 'alice'`, true},
		{"PurgeInbox", `DELETE FROM inbox WHERE processed_at < now() - interval '7 days'`, true},
		{"PurgeOutbox", `DELETE FROM outbox WHERE false`, true},
		{"PurgeIdempotencyKeys", `DELETE FROM idempotency_keys WHERE false`, true},
		{"UpdateLedger", `UPDATE ledger SET amount = 1`, false},
		{"DeleteLedger", `DELETE FROM ledger`, false},
		{"TruncateLedger", `TRUNCATE ledger`, false},
		{"DeleteAccount", `DELETE FROM accounts`, false},
		{"UpdatePaymentOutcome", `UPDATE payment_outcomes SET status = 'FAILED'`, false},
		{"DeleteDeadLetterAction", `DELETE FROM dead_letter_actions`, false},
		{"WriteSchemaMigrations", `DELETE FROM schema_migrations`, false},
		{"DropTable", `DROP TABLE ledger`, false},
		{"AlterTable", `ALTER TABLE accounts DROP CONSTRAINT accounts_balance_check`, false},
		{"AlterTableAddColumn", `ALTER TABLE ledger ADD COLUMN note text`, false},
		{"CreateTable", `CREATE TABLE mine (n int)`, false},
		{"DropPublication", `DROP PUBLICATION ` + schema.Publication, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // nothing is kept
			_, err = tx.Exec(ctx, tt.stmt)
			switch {
			case tt.allowed && err != nil:
				t.Errorf("%s as the runtime role: %v", tt.stmt, err)
			case !tt.allowed && err == nil:
				t.Errorf("%s as the runtime role succeeded, want it refused", tt.stmt)
			case !tt.allowed && sqlState(err) != "42501":
				t.Errorf("%s as the runtime role: err = %v, want permission denied (42501)", tt.stmt, err)
			}
		})
	}
	// The owner can, so the refusals above are the runtime role's.
	if _, err := db.Owner.Exec(ctx, `UPDATE ledger SET amount = amount`); err != nil {
		t.Errorf("UPDATE ledger as the owner: %v", err)
	}
}

// A table of a later migration (here one the owner creates now) is usable
// by the runtime role without a grant of its own, and not alterable by it.
func TestRuntimeRoleOnLaterTables(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	ctx := context.Background()
	if _, err := db.Owner.Exec(ctx, `CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);
		CREATE TABLE later_serial (id bigserial PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO later (n) VALUES (1)`, `UPDATE later SET n = 2`, `SELECT n FROM later`, `DELETE FROM later`,
		`INSERT INTO later_serial DEFAULT VALUES`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Errorf("%s as the runtime role: %v", q, err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `ALTER TABLE later ADD COLUMN m int`); sqlState(err) != "42501" {
		t.Errorf("ALTER TABLE later as the runtime role: err = %v, want permission denied (42501)", err)
	}
}

// A service started on a database that was never migrated, or that lacks a
// migration, stops with a message saying so; Migrate then fixes it.
func TestOpenChecksTheSchema(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx := context.Background()
	if _, err := db.Owner.Exec(ctx, `DELETE FROM schema_migrations WHERE set_name = 'orders' AND version = 1`); err != nil {
		t.Fatal(err)
	}
	_, err := schema.Open(ctx, db.URL, schema.Orders)
	if err == nil || !strings.Contains(err.Error(), "orders/0001_init.sql") {
		t.Fatalf("Open() of a database without orders/0001: err = %v, want it named", err)
	}
	if _, err := db.Owner.Exec(ctx, `DROP TABLE schema_migrations`); err != nil {
		t.Fatal(err)
	}
	_, err = schema.Open(ctx, db.URL, schema.Orders)
	if err == nil || !strings.Contains(err.Error(), "not migrated") {
		t.Fatalf("Open() of a database never migrated: err = %v, want not migrated", err)
	}
	// The runtime role cannot migrate.
	if err := schema.Migrate(ctx, db.URL, schema.Orders); sqlState(err) != "42501" {
		t.Errorf("Migrate() as the runtime role: err = %v, want permission denied (42501)", err)
	}
}

// Migrate is idempotent: a second run over a migrated database (a restart
// of the stack) applies nothing and grants the same.
func TestMigrateTwice(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	ctx := context.Background()
	for range 2 {
		if err := schema.Migrate(ctx, db.OwnerURL, schema.Payments); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := schema.Open(ctx, db.URL, schema.Payments)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
}

// The audit role connects to both databases and reads the tables of the
// audit (accounts and ledger, orders) and nothing else: it writes nothing
// and cannot read what the pipeline carries (outbox, inbox, dead letters,
// idempotency keys).
func TestAuditRolePrivileges(t *testing.T) {
	dbs := bothDatabases(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		db      schema.Database
		stmt    string
		allowed bool
	}{
		{"SelectAccounts", schema.Payments, `SELECT count(*) FROM accounts`, true},
		{"SelectLedger", schema.Payments, `SELECT count(*) FROM ledger`, true},
		{"SelectOrders", schema.Orders, `SELECT count(*) FROM orders`, true},
		{"InsertLedger", schema.Payments, `INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ('alice', 'CREDIT', 100, now())`, false},
		{"UpdateAccounts", schema.Payments, `UPDATE accounts SET balance = 0`, false},
		{"UpdateOrders", schema.Orders, `UPDATE orders SET status = 'PAID'`, false},
		{"SelectPaymentsOutbox", schema.Payments, `SELECT count(*) FROM outbox`, false},
		{"SelectPaymentsInbox", schema.Payments, `SELECT count(*) FROM inbox`, false},
		{"SelectDeadLetters", schema.Orders, `SELECT count(*) FROM dead_letters`, false},
		{"SelectIdempotencyKeys", schema.Orders, `SELECT count(*) FROM idempotency_keys`, false},
		{"SelectParked", schema.Orders, `SELECT count(*) FROM parked_payment_results`, false},
		{"CreateTable", schema.Orders, `CREATE TABLE mine (n int)`, false},
	}
	conns := map[schema.Database]*pgx.Conn{}
	for kind, db := range dbs {
		conn, err := pgx.Connect(ctx, asRole(t, db.URL, schema.AuditRole))
		if err != nil {
			t.Fatalf("connect as %s to the %s database: %v", schema.AuditRole, kind, err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		conns[kind] = conn
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := conns[tt.db].Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // nothing is kept
			_, err = tx.Exec(ctx, tt.stmt)
			switch {
			case tt.allowed && err != nil:
				t.Errorf("%s as %s: %v", tt.stmt, schema.AuditRole, err)
			case !tt.allowed && err == nil:
				t.Errorf("%s as %s succeeded, want it refused", tt.stmt, schema.AuditRole)
			case !tt.allowed && sqlState(err) != "42501":
				t.Errorf("%s as %s: err = %v, want permission denied (42501)", tt.stmt, schema.AuditRole, err)
			}
		})
	}
}

// A cluster without the audit role (compose's Postgres volume from before
// the role existed) still migrates: the audit's grants are skipped, and
// only the scheduled audit, which cannot log in, stays down.
func TestGrantWithoutTheAuditRole(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := schema.GrantWithAuditRole(ctx, conn, schema.Payments, "no_such_audit_role"); err != nil {
		t.Errorf("Grant on a cluster without the audit role: %v, want nil", err)
	}
}

// The orders runtime role moves an order (status, cancel_reason,
// updated_at) and changes nothing else of it: not the amount, the user or
// the description of an order the payment is decided on.
func TestOrdersRuntimeRoleUpdatesOnlyItsColumns(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
		VALUES ('0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b', 'alice', 100, 'RUB', 'd', 'PENDING', now(), now())`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stmt    string
		allowed bool
	}{
		{"MoveToPaid", `UPDATE orders SET status = 'PAID', updated_at = now() WHERE status = 'PENDING'`, true},
		{"MoveToCancelled", `UPDATE orders SET status = 'CANCELLED', cancel_reason = 'INSUFFICIENT_FUNDS', updated_at = now() WHERE user_id = 'alice'`, true},
		{"LockForUpdate", `SELECT id FROM orders WHERE user_id = 'alice' FOR UPDATE`, true},
		{"UpdateAmount", `UPDATE orders SET amount = 1`, false},
		{"UpdateUser", `UPDATE orders SET user_id = 'mallory'`, false},
		{"UpdateDescription", `UPDATE orders SET description = 'x'`, false},
		{"UpdateCurrency", `UPDATE orders SET currency = 'USD'`, false},
		{"UpdateCreatedAt", `UPDATE orders SET created_at = now()`, false},
		{"UpdateID", `UPDATE orders SET id = gen_random_uuid()`, false},
		{"DeleteOrder", `DELETE FROM orders`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // nothing is kept
			_, err = tx.Exec(ctx, tt.stmt)
			switch {
			case tt.allowed && err != nil:
				t.Errorf("%s as the runtime role: %v", tt.stmt, err)
			case !tt.allowed && sqlState(err) != "42501":
				t.Errorf("%s as the runtime role: err = %v, want permission denied (42501)", tt.stmt, err)
			}
		})
	}
}

// Marking a dead letter handled silences its alert: the runtime role
// records dead letters but cannot mark one handled nor write the audit
// trail; the operator role (shopctl) can, and does what the runtime role
// does besides.
func TestOnlyTheOperatorHandlesDeadLetters(t *testing.T) {
	for _, kind := range []schema.Database{schema.Orders, schema.Payments} {
		t.Run(string(kind), func(t *testing.T) {
			db := stacktest.Get(t).NewDatabase(t, kind)
			ctx := context.Background()
			var id int64
			if err := db.Pool.QueryRow(ctx, `INSERT INTO dead_letters (topic, partition, "offset", error)
				VALUES ('t', 0, 1, 'poison') RETURNING id`).Scan(&id); err != nil {
				t.Fatalf("record a dead letter as the runtime role: %v", err)
			}
			stmts := []struct {
				name, stmt string
				runtime    bool
			}{
				{"MarkHandled", `UPDATE dead_letters SET handled_at = now(), resolution = 'discarded', handled_by = 'x', reason = 'r' WHERE id = $1`, false},
				{"ChangeError", `UPDATE dead_letters SET error = 'hidden' WHERE id = $1`, false},
				{"RecordAction", `INSERT INTO dead_letter_actions (dead_letter_id, action, actor) VALUES ($1, 'discarded', 'x')`, false},
				{"DeleteDeadLetter", `DELETE FROM dead_letters WHERE id = $1`, false},
				{"ReadDeadLetter", `SELECT count(*) FROM dead_letters WHERE id = $1`, true},
				{"RecordInbox", `INSERT INTO inbox (event_id, topic, partition, "offset") VALUES (gen_random_uuid(), 't', 0, $1)`, true},
			}
			for _, role := range []struct {
				name string
				pool *pgxpool.Pool
			}{{"Runtime", db.Pool}, {"Operator", db.Operator}} {
				for _, tt := range stmts {
					t.Run(role.name+tt.name, func(t *testing.T) {
						allowed := tt.runtime || role.name == "Operator" && tt.name != "DeleteDeadLetter"
						tx, err := role.pool.Begin(ctx)
						if err != nil {
							t.Fatal(err)
						}
						defer tx.Rollback(ctx) //nolint:errcheck // nothing is kept
						_, err = tx.Exec(ctx, tt.stmt, id)
						switch {
						case allowed && err != nil:
							t.Errorf("%s as the %s role: %v", tt.stmt, role.name, err)
						case !allowed && sqlState(err) != "42501":
							t.Errorf("%s as the %s role: err = %v, want permission denied (42501)", tt.stmt, role.name, err)
						}
					})
				}
			}
		})
	}
}
