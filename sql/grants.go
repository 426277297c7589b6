package schema

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// rowPrivileges is what the runtime role may do on a table that
// narrowPrivileges does not list, a table of a later migration included:
// read and write rows. Never TRUNCATE, REFERENCES or TRIGGER, and never
// anything an owner can (ALTER, DROP, GRANT).
const rowPrivileges = "SELECT, INSERT, UPDATE, DELETE"

// narrowPrivileges are the tables on which the runtime role gets less than
// rowPrivileges, by database: what the code does there and nothing more.
// An empty string is no privilege at all.
var narrowPrivileges = map[Database]map[string]string{
	Orders: {
		// Orders are created and moved from PENDING, never deleted; a move
		// changes only these columns (orders/postgres/payment.go): never
		// the amount, the user or the description.
		"orders": "SELECT, INSERT, UPDATE (status, cancel_reason, updated_at)",
		// The page token key (orders/pagetoken.go): read at start; only the
		// owner rotates it.
		"page_token_key": "SELECT",
	},
	Payments: {
		// The ledger is append-only: balance = sum(credits) - sum(debits)
		// holds only if no entry is ever changed or removed.
		"ledger": "SELECT, INSERT",
		// An order is decided once.
		"payment_outcomes": "SELECT, INSERT",
		// Accounts are created and their balance moved, never deleted.
		"accounts": "SELECT, INSERT, UPDATE",
	},
	// The CDC set, in both databases.
	"cdc": {
		// Inserted in the transaction of the change; the purge deletes.
		"outbox": "SELECT, INSERT, DELETE",
		// Inserted in the transaction of the effect; the purge deletes.
		"inbox": "SELECT, INSERT, DELETE",
		// The audit trail of operator actions: written by the operator
		// role only (operatorPrivileges), never changed.
		"dead_letter_actions": "SELECT",
		// Dead letters are recorded by the consumer, never purged; only
		// the operator role marks them handled (operatorPrivileges).
		"dead_letters": "SELECT, INSERT",
		// Written by Debezium only.
		"heartbeat": "",
		// Check reads it; only Migrate writes it.
		"schema_migrations": "SELECT",
	},
}

// operatorPrivileges are the tables on which the operator role gets more
// than the runtime role: handling a dead letter (shopctl dead-letters
// replay and discard) marks it handled and records the action. Marking a
// letter handled silences its alert, so no service may.
var operatorPrivileges = map[string]string{
	"dead_letters":        "SELECT, INSERT, UPDATE",
	"dead_letter_actions": "SELECT, INSERT",
}

// grantStatements returns the statements of Grant for db, in order: the
// runtime role's, then, with operator, the operator role's.
func grantStatements(db Database, dbname string, operator bool) []string {
	name := pgx.Identifier{dbname}.Sanitize()
	stmts := []string{
		// Only the database's own roles and Debezium may connect: the roles
		// of the other service cannot even log in here.
		"REVOKE ALL ON DATABASE " + name + " FROM PUBLIC",
		// Nobody but the owner creates objects (Postgres 15's default,
		// stated for clusters upgraded from older versions).
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", name, pgx.Identifier{ReplicationRole}.Sanitize()),
	}
	stmts = append(stmts, roleGrants(db, name, db.RuntimeRole(), nil)...)
	if operator {
		stmts = append(stmts, roleGrants(db, name, db.OperatorRole(), operatorPrivileges)...)
	}
	return stmts
}

// roleGrants returns the statements that give role the runtime role's
// privileges in database name, with those of extra instead on its tables.
func roleGrants(db Database, name, role string, extra map[string]string) []string {
	rl := pgx.Identifier{role}.Sanitize()
	stmts := []string{
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", name, rl),
		"GRANT USAGE ON SCHEMA public TO " + rl,
		// Tables and sequences of later migrations, and of tests that
		// create their own as the owner.
		fmt.Sprintf("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT %s ON TABLES TO %s", rowPrivileges, rl),
		"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO " + rl,
		// Every table as it is now, then the narrower ones.
		fmt.Sprintf("GRANT %s ON ALL TABLES IN SCHEMA public TO %s", rowPrivileges, rl),
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + rl,
	}
	narrow := map[string]string{}
	for _, set := range []Database{"cdc", db} {
		for t, p := range narrowPrivileges[set] {
			narrow[t] = p
		}
	}
	for t, p := range extra {
		narrow[t] = p
	}
	tables := make([]string, 0, len(narrow))
	for t := range narrow {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		tn := pgx.Identifier{t}.Sanitize()
		stmts = append(stmts, fmt.Sprintf("REVOKE ALL ON TABLE %s FROM %s", tn, rl))
		if narrow[t] != "" {
			stmts = append(stmts, fmt.Sprintf("GRANT %s ON TABLE %s TO %s", narrow[t], tn, rl))
		}
	}
	return stmts
}

// Grant gives db's runtime role (db.RuntimeRole) exactly its privileges in
// the database conn is connected to, in one transaction: CONNECT (which it
// and the replication role alone have), row privileges on every table
// (narrower on some, such as SELECT and INSERT only on the ledger), and the
// same for tables created later by the role conn is logged in as (ALTER
// DEFAULT PRIVILEGES). When the operator role (db.OperatorRole) exists, it
// gets the same and the handling of dead letters; without it nobody but the
// owner can mark a dead letter handled. The audit role (AuditRole) gets
// CONNECT and SELECT on the audit's tables when it exists; a cluster
// without it (created before it was) migrates all the same, and only the
// scheduled audit cannot log in. It runs as the database's owner
// (db.OwnerRole), as Migrate does after the migrations; it is idempotent.
// The runtime role and the replication role must exist.
func Grant(ctx context.Context, conn *pgx.Conn, db Database) error {
	return grant(ctx, conn, db, AuditRole)
}

func grant(ctx context.Context, conn *pgx.Conn, db Database, auditRole string) error {
	if _, err := db.sets(); err != nil {
		return err
	}
	var dbname string
	var operator bool
	if err := conn.QueryRow(ctx, "SELECT current_database(), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
		db.OperatorRole()).Scan(&dbname, &operator); err != nil {
		return fmt.Errorf("grant %s: %w", db, err)
	}
	stmts := grantStatements(db, dbname, operator)
	var audit bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", auditRole).Scan(&audit); err != nil {
		return fmt.Errorf("grant %s: %w", db, err)
	}
	if audit {
		stmts = append(stmts, auditGrantStatements(db, dbname, auditRole)...)
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("grant %s: %w", db, err)
	}
	return nil
}

// grantsVersion is what Version hashes of the grants: the statements for a
// database named after db.
func grantsVersion(db Database) string {
	return strings.Join(append(grantStatements(db, string(db), true), auditGrantStatements(db, string(db), AuditRole)...), ";\n")
}
