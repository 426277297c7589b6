package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shop/compat"
	"shop/stack/local"
	"shop/stack/stacktest"
)

// baselineServices are the commands the test runs at the baseline: the
// gateway is always the current one, and the schema is always the current
// one (the baseline's migrations are a prefix of it).
var baselineServices = []string{local.Orders, local.Payments}

// unavailable ends the test when the baseline cannot be had: a skip on a
// developer's machine (no git, a shallow clone), a failure under CI=true,
// where a clean clone of main must have it.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("mixed-version test needs the baseline: %s", msg)
	}
	t.Skipf("mixed-version test skipped: %s", msg)
}

// git runs git in dir and returns its trimmed standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// baselineBinaries returns the baseline's binaries by service, built from a
// detached git worktree of the baseline commit with that commit's own
// go.work, and kept under the user cache directory by commit so that the
// next run on this machine does not build them again.
func baselineBinaries(t *testing.T) (commit string, bins map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := exec.LookPath("git"); err != nil {
		unavailable(t, "no git: %v", err)
	}
	root, err := git(ctx, ".", "rev-parse", "--show-toplevel")
	if err != nil {
		unavailable(t, "not in a git repository: %v", err)
	}
	name, err := compat.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	commit, err = git(ctx, root, "rev-parse", "--verify", "--quiet", name+"^{commit}")
	if err != nil {
		unavailable(t, "baseline commit %s is not in this clone (a shallow clone? `git fetch --unshallow`): %v", name, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "shop", "baseline", commit)
	bins = binariesIn(dir)
	if cached(bins) {
		t.Logf("baseline %s: binaries cached in %s", commit[:12], dir)
		return commit, bins
	}
	start := time.Now()
	if err := buildBaseline(ctx, root, commit, dir); err != nil {
		t.Fatalf("build the baseline %s: %v", commit[:12], err)
	}
	t.Logf("baseline %s: built in %s into %s", commit[:12], time.Since(start).Round(time.Second), dir)
	return commit, bins
}

// cached reports whether every binary of bins exists.
func cached(bins map[string]string) bool {
	for _, path := range bins {
		if _, err := os.Stat(path); err != nil {
			return false
		}
	}
	return true
}

// buildBaseline builds baselineServices of commit into dir: in a detached
// worktree of the repository at root, removed afterwards, into a staging
// directory renamed to dir once every binary is there, so that an
// interrupted build leaves no half cache.
func buildBaseline(ctx context.Context, root, commit, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tree, err := os.MkdirTemp("", "shop-baseline-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	if _, err := git(ctx, root, "worktree", "add", "--detach", tree, commit); err != nil {
		return err
	}
	defer func() {
		// Without a context: the worktree's record must go even after a timeout.
		_, _ = git(context.Background(), root, "worktree", "remove", "--force", tree)
		_, _ = git(context.Background(), root, "worktree", "prune")
	}()
	staging, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	if _, err := local.Build(ctx, tree, staging, stacktest.Logger(), baselineServices...); err != nil {
		return err
	}
	if err := os.Rename(staging, dir); err != nil && !cached(binariesIn(dir)) {
		return err
	}
	return nil
}

// binariesIn returns the paths of the baseline's binaries in dir by service.
func binariesIn(dir string) map[string]string {
	bins := map[string]string{}
	for _, svc := range baselineServices {
		bins[svc] = filepath.Join(dir, svc)
	}
	return bins
}
