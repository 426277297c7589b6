package check

import (
	"fmt"
	"strings"
	"testing"

	schema "shop/sql"
)

// roleOf is the database role each workload connects as, by the workload's
// name: the services as their runtime role, the migrations as the owner,
// the scheduled audit as the audit role (sql/schema.go).
var roleOf = map[string]func(schema.Database) string{
	"orders":           schema.Database.RuntimeRole,
	"payments":         schema.Database.RuntimeRole,
	"orders-migrate":   schema.Database.OwnerRole,
	"payments-migrate": schema.Database.OwnerRole,
	"shop-audit":       func(schema.Database) string { return schema.AuditRole },
}

// managedRole is a role of a CNPG Cluster's managed.roles.
type managedRole struct {
	cluster, role string
}

// checkRoles checks that each CNPG Cluster manages every role the code
// grants to (owner, runtime, operator, audit, replication) with a password
// Secret, and that each *DATABASE_URL a workload takes from a Secret is the
// Secret of the role it must connect as, in the cluster of that database.
func checkRoles(_ *testing.T, objs []Object) []error {
	var errs []error
	bySecret := map[string]managedRole{}
	for _, db := range []schema.Database{schema.Orders, schema.Payments} {
		cluster := string(db) + "-db"
		c := Find(objs, "Cluster", cluster)
		if c == nil {
			errs = append(errs, fmt.Errorf("no Cluster %s", cluster))
			continue
		}
		managed := map[string]bool{}
		roles, _ := Get(c, "spec", "managed", "roles").([]any)
		for _, r := range roles {
			name, _ := Get(r, "name").(string)
			secret, _ := Get(r, "passwordSecret", "name").(string)
			if secret == "" {
				errs = append(errs, fmt.Errorf("Cluster %s: role %s has no passwordSecret", cluster, name))
				continue
			}
			managed[name] = true
			bySecret[secret] = managedRole{cluster, name}
		}
		for _, want := range []string{db.OwnerRole(), db.RuntimeRole(), db.OperatorRole(), schema.AuditRole, schema.ReplicationRole} {
			if !managed[want] {
				errs = append(errs, fmt.Errorf("Cluster %s: role %s is not in managed.roles", cluster, want))
			}
		}
	}
	for _, w := range append(OfKind(objs, "Deployment"), OfKind(objs, "Job")...) {
		containers, _ := Get(w, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			list, _ := Get(c, "env").([]any)
			for _, e := range list {
				name, _ := Get(e, "name").(string)
				secret, _ := Get(e, "valueFrom", "secretKeyRef", "name").(string)
				if !strings.HasSuffix(name, "DATABASE_URL") || secret == "" {
					continue
				}
				where := fmt.Sprintf("%s %s: %s from Secret %s", w.Kind(), w.Name(), name, secret)
				db := schema.Database(strings.ToLower(strings.SplitN(name, "_", 2)[0]))
				got, ok := bySecret[secret]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("%s: no managed role has that password Secret", where))
				case roleOf[w.Name()] == nil:
					errs = append(errs, fmt.Errorf("%s: no role known for this workload (add it to roleOf)", where))
				case got.cluster != string(db)+"-db" || got.role != roleOf[w.Name()](db):
					errs = append(errs, fmt.Errorf("%s: role %s of %s, want %s of %s-db", where, got.role, got.cluster, roleOf[w.Name()](db), db))
				}
			}
		}
	}
	return errs
}

// TestDatabaseRolesAreManaged checks every overlay's database roles and
// the Secrets the workloads connect with (checkRoles).
func TestDatabaseRolesAreManaged(t *testing.T) {
	forEachOverlay(t, checkRoles)
}
