package systemtest

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

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
		parts := strings.Split(tag, ",")
		def := ""
		for _, p := range parts[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "default="); ok {
				def = v
			}
		}
		into[strings.TrimSpace(parts[0])] = def
	}
}

// readmeTable returns the variables of the README's configuration table
// with the defaults it states for them.
func readmeTable(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no Configuration section")
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

// TestREADMEConfigurationTable keeps the README's one table of variables
// true: every variable a service reads is in it, with the default the code
// has.
func TestREADMEConfigurationTable(t *testing.T) {
	table := readmeTable(t)
	for name, cfg := range map[string]any{
		"orders":   ordersapp.Config{},
		"payments": paymentsapp.Config{},
		"gateway":  gatewayapp.Config{},
	} {
		vars := map[string]string{}
		envVars(reflect.TypeOf(cfg), vars)
		if len(vars) == 0 {
			t.Fatalf("%s: no env tags found", name)
		}
		for v, def := range vars {
			got, ok := table[v]
			if !ok {
				t.Errorf("%s reads %s, which README.md's configuration table does not list", name, v)
				continue
			}
			if got != def {
				t.Errorf("%s: README.md says %s defaults to %q, the code says %q", name, v, got, def)
			}
		}
	}
}
