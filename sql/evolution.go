package schema

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// Migrations follow expand and contract (docs/upgrades.md, "Changing a
// table"): during a rolling upgrade the previous release's binaries run on
// the schema the new release migrated, so a migration either expands (the
// previous release's code keeps working on the result) or contracts (it
// removes or narrows what some code used: only once no release that used it
// runs). Each migration says which on its first line:
//
//	-- expand
//	-- contract: <why the baseline no longer needs what it removes>
//
// checkEvolution refuses a migration without the line, a contracting
// statement in one marked expand, and a contract that removes a table,
// column or function the baseline's code still names.

// Markers of a migration's first line.
const (
	expandMarker   = "-- expand"
	contractMarker = "-- contract:"
)

// A change is one contracting statement of a migration.
type change struct {
	kind   changeKind
	object string // what it removes or narrows: table, table.column, function
	// name is the identifier the baseline's code would use (a table, a
	// column or a function name); empty when there is nothing to look up.
	name string
}

func (c change) String() string { return fmt.Sprintf("%s %s", c.kind.what, c.object) }

// changeKind is a kind of contracting statement and what to do instead.
type changeKind struct {
	what    string
	instead string
}

const laterContract = "in a later release, in a migration marked contract, once the baseline has moved past the code that used it"

var (
	dropTable        = changeKind{"DROP TABLE", "stop using the table in the code first; drop it " + laterContract}
	dropColumn       = changeKind{"DROP COLUMN", "stop reading and writing the column in the code first (a NOT NULL column without a default needs one, or DROP NOT NULL, while the old code runs); drop it " + laterContract}
	renameTable      = changeKind{"RENAME TABLE", "create the new table, write both and backfill, switch the code to the new one; drop the old one " + laterContract}
	renameColumn     = changeKind{"RENAME COLUMN", "add the new column (nullable or with a DEFAULT), write both and backfill, switch the code to read the new one; drop the old one " + laterContract}
	changeType       = changeKind{"ALTER COLUMN TYPE", "add a column of the new type (nullable or with a DEFAULT), write both and backfill, switch the code; drop the old one " + laterContract}
	dropDefault      = changeKind{"DROP DEFAULT", "keep the default while a release whose INSERTs leave the column out runs; drop it " + laterContract}
	setNotNull       = changeKind{"SET NOT NULL", "backfill and release code that always writes the column first; SET NOT NULL " + laterContract}
	notNullNoDefault = changeKind{"ADD COLUMN NOT NULL without DEFAULT", "add the column nullable or with a DEFAULT (the old code's INSERTs do not name it); backfill; SET NOT NULL " + laterContract}
	dropObject       = changeKind{"DROP", "keep it while the baseline's code or schema uses it; drop it " + laterContract}
	renameObject     = changeKind{"RENAME", "create it under the new name beside the old one, switch the code; drop the old one " + laterContract}
	truncate         = changeKind{"TRUNCATE", "delete only rows no running release needs, in batches, or drop the table " + laterContract}
)

// classify returns the contracting statements of the migration text sql.
// Comments, string literals and dollar-quoted bodies (a function's) are
// not statements of their own and are skipped.
func classify(sql string) []change {
	var out []change
	for _, stmt := range statements(sql) {
		out = append(out, classifyStatement(stmt)...)
	}
	return out
}

var (
	reDropTable    = regexp.MustCompile(`^DROP TABLE (?:IF EXISTS )?(.+?)(?: CASCADE| RESTRICT)?$`)
	reAlterTable   = regexp.MustCompile(`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(\S+) (.+)$`)
	reRenameTable  = regexp.MustCompile(`^RENAME TO (\S+)$`)
	reRenameColumn = regexp.MustCompile(`^RENAME (?:COLUMN )?(\S+) TO (\S+)$`)
	reDropColumn   = regexp.MustCompile(`^DROP (?:COLUMN )?(?:IF EXISTS )?(\S+)`)
	reAlterColumn  = regexp.MustCompile(`^ALTER (?:COLUMN )?(\S+) (.+)$`)
	reAddColumn    = regexp.MustCompile(`^ADD (?:COLUMN )?(?:IF NOT EXISTS )?(\S+) (.+)$`)
	reDropObject   = regexp.MustCompile(`^DROP (FUNCTION|PROCEDURE|TRIGGER|VIEW|MATERIALIZED VIEW|TYPE|SEQUENCE|SCHEMA|PUBLICATION) (?:IF EXISTS )?(.+?)(?: CASCADE| RESTRICT)?$`)
	reRenameObject = regexp.MustCompile(`^ALTER (FUNCTION|PROCEDURE|VIEW|MATERIALIZED VIEW|TYPE|SEQUENCE) (?:IF EXISTS )?(\S+?)(?:\(.*\))? RENAME TO (\S+)$`)
	reTruncate     = regexp.MustCompile(`^TRUNCATE (?:TABLE )?(?:ONLY )?(.+?)(?: RESTART IDENTITY| CONTINUE IDENTITY)?(?: CASCADE| RESTRICT)?$`)
)

// tableConstraints start an ALTER TABLE action that is not a column.
var tableConstraints = []string{"CONSTRAINT ", "PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN KEY", "EXCLUDE"}

func classifyStatement(stmt string) []change {
	upper := strings.ToUpper(stmt)
	if m := reDropTable.FindStringSubmatchIndex(upper); m != nil {
		var out []change
		for _, t := range splitTop(stmt[m[2]:m[3]]) {
			t = ident(t)
			out = append(out, change{dropTable, t, t})
		}
		return out
	}
	if m := reTruncate.FindStringSubmatchIndex(upper); m != nil {
		var out []change
		for _, t := range splitTop(stmt[m[2]:m[3]]) {
			out = append(out, change{truncate, ident(t), ""})
		}
		return out
	}
	if m := reDropObject.FindStringSubmatchIndex(upper); m != nil {
		kind := changeKind{dropObject.what + " " + upper[m[2]:m[3]], dropObject.instead}
		var out []change
		for _, o := range splitTop(stmt[m[4]:m[5]]) {
			name := ident(strings.Fields(strings.SplitN(o, "(", 2)[0])[0])
			if kind.what == "DROP TRIGGER" || kind.what == "DROP SCHEMA" || kind.what == "DROP PUBLICATION" {
				out = append(out, change{kind, strings.TrimSpace(o), ""})
				continue
			}
			out = append(out, change{kind, name, name})
		}
		return out
	}
	if m := reRenameObject.FindStringSubmatchIndex(upper); m != nil {
		name := ident(stmt[m[4]:m[5]])
		kind := changeKind{renameObject.what + " " + upper[m[2]:m[3]], renameObject.instead}
		return []change{{kind, name + " to " + ident(stmt[m[6]:m[7]]), name}}
	}
	m := reAlterTable.FindStringSubmatchIndex(upper)
	if m == nil {
		return nil
	}
	table := ident(stmt[m[2]:m[3]])
	var out []change
	for _, action := range splitTop(stmt[m[4]:m[5]]) {
		a := strings.ToUpper(action)
		col := func(sm []int) string { return ident(action[sm[2]:sm[3]]) }
		switch {
		case reRenameTable.MatchString(a):
			out = append(out, change{renameTable, table + " to " + ident(action[len("RENAME TO "):]), table})
		case strings.HasPrefix(a, "RENAME CONSTRAINT "):
		case reRenameColumn.MatchString(a):
			sm := reRenameColumn.FindStringSubmatchIndex(a)
			out = append(out, change{renameColumn, table + "." + col(sm) + " to " + ident(action[sm[4]:sm[5]]), col(sm)})
		case strings.HasPrefix(a, "DROP CONSTRAINT "):
		case reDropColumn.MatchString(a):
			c := col(reDropColumn.FindStringSubmatchIndex(a))
			out = append(out, change{dropColumn, table + "." + c, c})
		case reAlterColumn.MatchString(a):
			sm := reAlterColumn.FindStringSubmatchIndex(a)
			rest := a[sm[4]:sm[5]]
			switch {
			case strings.HasPrefix(rest, "TYPE ") || strings.HasPrefix(rest, "SET DATA TYPE "):
				out = append(out, change{changeType, table + "." + col(sm), ""})
			case rest == "DROP DEFAULT":
				out = append(out, change{dropDefault, table + "." + col(sm), ""})
			case rest == "SET NOT NULL":
				out = append(out, change{setNotNull, table + "." + col(sm), ""})
			}
		case reAddColumn.MatchString(a) && !hasAnyPrefix(a[len("ADD "):], tableConstraints):
			sm := reAddColumn.FindStringSubmatchIndex(a)
			def := a[sm[4]:sm[5]]
			if strings.Contains(def, "NOT NULL") && !strings.Contains(def, "DEFAULT") && !strings.Contains(def, "GENERATED") {
				out = append(out, change{notNullNoDefault, table + "." + col(sm), ""})
			}
		}
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ident is the bare name of a possibly schema-qualified, possibly quoted
// identifier: public."Offset" is offset.
func ident(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToLower(strings.Trim(s, `"`))
}

// splitTop splits s at the commas outside parentheses, trimmed.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

var reDollarTag = regexp.MustCompile(`^\$[A-Za-z_0-9]*\$`)

// statements splits sql at its semicolons into statements with single
// spaces, leaving out comments and replacing each string literal and
// dollar-quoted body with ” so that what they contain is not classified.
func statements(sql string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if s := strings.Join(strings.Fields(b.String()), " "); s != "" {
			out = append(out, s)
		}
		b.Reset()
	}
	for i := 0; i < len(sql); {
		rest := sql[i:]
		switch {
		case strings.HasPrefix(rest, "--"):
			n := strings.IndexByte(rest, '\n')
			if n < 0 {
				n = len(rest)
			}
			i += n
		case strings.HasPrefix(rest, "/*"):
			n := strings.Index(rest, "*/")
			if n < 0 {
				n = len(rest) - 2
			}
			i += n + 2
			b.WriteByte(' ')
		case rest[0] == '\'':
			n := 1
			for n < len(rest) {
				if rest[n] == '\'' {
					if n+1 < len(rest) && rest[n+1] == '\'' {
						n += 2
						continue
					}
					break
				}
				n++
			}
			i += n + 1
			b.WriteString("''")
		case reDollarTag.MatchString(rest):
			tag := reDollarTag.FindString(rest)
			n := strings.Index(rest[len(tag):], tag)
			if n < 0 {
				n = len(rest) - 2*len(tag)
			}
			i += 2*len(tag) + n
			b.WriteString("''")
		case rest[0] == ';':
			flush()
			i++
		default:
			b.WriteByte(rest[0])
			i++
		}
	}
	flush()
	return out
}

// baselineUses reports where the baseline's code names name (a file and
// line), or "" when it does not; an error when it cannot tell.
type baselineUses func(name string) (where string, err error)

// checkEvolution checks the migrations of every set in fsys (a directory
// with the layout of this package's cdc/, orders/ and payments/) against
// the rules above and returns one error per violation, each saying what to
// do instead. uses looks a removed name up in the baseline's code; when it
// is nil, contracts are not looked up.
func checkEvolution(fsys fs.FS, uses baselineUses) []error {
	var errs []error
	for _, set := range []string{"cdc", string(Orders), string(Payments)} {
		ms, err := readSet(fsys, set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			errs = append(errs, checkMigration(m, uses)...)
		}
	}
	return errs
}

func checkMigration(m migration, uses baselineUses) []error {
	file := m.set + "/" + m.name
	first, _, _ := strings.Cut(m.sql, "\n")
	first = strings.TrimSpace(first)
	changes := classify(m.sql)
	switch {
	case first == expandMarker:
		var errs []error
		for _, c := range changes {
			errs = append(errs, fmt.Errorf("%s: %s is contracting (the previous release's binaries still run on this schema during a rolling upgrade), but the migration is marked expand: %s (docs/upgrades.md, Changing a table)",
				file, c, c.kind.instead))
		}
		return errs
	case strings.HasPrefix(first, contractMarker):
		if strings.TrimSpace(strings.TrimPrefix(first, contractMarker)) == "" {
			return []error{fmt.Errorf("%s: the contract marker gives no reason: say why the baseline no longer needs what it removes (-- contract: <why>)", file)}
		}
		if uses == nil {
			return nil
		}
		var errs []error
		for _, c := range changes {
			if c.name == "" {
				continue
			}
			where, err := uses(c.name)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", file, c, err))
				continue
			}
			if where != "" {
				errs = append(errs, fmt.Errorf("%s: %s, but the baseline's code still uses %q (%s): keep it in this release and switch the code; contract %s (docs/upgrades.md, Changing a table)",
					file, c, c.name, where, laterContract))
			}
		}
		return errs
	}
	return []error{fmt.Errorf("%s: no expand/contract marker: begin the file with %q (safe while the previous release runs) or %q (docs/upgrades.md, Changing a table)",
		file, expandMarker, contractMarker+" <why the baseline no longer needs what it removes>")}
}
