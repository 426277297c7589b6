package systemtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// TestModulesHaveNoCycles keeps the workspace's modules a graph without
// cycles, tests included: a module that needs another (to build or to test)
// must not be needed by it, directly or through others.
func TestModulesHaveNoCycles(t *testing.T) {
	b, err := os.ReadFile("../go.work")
	if err != nil {
		t.Fatal(err)
	}
	work, err := modfile.ParseWork("go.work", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	requires := map[string][]string{} // module path -> workspace modules it requires
	for _, use := range work.Use {
		name := filepath.Join("..", use.Path, "go.mod")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := modfile.ParseLax(name, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		requires[f.Module.Mod.Path] = nil
		for _, r := range f.Require {
			if r.Mod.Path == "shop" || strings.HasPrefix(r.Mod.Path, "shop/") {
				requires[f.Module.Mod.Path] = append(requires[f.Module.Mod.Path], r.Mod.Path)
			}
		}
	}
	if len(requires) < 2 {
		t.Fatalf("go.work lists %d modules", len(requires))
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var visit func(m string, path []string)
	visit = func(m string, path []string) {
		switch state[m] {
		case onPath:
			i := slices.Index(path, m)
			t.Errorf("modules form a cycle: %s", strings.Join(append(path[i:], m), " -> "))
			return
		case done:
			return
		}
		state[m] = onPath
		for _, r := range requires[m] {
			if _, ok := requires[r]; !ok {
				t.Errorf("%s requires %s, which go.work does not use", m, r)
				continue
			}
			visit(r, append(path, m))
		}
		state[m] = done
	}
	for m := range requires {
		visit(m, nil)
	}
}
