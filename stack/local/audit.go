package local

import (
	"context"
	"os"
	"path/filepath"
	"slices"

	"shop/audit"
	schema "shop/sql"
)

// NameAudit is the component of the scheduled money audit: shop-audit
// running every AUDIT_INTERVAL (audit.DefaultInterval unless the
// environment sets it), its metrics on the System's AuditAdminAddr.
const NameAudit = "audit"

// auditPackage is the command the audit component runs.
const auditPackage = "shop/audit/cmd/shop-audit"

// AuditURL is the URL of the audit role (schema.AuditRole) for database
// dbname: it reads the audit's tables and nothing else.
func (s *System) AuditURL(dbname string) string { return s.cfg.roleURL(schema.AuditRole, dbname) }

// startAudit starts the scheduled audit over both databases, as the audit
// role, and waits until its admin listener accepts connections. A process
// of its own, not a job of a service: a service's role reaches only its
// own database, and the audit role, which reads both, is in no service's
// hands.
func (s *System) startAudit(ctx context.Context, binary string, runtimeEnv []string) error {
	env := append(append(slices.Clone(runtimeEnv), s.cfg.Env...),
		"PAYMENTS_DATABASE_URL="+s.AuditURL(Payments), "ORDERS_DATABASE_URL="+s.AuditURL(Orders),
		"AUDIT_ADMIN_ADDR="+s.AuditAdminAddr)
	if _, ok := os.LookupEnv("AUDIT_INTERVAL"); !ok {
		env = append(env, "AUDIT_INTERVAL="+audit.DefaultInterval.String())
	}
	c := ServiceComponent(NameAudit, binary, filepath.Join(s.cfg.DataDir, "logs"), env, TCPReady(s.AuditAdminAddr), NamePostgres)
	return s.Start(ctx, freeFirst(c, s.AuditAdminAddr, "AUDIT_ADMIN_ADDR"))
}
