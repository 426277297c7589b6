package kube

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestWithCachePrunesOldGenerations: a new generation replaces the old one
// of its name and leaves other names alone.
func TestWithCachePrunesOldGenerations(t *testing.T) {
	cache := t.TempDir()
	k := filepath.Join(cache, "k8s")
	for _, d := range []string{"etcd-v3.7.4-aaaa", "etcd-v3.7.4-bbbb.partial", "crds-cccc", "kubernetes-v1.37.2-dddd"} {
		if err := os.MkdirAll(filepath.Join(k, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	built := 0
	fill := func(string) error { built++; return nil }
	if err := withCache(cache, filepath.Join(k, "etcd-v3.7.4-eeee"), fill); err != nil {
		t.Fatal(err)
	}
	if err := withCache(cache, filepath.Join(k, "etcd-v3.7.4-eeee"), fill); err != nil {
		t.Fatal(err)
	}
	if built != 1 {
		t.Errorf("built %d times, want once", built)
	}
	entries, err := os.ReadDir(k)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{".lock", "crds-cccc", "etcd-v3.7.4-eeee", "kubernetes-v1.37.2-dddd"}
	if !slices.Equal(got, want) {
		t.Errorf("cache holds %q, want %q", got, want)
	}
}
