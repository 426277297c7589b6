package check

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

var (
	rendered   = map[string][]Object{}
	renderErr  = map[string]error{}
	renderOnce sync.Mutex
)

// root returns the repository root.
func root(t *testing.T) string {
	t.Helper()
	r, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// overlay returns a fresh copy of the rendered overlay's objects (built
// once per test binary), which a test may change.
func overlay(t *testing.T, name string) []Object {
	t.Helper()
	renderOnce.Lock()
	objs, ok := rendered[name]
	err := renderErr[name]
	if !ok && err == nil {
		objs, err = Build(filepath.Join(root(t), "deploy/k8s/overlays", name))
		rendered[name], renderErr[name] = objs, err
	}
	renderOnce.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	var out []Object
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sortedKeys returns m's keys in order, for reports in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// forEachOverlay runs check on the objects of every overlay, each a
// subtest, and reports what it finds.
func forEachOverlay(t *testing.T, check func(t *testing.T, objs []Object) []error) {
	for _, name := range Overlays {
		t.Run(name, func(t *testing.T) {
			report(t, name, check(t, overlay(t, name)))
		})
	}
}

// report fails t with each error, prefixed by what was checked.
func report(t *testing.T, what string, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Errorf("%s: %v", what, err)
	}
}
