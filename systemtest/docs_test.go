package systemtest

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"shop/audit"
	gatewayapp "shop/gateway/app"
	ordersapp "shop/orders/app"
	paymentsapp "shop/payments/app"
)

// envVars returns the variables a configuration struct reads, with their
// defaults ("" when none), from its env tags, nested structs included.
func envVars(t reflect.Type, into map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			if f.Type.Kind() == reflect.Struct {
				envVars(f.Type, into)
			}
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		// As envconfig reads it: everything after default=, commas
		// included (a list's default).
		_, def, _ := strings.Cut(tag, "default=")
		into[strings.TrimSpace(name)] = def
	}
}

// configurationDoc is the document that holds the one table of variables.
const configurationDoc = "docs/configuration.md"

// variablesTable returns the variables of the table in configurationDoc's
// Variables section with the defaults it states for them.
func variablesTable(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../" + configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Variables\n")
	if !ok {
		t.Fatalf("%s has no Variables section", configurationDoc)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	code := regexp.MustCompile("`([^`]*)`")
	table := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		var names, defs []string
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			defs = append(defs, m[1])
		}
		for i, n := range names {
			switch {
			case len(defs) == len(names):
				table[n] = defs[i]
			case len(defs) == 1:
				table[n] = defs[0]
			default:
				table[n] = ""
			}
		}
	}
	return table
}

// TestDocsConfigurationTable keeps the one table of variables
// (configurationDoc) true: every variable a service reads is in it, with the
// default the code has.
func TestDocsConfigurationTable(t *testing.T) {
	table := variablesTable(t)
	for name, cfg := range map[string]any{
		"orders":   ordersapp.Config{},
		"payments": paymentsapp.Config{},
		"gateway":  gatewayapp.Config{},
		"audit":    audit.Config{},
	} {
		vars := map[string]string{}
		envVars(reflect.TypeOf(cfg), vars)
		if len(vars) == 0 {
			t.Fatalf("%s: no env tags found", name)
		}
		for v, def := range vars {
			got, ok := table[v]
			if !ok {
				t.Errorf("%s reads %s, which %s's table does not list", name, v, configurationDoc)
				continue
			}
			if got != def {
				t.Errorf("%s: %s says %s defaults to %q, the code says %q", name, configurationDoc, v, got, def)
			}
		}
	}
}

// linkedDocs are the documents whose relative links TestDocsLinks checks,
// relative to the repository root; docs/*.md is added to them.
var linkedDocs = []string{
	"README.md",
	"bench/README.md",
	"bench/STREAMS.md",
	"gateway/README.md",
	"orders/README.md",
	"payments/README.md",
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	mdFence   = regexp.MustCompile("(?ms)^```.*?^```")
	runbook   = regexp.MustCompile(`runbook_url: *(\S+)`)
)

// anchors returns the anchors GitHub gives the headings of a markdown
// document: lower case, punctuation dropped, spaces as hyphens, a repeated
// one numbered.
func anchors(doc string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, m := range mdHeading.FindAllStringSubmatch(mdFence.ReplaceAllString(doc, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// checkTarget reports whether target (a path relative to the repository
// root, with an optional #anchor) names an existing file and, for a
// markdown file, one of its headings.
func checkTarget(t *testing.T, from, target string) {
	t.Helper()
	path, anchor, _ := strings.Cut(target, "#")
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Errorf("%s links to %s, which does not exist", from, target)
		return
	}
	if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(string(b))[anchor] {
		t.Errorf("%s links to %s, which has no heading with the anchor #%s", from, path, anchor)
	}
}

// TestDocsLinks keeps the documents' relative links (and their anchors) and
// the alerting rules' runbook links pointing at what exists.
func TestDocsLinks(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string(nil), linkedDocs...)
	for _, d := range docs {
		files = append(files, strings.TrimPrefix(d, "../"))
	}
	links := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		doc := string(b)
		for _, m := range mdLink.FindAllStringSubmatch(mdFence.ReplaceAllString(doc, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			if rest, ok := strings.CutPrefix(target, "#"); ok {
				if !anchors(doc)[rest] {
					t.Errorf("%s links to #%s, which is none of its headings", f, rest)
				}
				continue
			}
			checkTarget(t, f, filepath.ToSlash(filepath.Join(filepath.Dir(f), target)))
		}
	}
	if links == 0 {
		t.Fatal("no relative links found: the pattern is wrong")
	}
	b, err := os.ReadFile("../monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	urls := runbook.FindAllStringSubmatch(string(b), -1)
	if len(urls) == 0 {
		t.Fatal("monitoring/alerts.yml has no runbook_url")
	}
	for _, m := range urls {
		checkTarget(t, "monitoring/alerts.yml", m[1])
	}
}

var (
	walkFiles = regexp.MustCompile("`([A-Za-z0-9_/.-]+)` \\(([^)]*)\\)")
	fileName  = regexp.MustCompile("`([A-Za-z0-9_.-]+\\.(?:go|sql))`")
	pathName  = regexp.MustCompile("`([A-Za-z0-9_-]+/[A-Za-z0-9_./-]+\\.[a-z]+)`")
)

// TestDocsWalkFiles keeps the walk of one order in docs/architecture.md
// followable: every file its steps name under "**Code:**" exists in the
// package named before it, and no file is named by two steps.
func TestDocsWalkFiles(t *testing.T) {
	b, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	steps := 0
	for _, para := range strings.Split(string(b), "\n\n") {
		code, ok := strings.CutPrefix(para, "**Code:**")
		if !ok {
			continue
		}
		steps++
		var files []string
		for _, m := range walkFiles.FindAllStringSubmatch(code, -1) {
			for _, f := range fileName.FindAllStringSubmatch(m[2], -1) {
				files = append(files, m[1]+"/"+f[1])
			}
		}
		for _, m := range pathName.FindAllStringSubmatch(walkFiles.ReplaceAllString(code, ""), -1) {
			files = append(files, m[1])
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join("..", f)); err != nil {
				t.Errorf("docs/architecture.md: the walk names %s, which does not exist", f)
			}
			if seen[f] {
				t.Errorf("docs/architecture.md: the walk names %s in two steps", f)
			}
			seen[f] = true
		}
	}
	if steps == 0 || len(seen) == 0 {
		t.Fatal(`docs/architecture.md: no "**Code:**" lines found: the pattern is wrong`)
	}
	t.Logf("the walk names %d files in %d steps", len(seen), steps)
}
