package schema

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shop/compat"
)

// gitBaseline returns the lookup of names in the baseline's code (its Go
// and SQL sources, without tests, generated protobuf code and the
// migrations, which name every table they ever created), or nil when git or
// the baseline commit is not here: outside CI the contract rule is then
// skipped with a log line, under CI=true the test fails.
func gitBaseline(t *testing.T) baselineUses {
	t.Helper()
	unavailable := func(format string, args ...any) baselineUses {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format+" (CI=true: a clone with the baseline's history is required)", args...)
		}
		t.Logf(format+": contracts are not checked against the baseline's code", args...)
		return nil
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return unavailable("no git repository: %v", err)
	}
	root := strings.TrimSpace(string(out))
	commit, err := compat.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", commit+"^{commit}").Run(); err != nil {
		return unavailable("baseline commit %s not in this clone", commit)
	}
	return func(name string) (string, error) {
		cmd := exec.Command("git", "-C", root, "grep", "-n", "-I", "-w", "-i", "-F", "-e", name, commit, "--",
			"*.go", "*.sql", ":!*_test.go", ":!*.pb.go", ":!sql/*/[0-9]*.sql")
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 1 {
			return "", nil // no match
		}
		if err != nil {
			return "", err
		}
		first, _, _ := strings.Cut(string(out), "\n")
		// commit:path:line:text: keep path:line.
		parts := strings.SplitN(strings.TrimPrefix(first, commit+":"), ":", 3)
		return "baseline " + commit + ", " + strings.Join(parts[:min(2, len(parts))], ":"), nil
	}
}

// Every migration of the repository is marked, the expanding ones expand,
// and no contract removes what the baseline's code uses.
func TestMigrationsExpandOrContract(t *testing.T) {
	for _, err := range checkEvolution(files, gitBaseline(t)) {
		t.Error(err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string // change.String()
	}{
		{name: "CreateTable", sql: "CREATE TABLE t (id int PRIMARY KEY, a text NOT NULL);"},
		{name: "AddNullableColumn", sql: "ALTER TABLE orders ADD COLUMN note text;"},
		{name: "AddNotNullWithDefault", sql: "ALTER TABLE outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();"},
		{name: "AddIdentity", sql: "ALTER TABLE t ADD COLUMN n bigint NOT NULL GENERATED ALWAYS AS IDENTITY;"},
		{name: "AddConstraint", sql: "ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL), DROP CONSTRAINT d;"},
		{name: "CreateIndex", sql: "CREATE INDEX i ON orders (created_at) WHERE status = 'PENDING';"},
		{name: "ReplaceFunction", sql: "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DROP TABLE x; RETURN NULL; END $$;"},
		{name: "Comment", sql: "-- DROP TABLE orders;\n/* ALTER TABLE orders DROP COLUMN a; */ SELECT 1;"},
		{name: "StringLiteral", sql: "INSERT INTO notes VALUES ('ALTER TABLE orders DROP COLUMN a; it''s');"},
		{name: "DropColumnNotNull", sql: "ALTER TABLE orders ALTER COLUMN description DROP NOT NULL;"},

		{name: "DropTable", sql: "DROP TABLE IF EXISTS public.orders, ledger CASCADE;", want: []string{"DROP TABLE orders", "DROP TABLE ledger"}},
		{name: "DropColumn", sql: "alter table orders drop column description;", want: []string{"DROP COLUMN orders.description"}},
		{name: "DropColumnShort", sql: `ALTER TABLE inbox DROP IF EXISTS "offset";`, want: []string{"DROP COLUMN inbox.offset"}},
		{name: "RenameTable", sql: "ALTER TABLE orders RENAME TO purchases;", want: []string{"RENAME TABLE orders to purchases"}},
		{name: "RenameColumn", sql: "ALTER TABLE orders RENAME COLUMN description TO note;", want: []string{"RENAME COLUMN orders.description to note"}},
		{name: "RenameColumnShort", sql: "ALTER TABLE orders RENAME description TO note;", want: []string{"RENAME COLUMN orders.description to note"}},
		{name: "ChangeType", sql: "ALTER TABLE orders ALTER COLUMN amount TYPE numeric;", want: []string{"ALTER COLUMN TYPE orders.amount"}},
		{name: "SetDataType", sql: "ALTER TABLE orders ALTER amount SET DATA TYPE numeric USING amount::numeric;", want: []string{"ALTER COLUMN TYPE orders.amount"}},
		{name: "SetNotNull", sql: "ALTER TABLE outbox ALTER COLUMN traceparent SET NOT NULL;", want: []string{"SET NOT NULL outbox.traceparent"}},
		{name: "DropDefault", sql: "ALTER TABLE dead_letters ALTER COLUMN headers DROP DEFAULT;", want: []string{"DROP DEFAULT dead_letters.headers"}},
		{name: "AddNotNullNoDefault", sql: "ALTER TABLE orders ADD COLUMN channel text NOT NULL;", want: []string{"ADD COLUMN NOT NULL without DEFAULT orders.channel"}},
		{name: "SeveralActions", sql: "ALTER TABLE orders ADD COLUMN a text, DROP COLUMN b, ADD COLUMN c int NOT NULL CHECK (c > 0);",
			want: []string{"DROP COLUMN orders.b", "ADD COLUMN NOT NULL without DEFAULT orders.c"}},
		{name: "DropFunction", sql: "DROP FUNCTION IF EXISTS record_order_change();", want: []string{"DROP FUNCTION record_order_change"}},
		{name: "DropTrigger", sql: "DROP TRIGGER orders_record_change ON orders;", want: []string{"DROP TRIGGER orders_record_change ON orders"}},
		{name: "RenameFunction", sql: "ALTER FUNCTION record_order_change() RENAME TO f2;", want: []string{"RENAME FUNCTION record_order_change to f2"}},
		{name: "Truncate", sql: "TRUNCATE inbox;", want: []string{"TRUNCATE inbox"}},
		{name: "AfterBody", sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1 $body$;\nDROP VIEW v;", want: []string{"DROP VIEW v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range classify(tt.sql) {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("classify(%q): got %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
}

// The check over a copy of the migrations with one more: a bad one is
// refused with a message that says what to do instead; a good one passes.
func TestCheckEvolutionRefuses(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string // added under orders/
		baseline bool              // needs the baseline's code
		want     string            // in the only error; "" for none
	}{
		{name: "Unmarked", files: map[string]string{"0100_note.sql": "ALTER TABLE orders ADD COLUMN note text;\n"},
			want: "no expand/contract marker"},
		{name: "ExpandAddsNullable", files: map[string]string{"0100_note.sql": "-- expand\nALTER TABLE orders ADD COLUMN note text;\n"}},
		{name: "ExpandDropsColumn", files: map[string]string{"0100_drop.sql": "-- expand\nALTER TABLE orders DROP COLUMN description;\n"},
			want: "DROP COLUMN orders.description is contracting"},
		{name: "ExpandAddsNotNull", files: map[string]string{"0100_channel.sql": "-- expand\nALTER TABLE orders ADD COLUMN channel text NOT NULL;\n"},
			want: "add the column nullable or with a DEFAULT"},
		{name: "ExpandRenames", files: map[string]string{"0100_rename.sql": "-- expand\nALTER TABLE orders RENAME COLUMN description TO note;\n"},
			want: "add the new column (nullable or with a DEFAULT), write both and backfill"},
		{name: "ContractWithoutReason", files: map[string]string{"0100_drop.sql": "-- contract:\nDROP TABLE orders;\n"},
			want: "gives no reason"},
		{name: "ContractDropsWhatBaselineUses", baseline: true,
			files: map[string]string{"0100_drop.sql": "-- contract: the code reads note now\nALTER TABLE orders DROP COLUMN description;\n"},
			want:  `the baseline's code still uses "description"`},
		{name: "ContractDropsWhatBaselineNeverUsed", baseline: true, files: map[string]string{
			"0100_scratch.sql":      "-- expand\nCREATE TABLE scratch_notes (id int PRIMARY KEY, zzz_unused_note text);\n",
			"0101_scratch_drop.sql": "-- contract: no release ever read zzz_unused_note\nALTER TABLE scratch_notes DROP COLUMN zzz_unused_note;\n",
		}},
	}
	var uses baselineUses
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.baseline {
				if uses == nil {
					uses = gitBaseline(t)
				}
				if uses == nil {
					t.Skip("the baseline's code is not here")
				}
			}
			dir := t.TempDir()
			if err := os.CopyFS(dir, files); err != nil {
				t.Fatal(err)
			}
			for name, sql := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, "orders", name), []byte(sql), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			errs := checkEvolution(os.DirFS(dir), uses)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("checkEvolution: got %v, want no error", errs)
			case tt.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want)):
				t.Errorf("checkEvolution: got %v, want one error containing %q", errs, tt.want)
			default:
				for _, err := range errs {
					t.Log(err)
				}
			}
		})
	}
}
