// Package kube brings up the strongest check of deploy/k8s short of a
// cluster: a real etcd and kube-apiserver on loopback, kubectl (with its
// kustomize) to talk to them, and the operators' CustomResourceDefinitions
// generated from their published API definitions.
//
// Every binary is built from the Go module proxy at the versions pinned by
// the wrapper modules under deploy/k8s/tools/ and cached outside the
// repository, under the stack's cache directory (like the Kafka jars): the
// first build takes minutes, every later call finds it. Builds hold a lock
// in the cache directory, so concurrent callers build once.
package kube

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Pinned versions; each must match the wrapper module that builds it
// (TestPinsMatchWrappers checks).
const (
	KubernetesVersion      = "v1.37.2"
	EtcdVersion            = "v3.7.4"
	ControllerToolsVersion = "v0.21.0"
)

// Tools are the paths of the built binaries.
type Tools struct {
	Etcd, APIServer, Kubectl, ControllerGen string
}

// binary is one go build in a wrapper module.
type binary struct {
	what    string   // for the progress log
	name    string   // the cache directory's prefix
	module  string   // the wrapper module, relative to the repository root
	pkgs    []string // main packages, built into the cache directory
	out     []string // file names, one per package
	ldflags string
	took    string // how long a cold build takes on 2 cores, idle to busy, for the log
}

var binaries = []binary{
	{
		what: "etcd " + EtcdVersion, name: "etcd-" + EtcdVersion, module: "deploy/k8s/tools/etcd",
		pkgs: []string{"go.etcd.io/etcd/server/v3"}, out: []string{"etcd"},
		took: "2 to 8 minutes",
	},
	{
		what: "kube-apiserver and kubectl " + KubernetesVersion, name: "kubernetes-" + KubernetesVersion,
		module: "deploy/k8s/tools/apiserver",
		pkgs:   []string{"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kubectl"},
		out:    []string{"kube-apiserver", "kubectl"},
		// The staging modules report v0.37.2 as their own version; the
		// binaries say which Kubernetes they are.
		ldflags: "-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
			" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" +
			" -X k8s.io/component-base/version.gitTreeState=clean" +
			" -X k8s.io/client-go/pkg/version.gitVersion=" + KubernetesVersion,
		took: "6 to 35 minutes, by load",
	},
	{
		what: "controller-gen " + ControllerToolsVersion, name: "controller-gen-" + ControllerToolsVersion,
		module: "deploy/k8s/tools/controller-gen",
		pkgs:   []string{"sigs.k8s.io/controller-tools/cmd/controller-gen"}, out: []string{"controller-gen"},
		ldflags: "-X sigs.k8s.io/controller-tools/pkg/version.version=" + ControllerToolsVersion,
		took:    "about 2 minutes",
	},
}

// EnsureTools returns the binaries, building those the cache lacks from the
// wrapper modules under root (the repository). Progress goes to log.
func EnsureTools(ctx context.Context, root, cacheDir string, log *slog.Logger) (Tools, error) {
	return ensure(ctx, root, cacheDir, log, binaries)
}

// EnsureControllerGen is EnsureTools for controller-gen alone (the other
// fields stay empty).
func EnsureControllerGen(ctx context.Context, root, cacheDir string, log *slog.Logger) (Tools, error) {
	return ensure(ctx, root, cacheDir, log, binaries[len(binaries)-1:])
}

func ensure(ctx context.Context, root, cacheDir string, log *slog.Logger, bs []binary) (Tools, error) {
	var t Tools
	for _, b := range bs {
		dir, err := ensureBinary(ctx, root, cacheDir, b, log)
		if err != nil {
			return t, err
		}
		for _, o := range b.out {
			p := filepath.Join(dir, o)
			switch o {
			case "etcd":
				t.Etcd = p
			case "kube-apiserver":
				t.APIServer = p
			case "kubectl":
				t.Kubectl = p
			case "controller-gen":
				t.ControllerGen = p
			}
		}
	}
	return t, nil
}

// ensureBinary returns b's cache directory, building it when absent. The
// directory's name carries a digest of the wrapper module's go.mod, go.sum
// and link flags, so a changed pin builds again.
func ensureBinary(ctx context.Context, root, cacheDir string, b binary, log *slog.Logger) (string, error) {
	mod := filepath.Join(root, b.module)
	key, err := digestFiles(b.ldflags, filepath.Join(mod, "go.mod"), filepath.Join(mod, "go.sum"))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "k8s", b.name+"-"+key)
	return dir, withCache(cacheDir, dir, func(tmp string) error {
		log.Info("building from the Go module proxy (once per machine)", "what", b.what, "into", dir, "cold build", b.took)
		start := time.Now()
		for i, pkg := range b.pkgs {
			args := []string{"build", "-v", "-o", filepath.Join(tmp, b.out[i])}
			if b.ldflags != "" {
				args = append(args, "-ldflags", b.ldflags)
			}
			if err := goBuild(ctx, mod, append(args, pkg), b.out[i], log); err != nil {
				return fmt.Errorf("build %s: %w", b.what, err)
			}
		}
		log.Info("built", "what", b.what, "took", time.Since(start).Round(time.Second))
		return nil
	})
}

// withCache runs fill on dir+".partial" unless dir is complete, under the
// cache's lock, then moves it into place. dir is named "<prefix>-<digest>";
// the other generations of the same prefix (a pin since moved) are removed
// once it is complete, so the cache holds one of each.
func withCache(cacheDir, dir string, fill func(tmp string) error) error {
	if complete(dir) {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(cacheDir, "k8s"), 0o755); err != nil {
		return err
	}
	unlock, err := lock(filepath.Join(cacheDir, "k8s", ".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if complete(dir) { // another process built it while we waited
		return nil
	}
	tmp := dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), []byte(filepath.Base(dir)+"\n"), 0o644); err != nil {
		return err
	}
	return pruneGenerations(dir)
}

// pruneGenerations removes the siblings of dir that differ from it only in
// their digest (the part after the last "-").
func pruneGenerations(dir string) error {
	prefix := dir[:strings.LastIndex(dir, "-")+1]
	old, err := filepath.Glob(prefix + "*")
	if err != nil {
		return err
	}
	for _, o := range old {
		rest := strings.TrimPrefix(o, prefix)
		if o == dir || strings.Contains(rest, "-") {
			continue // itself, or a longer name that shares the prefix
		}
		if err := os.RemoveAll(o); err != nil {
			return err
		}
	}
	return nil
}

func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".complete"))
	return err == nil
}

// lock takes an exclusive flock on path, waiting for other processes.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// goBuild runs go in the wrapper module mod, outside the workspace, and
// logs how many packages it has compiled every half minute.
func goBuild(ctx context.Context, mod string, args []string, what string, log *slog.Logger) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var compiled atomic.Int64
	var last lastLines
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			compiled.Add(1)
			last.add(sc.Text())
		}
		io.Copy(io.Discard, stderr)
	}()
	start := time.Now()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			log.Info("still building", "what", what, "packages compiled", compiled.Load(),
				"elapsed", time.Since(start).Round(time.Second))
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, last.String())
	}
	return nil
}

// lastLines keeps the last 40 lines of a command's output for its error.
type lastLines struct{ lines []string }

func (l *lastLines) add(s string) {
	l.lines = append(l.lines, s)
	if len(l.lines) > 40 {
		l.lines = l.lines[1:]
	}
}

func (l *lastLines) String() string { return strings.Join(l.lines, "\n") }

// digestFiles is a short hex digest of extra and the files' contents.
func digestFiles(extra string, files ...string) (string, error) {
	h := sha256.New()
	io.WriteString(h, extra)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "\x00%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
