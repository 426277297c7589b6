package dryrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/deploy/k8s/kube"
	"shop/stack/jars"
)

// root is the repository root, from this package's directory.
const root = "../../.."

var (
	setupOnce sync.Once
	server    *kube.Server
	serverDir string
	setupErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	if serverDir != "" {
		os.RemoveAll(serverDir)
	}
	os.Exit(code)
}

func cacheDir() string {
	if d := os.Getenv("STACK_CACHE_DIR"); d != "" {
		return d
	}
	return jars.DefaultCacheDir()
}

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// apiServer returns the package's API server with the committed CRDs
// installed, starting it on first use (building the binaries first if the
// cache lacks them, which `make k8s-tools` does ahead of `make test`).
func apiServer(t *testing.T) *kube.Server {
	t.Helper()
	setupOnce.Do(func() { server, setupErr = startWithCRDs(context.Background()) })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return server
}

func startWithCRDs(ctx context.Context) (*kube.Server, error) {
	tools, err := kube.EnsureTools(ctx, root, cacheDir(), logger())
	if err != nil {
		return nil, err
	}
	serverDir, err = os.MkdirTemp("", "manifest-check-")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	s, err := kube.Start(ctx, tools, serverDir)
	if err != nil {
		return nil, err
	}
	logger().Info("API server ready", "url", s.URL, "took", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	// Installed for real, as the operators' own installs do (created, not
	// applied: the largest are past client-side apply's annotation limit).
	if _, err := s.Kubectl(ctx, nil, "create", "-R", "-f", filepath.Join(root, kube.CRDsDir)); err != nil {
		s.Stop()
		return nil, fmt.Errorf("install the CRDs: %w", err)
	}
	logger().Info("CRDs created", "took", time.Since(start).Round(time.Millisecond))
	if _, err := s.Kubectl(ctx, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"); err != nil {
		s.Stop()
		return nil, err
	}
	logger().Info("CRDs installed and established", "took", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// dryRun sends manifests through `kubectl apply --dry-run=server
// --validate=strict --warnings-as-errors` (a warning from the API server,
// such as a deprecated version or an environment variable set twice,
// fails too), then through the same dry run as a server-side apply, which
// also refuses duplicate keys in any keyed list (containers, ports, env).
// Their namespaces are created for real first (an object is admitted only
// into a namespace that exists). It returns kubectl's output; the error is
// kubectl's refusal.
func dryRun(ctx context.Context, s *kube.Server, manifests []byte) ([]byte, error) {
	namespaces, err := namespacesOf(ctx, s, manifests)
	if err != nil {
		return nil, err
	}
	for _, ns := range namespaces {
		if err := createNamespace(ctx, s, ns); err != nil {
			return nil, err
		}
	}
	out, err := s.Kubectl(ctx, bytes.NewReader(manifests), "apply", "--dry-run=server", "--validate=strict", "--warnings-as-errors", "-f", "-")
	if err != nil {
		return out, err
	}
	ssa, err := s.Kubectl(ctx, bytes.NewReader(manifests), "apply", "--server-side", "--field-manager=manifest-check",
		"--dry-run=server", "--validate=strict", "-f", "-")
	return append(out, ssa...), err
}

func createNamespace(ctx context.Context, s *kube.Server, name string) error {
	out, err := s.Kubectl(ctx, nil, "create", "namespace", "--save-config", name)
	if err != nil && !strings.Contains(string(out), "AlreadyExists") {
		return err
	}
	return nil
}

// namespacesOf lists the namespaces the manifests' objects live in, and
// those they create, as kubectl reads them (client side, nothing sent).
func namespacesOf(ctx context.Context, s *kube.Server, manifests []byte) ([]string, error) {
	out, err := s.Kubectl(ctx, bytes.NewReader(manifests), "create", "--dry-run=client", "--validate=false", "-o", "json", "-f", "-")
	if err != nil {
		return nil, err
	}
	type object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name, Namespace string
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	set := map[string]bool{}
	var add func(raw []byte) error
	add = func(raw []byte) error {
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		switch {
		case o.Kind == "List":
			for _, it := range o.Items {
				if err := add(it); err != nil {
					return err
				}
			}
		case o.Kind == "Namespace":
			set[o.Metadata.Name] = true
		case o.Metadata.Namespace != "":
			set[o.Metadata.Namespace] = true
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read kubectl's objects: %w", err)
		}
		if err := add(raw); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
