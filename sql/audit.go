package schema

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

// auditTables are the tables the audit role (AuditRole) may read, by
// database: what shop/audit's Check reads, and nothing it does not.
var auditTables = map[Database][]string{
	Payments: {"accounts", "ledger"},
	Orders:   {"orders"},
}

// auditGrantStatements returns the statements that let the audit role
// (AuditRole, named auditRole) connect to the database dbname of db and
// read its auditTables: SELECT only, on those tables only, and no default
// privileges, so that a table of a later migration stays closed to it.
func auditGrantStatements(db Database, dbname, auditRole string) []string {
	role := pgx.Identifier{auditRole}.Sanitize()
	stmts := []string{
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", pgx.Identifier{dbname}.Sanitize(), role),
		"GRANT USAGE ON SCHEMA public TO " + role,
	}
	for _, t := range auditTables[db] {
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT ON TABLE %s TO %s", pgx.Identifier{t}.Sanitize(), role))
	}
	return stmts
}
