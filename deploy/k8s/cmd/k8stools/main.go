// Command k8stools builds what the manifest check needs and regenerates the
// operators' CRDs (see deploy/k8s/README.md):
//
//	k8stools tools   build etcd, kube-apiserver, kubectl and controller-gen into
//	                 the cache (once per machine) and generate the CRDs there
//	k8stools crds    regenerate deploy/k8s/crds/ from the pinned API definitions
//
// It runs from the repository root; STACK_CACHE_DIR overrides the cache
// directory (default ~/.cache/shop-stack).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"shop/deploy/k8s/kube"
	"shop/stack/jars"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "k8stools:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) != 1 || (args[0] != "tools" && args[0] != "crds") {
		return errors.New("usage: k8stools tools|crds")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cacheDir := os.Getenv("STACK_CACHE_DIR")
	if cacheDir == "" {
		cacheDir = jars.DefaultCacheDir()
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	ensure := kube.EnsureTools
	if args[0] == "crds" {
		ensure = kube.EnsureControllerGen
	}
	tools, err := ensure(ctx, root, cacheDir, log)
	if err != nil {
		return err
	}
	generated, err := kube.GenerateCRDs(ctx, root, cacheDir, tools, log)
	if err != nil {
		return err
	}
	if args[0] == "tools" {
		log.Info("ready", "kube-apiserver", tools.APIServer, "kubectl", tools.Kubectl, "etcd", tools.Etcd, "crds", generated)
		return nil
	}
	changed, err := kube.WriteCRDs(generated, root)
	if err != nil {
		return err
	}
	log.Info("deploy/k8s/crds regenerated", "files changed", changed)
	return nil
}
