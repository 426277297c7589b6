package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CRDsDir is where the generated CRDs are committed, one directory per
// operator, relative to the repository root.
const CRDsDir = "deploy/k8s/crds"

// StrimziVersion is the Strimzi API the Kafka CRDs are generated from
// (deploy/k8s/tools/apis/strimzi/pom.xml pins it).
const StrimziVersion = "1.2.0"

// controllerGenJob generates one operator's CRDs with controller-gen over
// its Go API packages, resolved in the wrapper module that pins them.
type controllerGenJob struct {
	operator string   // the directory under CRDsDir
	options  string   // controller-gen's crd generator, as the operator's own Makefile runs it
	paths    []string // the API packages
	drop     []string // files the operator's own build deletes after generating
	// module and shipped: where the operator's module, at the pinned
	// version, carries the CRDs its own build generated ("" if it does not).
	module, shipped string
}

var controllerGenJobs = []controllerGenJob{
	{operator: "cloudnative-pg", options: "crd",
		paths:  []string{"github.com/cloudnative-pg/cloudnative-pg/api/v1"},
		module: "github.com/cloudnative-pg/cloudnative-pg", shipped: "config/crd/bases"},
	{operator: "keda", options: "crd:crdVersions=v1,generateEmbeddedObjectMeta=true",
		paths:  []string{"github.com/kedacore/keda/v2/apis/keda/v1alpha1"},
		drop:   []string{"keda.sh_withtriggers.yaml"}, // a duck type for deep copies only, as KEDA's Makefile says
		module: "github.com/kedacore/keda/v2", shipped: "config/crd/bases"},
	{operator: "cert-manager", options: "crd",
		paths: []string{"github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1",
			"github.com/cert-manager/cert-manager/pkg/apis/acme/v1"},
		module: "github.com/cert-manager/cert-manager", shipped: "deploy/crds"},
	// monitoring.coreos.com/v1 only: the kinds the shop uses (PrometheusRule,
	// PodMonitor, ServiceMonitor) and the operator's own; the v1alpha1 and
	// v1beta1 kinds (AlertmanagerConfig, ScrapeConfig, PrometheusAgent) are
	// left out, AlertmanagerConfig's two versions being past etcd's request size.
	{operator: "prometheus-operator", options: "crd:crdVersions=v1",
		paths: []string{"github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"}},
}

// strimziCRDs maps each Strimzi custom resource class to its file. Strimzi's
// own build runs the same generator over the same classes.
var strimziCRDs = []struct{ class, file string }{
	{"io.strimzi.api.kafka.model.kafka.Kafka", "kafka.strimzi.io_kafkas.yaml"},
	{"io.strimzi.api.kafka.model.nodepool.KafkaNodePool", "kafka.strimzi.io_kafkanodepools.yaml"},
	{"io.strimzi.api.kafka.model.topic.KafkaTopic", "kafka.strimzi.io_kafkatopics.yaml"},
	{"io.strimzi.api.kafka.model.user.KafkaUser", "kafka.strimzi.io_kafkausers.yaml"},
	{"io.strimzi.api.kafka.model.connect.KafkaConnect", "kafka.strimzi.io_kafkaconnects.yaml"},
	{"io.strimzi.api.kafka.model.connector.KafkaConnector", "kafka.strimzi.io_kafkaconnectors.yaml"},
	{"io.strimzi.api.kafka.model.mirrormaker2.KafkaMirrorMaker2", "kafka.strimzi.io_kafkamirrormaker2s.yaml"},
	{"io.strimzi.api.kafka.model.bridge.KafkaBridge", "kafka.strimzi.io_kafkabridges.yaml"},
	{"io.strimzi.api.kafka.model.rebalance.KafkaRebalance", "kafka.strimzi.io_kafkarebalances.yaml"},
	{"io.strimzi.api.kafka.model.podset.StrimziPodSet", "core.strimzi.io_strimzipodsets.yaml"},
}

// strimziArgs are the generator's options: kafka.strimzi.io/v1 only, served
// and stored (v1beta2 is gone), with the labels Strimzi's install carries.
var strimziArgs = []string{"io.strimzi.crdgenerator.CrdGenerator",
	"--label", "app:strimzi", "--label", "strimzi.io/crd-install:true",
	"--crd-api-version", "v1", "--api-versions", "v1", "--storage-version", "v1", "--yaml"}

// GenerateCRDs returns a directory holding every operator's generated CRDs
// (one subdirectory per operator, laid out as CRDsDir). The output is cached
// under a digest of everything that pins it, so a warm call runs nothing.
func GenerateCRDs(ctx context.Context, root, cacheDir string, tools Tools, log *slog.Logger) (string, error) {
	key, err := crdsKey(root, tools)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "k8s", "crds-"+key)
	return dir, withCache(cacheDir, dir, func(tmp string) error {
		for _, j := range controllerGenJobs {
			start := time.Now()
			if err := controllerGen(ctx, root, tools.ControllerGen, j, filepath.Join(tmp, j.operator)); err != nil {
				return err
			}
			log.Info("generated CRDs", "operator", j.operator, "took", time.Since(start).Round(time.Millisecond))
		}
		start := time.Now()
		if err := strimzi(ctx, root, cacheDir, filepath.Join(tmp, "strimzi"), log); err != nil {
			return err
		}
		log.Info("generated CRDs", "operator", "strimzi", "took", time.Since(start).Round(time.Millisecond))
		return nil
	})
}

// crdsKey digests the pins and the generators' options.
func crdsKey(root string, tools Tools) (string, error) {
	var files []string
	for _, j := range controllerGenJobs {
		m := filepath.Join(root, "deploy/k8s/tools/apis", j.operator)
		files = append(files, filepath.Join(m, "go.mod"), filepath.Join(m, "go.sum"))
	}
	files = append(files, filepath.Join(root, "deploy/k8s/tools/apis/strimzi/pom.xml"))
	return digestFiles(fmt.Sprint(controllerGenJobs, strimziCRDs, strimziArgs, filepath.Base(filepath.Dir(tools.ControllerGen))), files...)
}

// controllerGen runs controller-gen in j's wrapper module, so that the API
// packages resolve against the operator's own dependency versions.
func controllerGen(ctx context.Context, root, bin string, j controllerGenJob, out string) error {
	args := []string{j.options}
	for _, p := range j.paths {
		args = append(args, "paths="+p)
	}
	args = append(args, "output:crd:dir="+out)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Join(root, "deploy/k8s/tools/apis", j.operator)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("controller-gen for %s: %w\n%s", j.operator, err, b)
	}
	for _, f := range j.drop {
		if err := os.Remove(filepath.Join(out, f)); err != nil {
			return fmt.Errorf("controller-gen for %s: %w", j.operator, err)
		}
	}
	return nil
}

// strimzi fetches Strimzi's api and crd-generator jars with mvn (cached)
// and runs the generator under a Java 21 or newer.
func strimzi(ctx context.Context, root, cacheDir, out string, log *slog.Logger) error {
	pom := filepath.Join(root, "deploy/k8s/tools/apis/strimzi/pom.xml")
	key, err := digestFiles("", pom)
	if err != nil {
		return err
	}
	libs := filepath.Join(cacheDir, "k8s", "strimzi-api-"+StrimziVersion+"-"+key)
	if !complete(libs) {
		log.Info("fetching Strimzi's api and crd-generator with mvn", "version", StrimziVersion)
		tmp := libs + ".partial"
		os.RemoveAll(tmp)
		cmd := exec.CommandContext(ctx, "mvn", "-B", "-q", "-f", pom, "dependency:copy-dependencies",
			"-DincludeScope=runtime", "-DoutputDirectory="+tmp)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("fetch Strimzi's generator with mvn: %w\n%s", err, b)
		}
		if err := os.Rename(tmp, libs); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(libs, ".complete"), nil, 0o644); err != nil {
			return err
		}
	}
	java, err := findJava(ctx, 21)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	args := append([]string{"-cp", filepath.Join(libs, "*")}, strimziArgs...)
	for _, c := range strimziCRDs {
		args = append(args, c.class+"="+filepath.Join(out, c.file))
	}
	cmd := exec.CommandContext(ctx, java, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("run Strimzi's CRD generator: %w\n%s", err, b)
	}
	return nil
}

// findJava returns a java of at least the given major version: JAVA_HOME's,
// the one on PATH, or one installed beside it under /usr/lib/jvm or /opt.
func findJava(ctx context.Context, major int) (string, error) {
	var candidates []string
	if h := os.Getenv("JAVA_HOME"); h != "" {
		candidates = append(candidates, filepath.Join(h, "bin", "java"))
	}
	if p, err := exec.LookPath("java"); err == nil {
		candidates = append(candidates, p)
	}
	for _, g := range []string{"/usr/lib/jvm/*/bin/java", "/opt/*/bin/java", "/opt/java/*/bin/java"} {
		m, _ := filepath.Glob(g)
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		candidates = append(candidates, m...)
	}
	for _, c := range candidates {
		b, err := exec.CommandContext(ctx, c, "-version").CombinedOutput()
		if err != nil {
			continue
		}
		if v := javaMajor(string(b)); v >= major {
			return c, nil
		}
	}
	return "", fmt.Errorf("no Java %d or newer found (JAVA_HOME, PATH, /usr/lib/jvm, /opt): Strimzi's API classes need it; install a JDK 21+", major)
}

// javaMajor reads the major version from `java -version` output
// (`openjdk version "25.0.3" 2026-04-21`, or "1.8.0_x" for Java 8).
func javaMajor(out string) int {
	i := strings.Index(out, `version "`)
	if i < 0 {
		return 0
	}
	v := out[i+len(`version "`):]
	v = strings.TrimPrefix(v, "1.")
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}
