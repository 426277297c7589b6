package check

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesFresh fails when a file of GeneratedDir differs from
// what its source (connect/*.json, monitoring/alerts.yml,
// stack/local/jmx/*.yml, the topics' partitions) renders to now.
func TestGeneratedFilesFresh(t *testing.T) {
	r := root(t)
	files, err := Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := filepath.Glob(filepath.Join(r, GeneratedDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(onDisk) != len(files) {
		t.Errorf("%s holds %d files, the generator writes %d: run go run ./deploy/k8s/check/cmd/k8sgen", GeneratedDir, len(onDisk), len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(r, name))
		if err != nil {
			t.Errorf("%v: run go run ./deploy/k8s/check/cmd/k8sgen", err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: run go run ./deploy/k8s/check/cmd/k8sgen", name)
		}
	}
}
