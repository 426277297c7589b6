package local

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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

// auditIntervalEnv is the AUDIT_INTERVAL of the supervised audit: the one
// of env (the system's Env, which wins) or of lookup (the environment it
// inherits) when it is a positive duration, else audit.DefaultInterval.
// Never 0: shop-audit would run once and exit, and be restarted until the
// supervisor gives up.
func auditIntervalEnv(lookup func(string) (string, bool), env []string) string {
	v, _ := lookup("AUDIT_INTERVAL")
	for _, kv := range env {
		if s, ok := strings.CutPrefix(kv, "AUDIT_INTERVAL="); ok {
			v = s
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		d = audit.DefaultInterval
	}
	return "AUDIT_INTERVAL=" + d.String()
}

// startAudit starts the scheduled audit over both databases, as the audit
// role, and waits until its admin listener accepts connections. A process
// of its own, not a job of a service: a service's role reaches only its
// own database, and the audit role, which reads both, is in no service's
// hands.
func (s *System) startAudit(ctx context.Context, binary string, runtimeEnv []string) error {
	env := append(append(slices.Clone(runtimeEnv), s.cfg.Env...),
		"PAYMENTS_DATABASE_URL="+s.AuditURL(Payments), "ORDERS_DATABASE_URL="+s.AuditURL(Orders),
		"AUDIT_ADMIN_ADDR="+s.AuditAdminAddr, auditIntervalEnv(os.LookupEnv, s.cfg.Env))
	c := ServiceComponent(NameAudit, binary, filepath.Join(s.cfg.DataDir, "logs"), env, TCPReady(s.AuditAdminAddr), NamePostgres)
	return s.Start(ctx, freeFirst(c, s.AuditAdminAddr, "AUDIT_ADMIN_ADDR"))
}
