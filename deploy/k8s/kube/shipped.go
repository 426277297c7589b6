package kube

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ShippedCRDs returns, per operator whose Go module carries the CRDs its
// own build generated (CloudNativePG, KEDA, cert-manager), that directory
// in the module cache at the pinned version. Comparing them with ours
// shows that the generation here is the operator's own, not an
// approximation of it.
func ShippedCRDs(ctx context.Context, root string) (map[string]string, error) {
	dirs := map[string]string{}
	for _, j := range controllerGenJobs {
		if j.shipped == "" {
			continue
		}
		cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", j.module)
		cmd.Dir = filepath.Join(root, "deploy/k8s/tools/apis", j.operator)
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("find %s in the module cache: %w", j.module, err)
		}
		dir := strings.TrimSpace(string(out))
		if dir == "" {
			return nil, fmt.Errorf("%s is not in the module cache (run make crds)", j.module)
		}
		dirs[j.operator] = filepath.Join(dir, j.shipped)
	}
	return dirs, nil
}
