package dryrun

import (
	"context"
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
