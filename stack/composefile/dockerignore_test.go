package composefile_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ory/dockertest/v3/docker/pkg/fileutils"
)

const (
	repoRoot   = "../.."
	dockerfile = "../docker/Dockerfile"
)

// dockerignore returns the patterns of the repository's .dockerignore as
// the Docker client reads them (comments and blank lines skipped).
func dockerignore(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatalf("the build context needs a .dockerignore: %v", err)
	}
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, filepath.Clean(line))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return patterns
}

// The Dockerfile copies the whole context (COPY . .), so .dockerignore at
// the context's root must keep local secrets, data, tools and history out
// of every layer, and must keep everything the build needs.
func TestDockerignore(t *testing.T) {
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	copiesContext := false
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.EqualFold(f[0], "COPY") && !strings.HasPrefix(f[1], "--from") && f[1] == "." {
			copiesContext = true
		}
	}
	if !copiesContext {
		t.Fatalf("%s no longer copies the context root: revisit what .dockerignore must exclude", dockerfile)
	}
	patterns := dockerignore(t)
	tests := []struct {
		path     string
		excluded bool
	}{
		{".env", true},
		{".env.local", true},
		{"stack/.env", true},
		{".data/devissuer/key.pem", true},
		{".data/orders/postgresql.conf", true},
		{".data-bench/kafka/meta.properties", true},
		{".bin/stack", true},
		{".bin/staticcheck", true},
		{".git/config", true},
		{".git/objects/pack/x.pack", true},
		{"bench/results/run.json", true},
		{"gateway/app/app.test", true},
		{"shopctl/shopctl", true},
		{"go.mod", false},
		{"go.work", false},
		{"orders/cmd/orders/main.go", false},
		{"sql/orders/0001_init.sql", false},
		{"gateway/docs/swagger.json", false},
		{"stack/docker/Dockerfile", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := fileutils.Matches(tt.path, patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.excluded {
				t.Errorf("%s excluded from the build context: %v, want %v", tt.path, got, tt.excluded)
			}
		})
	}
	// Nothing the build reads is excluded: Go sources, modules and what
	// they embed.
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() {
			if skip, err := fileutils.Matches(rel, patterns); err != nil || skip {
				return err // excluded wholesale, or an error
			}
			if strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" {
				return filepath.SkipDir // another worktree's or a tool's state
			}
			return nil
		}
		switch ext := filepath.Ext(rel); {
		case ext == ".go" && !strings.HasSuffix(rel, "_test.go"), ext == ".sql", ext == ".mod", ext == ".sum", rel == "go.work":
			if skip, err := fileutils.Matches(rel, patterns); err != nil || skip {
				t.Errorf("%s, which the build needs, is excluded from the context (err %v)", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
