package schema_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// withParam returns rawURL with the query parameter name=value added.
func withParam(t *testing.T, rawURL, name, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, value)
	// pgx takes "+" literally: a space must be %20.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// Every session of a pool that Open returns has the timeouts, unless the
// URL sets its own; the session that checked the schema too.
func TestOpenSessionTimeouts(t *testing.T) {
	tests := []struct {
		name                    string
		param, value            string // added to the URL when not empty
		wantStatement, wantIdle string
	}{
		{name: "Defaults", wantStatement: "5s", wantIdle: "10s"},
		{name: "URLParameter", param: "statement_timeout", value: "30s", wantStatement: "30s", wantIdle: "10s"},
		{name: "Options", param: "options", value: "-c idle_in_transaction_session_timeout=7s", wantStatement: "5s", wantIdle: "7s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := stacktest.Get(t).NewDatabase(t, schema.Orders)
			ctx := context.Background()
			// One connection: the one Check ran on.
			u := withParam(t, db.URL, "pool_max_conns", "1")
			if tt.param != "" {
				u = withParam(t, u, tt.param, tt.value)
			}
			pool, err := schema.Open(ctx, u, schema.Orders)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			var statement, idle, lock string
			if err := pool.QueryRow(ctx, `SELECT current_setting('statement_timeout'),
				current_setting('idle_in_transaction_session_timeout'), current_setting('lock_timeout')`).
				Scan(&statement, &idle, &lock); err != nil {
				t.Fatal(err)
			}
			if statement != tt.wantStatement || idle != tt.wantIdle {
				t.Errorf("statement_timeout, idle_in_transaction_session_timeout: got %s, %s; want %s, %s",
					statement, idle, tt.wantStatement, tt.wantIdle)
			}
			if lock != "0" {
				t.Errorf("lock_timeout: got %s, want 0 (Open sets none)", lock)
			}
		})
	}
}

// During a rolling upgrade the schema is migrated before the new binaries
// start, so the previous release's binaries run on a schema newer than
// they know: Open accepts it. A binary newer than its database (a
// migration it needs is missing) is refused with a message saying what to
// do.
func TestOpenSchemaAcrossVersions(t *testing.T) {
	tests := []struct {
		name    string
		change  string // run as the owner on a migrated database
		wantErr []string
	}{
		{name: "NewerMigrationAccepted", change: `ALTER TABLE orders ADD COLUMN note text;
			INSERT INTO schema_migrations (set_name, version, name) VALUES ('orders', 9999, '9999_from_a_newer_release.sql'),
				('cdc', 9999, '9999_from_a_newer_release.sql')`},
		{name: "OlderSchemaRefused", change: `DELETE FROM schema_migrations WHERE set_name = 'orders' AND version = 6`,
			wantErr: []string{"migrations not applied: orders/0006_order_created_notify_after_commit.sql", "migrate the database as orders_owner first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := stacktest.Get(t).NewDatabase(t, schema.Orders)
			ctx := context.Background()
			if _, err := db.Owner.Exec(ctx, tt.change); err != nil {
				t.Fatal(err)
			}
			pool, err := schema.Open(ctx, db.URL, schema.Orders)
			if err == nil {
				pool.Close()
			}
			switch {
			case len(tt.wantErr) == 0 && err != nil:
				t.Fatalf("Open(): %v, want nil", err)
			case len(tt.wantErr) > 0 && err == nil:
				t.Fatalf("Open(): nil, want an error containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open(): %v, want it to contain %q", err, want)
				}
			}
		})
	}
}
