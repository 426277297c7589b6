// Command k8sgen writes the generated manifests of deploy/k8s/base/generated
// from their sources (check.Generate): run it from anywhere in the
// repository after changing connect/*.json, monitoring/alerts.yml,
// stack/local/jmx/*.yml or the topics' partitions.
//
//	go run ./deploy/k8s/check/cmd/k8sgen
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"shop/deploy/k8s/check"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "k8sgen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := check.RepoRoot()
	if err != nil {
		return err
	}
	files, err := check.Generate(root)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(root, name), files[name], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", name)
	}
	return nil
}
