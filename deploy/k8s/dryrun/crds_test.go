package dryrun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shop/deploy/k8s/kube"
)

// TestCRDsAreGenerated fails when deploy/k8s/crds is not exactly what the
// pinned generators write: edited by hand, or a pin moved without `make
// crds`. Warm, it compares against the generated copy in the cache.
func TestCRDsAreGenerated(t *testing.T) {
	ctx := context.Background()
	tools, err := kube.EnsureControllerGen(ctx, root, cacheDir(), logger())
	if err != nil {
		t.Fatal(err)
	}
	generated, err := kube.GenerateCRDs(ctx, root, cacheDir(), tools, logger())
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := kube.DiffCRDs(generated, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("deploy/k8s/crds is not what the pinned generators write (run `make crds`):\n%s", strings.Join(diffs, "\n"))
	}
}

// TestCRDsAreWhatOperatorsShip: where an operator's module carries the CRDs
// its own build generated, ours are byte for byte the same, so the pinned
// generator and options are the operator's own (deploy/k8s/README.md says
// so). A moved pin that breaks this needs the operator's controller-gen
// version or options, not an edit.
func TestCRDsAreWhatOperatorsShip(t *testing.T) {
	ctx := context.Background()
	shipped, err := kube.ShippedCRDs(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	for operator, dir := range shipped {
		t.Run(operator, func(t *testing.T) {
			ours, err := filepath.Glob(filepath.Join(root, kube.CRDsDir, operator, "*.yaml"))
			if err != nil || len(ours) == 0 {
				t.Fatalf("no CRDs of %s (%v)", operator, err)
			}
			for _, f := range ours {
				want, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
				if err != nil {
					t.Errorf("%s ships no %s: %v", operator, filepath.Base(f), err)
					continue
				}
				got, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the one %s ships (%s)", filepath.Base(f), operator, dir)
				}
			}
		})
	}
}
