package stacktest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

// A database from before the roles were split (owned, with its tables and
// publication, by one service role) is handed to the owner role when the
// stack starts on it, and migrates as the owner from then on. Another
// database of the old owner stays its own.
func TestEnsureDatabaseHandsOverALegacyDatabase(t *testing.T) {
	env := stacktest.Get(t)
	ctx := context.Background()
	legacy := stacktest.Unique("legacy_")
	name, other := stacktest.Unique("t_legacy_"), stacktest.Unique("t_legacy_other_")
	admin, err := pgx.Connect(ctx, env.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), env.AdminURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, db := range []string{name, other} {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+legacy)
	})
	for _, q := range []string{
		"CREATE ROLE " + legacy + " LOGIN PASSWORD 'legacy'",
		"CREATE DATABASE " + name + " OWNER " + legacy,
		"CREATE DATABASE " + other + " OWNER " + legacy,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	asLegacy := strings.Replace(strings.Replace(env.AdminURL, "postgres:postgres@", legacy+":legacy@", 1), "/postgres?", "/"+name+"?", 1)
	old, err := pgx.Connect(ctx, asLegacy)
	if err != nil {
		t.Fatal(err)
	}
	_, err = old.Exec(ctx, `CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY, n int);
		CREATE PUBLICATION legacy_pub FOR TABLE orders`)
	old.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := local.EnsureDatabase(ctx, env.AdminURL, name, schema.Orders, ""); err != nil {
		t.Fatal(err)
	}
	in, err := pgx.Connect(ctx, strings.Replace(env.AdminURL, "/postgres?", "/"+name+"?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	var dbOwner, tableOwner, pubOwner, otherOwner string
	if err := in.QueryRow(ctx, `SELECT
		(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()),
		(SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'orders'),
		(SELECT pg_get_userbyid(pubowner) FROM pg_publication WHERE pubname = 'legacy_pub'),
		(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1)`, other).
		Scan(&dbOwner, &tableOwner, &pubOwner, &otherOwner); err != nil {
		t.Fatal(err)
	}
	want := schema.Orders.OwnerRole()
	if dbOwner != want || tableOwner != want || pubOwner != want {
		t.Errorf("owners of database, table, publication = %s, %s, %s; want %s", dbOwner, tableOwner, pubOwner, want)
	}
	if otherOwner != legacy {
		t.Errorf("owner of the old role's other database = %s, want %s (untouched)", otherOwner, legacy)
	}
}
