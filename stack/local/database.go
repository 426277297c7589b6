package local

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	schema "shop/sql"
)

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
