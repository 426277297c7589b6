// Package jars fetches the Java side of the stack from Maven Central with
// mvn: the Kafka broker, its tools and Kafka Connect in one directory, the
// Debezium PostgreSQL connector as a Connect plugin directory without
// Kafka's own jars, and the Prometheus JMX exporter Java agent. They are
// cached outside the repository; a second fetch downloads nothing.
package jars

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

//go:embed maven/kafka/pom.xml maven/debezium/pom.xml maven/jmx/pom.xml maven/connectauth/pom.xml
var poms embed.FS

// Layout is where the fetched jars are.
type Layout struct {
	// KafkaLibs holds the broker, tools, Connect runtime and the Log4j2
	// SLF4J binding: the classpath of both JVMs.
	KafkaLibs string
	// PluginPath is Connect's plugin.path; it holds debezium-postgres/.
	PluginPath string
	// JMXAgent is the Prometheus JMX exporter Java agent's jar
	// (-javaagent:JMXAgent=host:port:config.yml).
	JMXAgent string
	// ConnectRESTAuth holds Kafka's basic-auth REST extension
	// (BasicAuthSecurityRestExtension), on Connect's classpath.
	ConnectRESTAuth string
}

// version names the cache generation; bump it when a pom changes.
const version = "kafka-4.3.1-debezium-3.6.1-v1"

// The JMX exporter is a generation of its own (maven/jmx/pom.xml), so that
// adding or bumping it fetches nothing else again.
const (
	jmxVersion = "1.0.1"
	jmxDir     = "jmx-exporter-" + jmxVersion
)

// The basic-auth REST extension is a generation of its own too
// (maven/connectauth/pom.xml), at the Kafka version.
const connectAuthDir = "connect-basic-auth-extension-4.3.1"

// DefaultCacheDir is $STACK_CACHE_DIR's default: the user's cache directory.
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "shop-stack")
}

// step is one mvn dependency:copy-dependencies of an embedded pom.
type step struct {
	what, pom, out string
	extra          []string
}

// Fetch makes sure the jars are in cacheDir and returns their layout.
func Fetch(ctx context.Context, cacheDir string, log *slog.Logger) (Layout, error) {
	root := filepath.Join(cacheDir, version)
	l := Layout{
		KafkaLibs:  filepath.Join(root, "kafka-libs"),
		PluginPath: filepath.Join(root, "plugins"),
		JMXAgent:   filepath.Join(cacheDir, jmxDir, "jmx_prometheus_javaagent-"+jmxVersion+".jar"),
		// The generation's directory itself: fetchGeneration renames the
		// step's output directory to it.
		ConnectRESTAuth: filepath.Join(cacheDir, connectAuthDir),
	}
	tmp := root + ".partial"
	if err := fetchGeneration(ctx, root, log, []step{
		{"Kafka 4.3.1 broker, tools and Connect runtime", "maven/kafka/pom.xml", filepath.Join(tmp, "kafka-libs"), nil},
		{"Debezium PostgreSQL connector 3.6.1.Final", "maven/debezium/pom.xml", filepath.Join(tmp, "plugins", "debezium-postgres"),
			[]string{"-DexcludeGroupIds=org.apache.kafka"}},
	}); err != nil {
		return l, err
	}
	jmxRoot := filepath.Join(cacheDir, jmxDir)
	if err := fetchGeneration(ctx, jmxRoot, log, []step{
		{"Prometheus JMX exporter Java agent " + jmxVersion, "maven/jmx/pom.xml", jmxRoot + ".partial", []string{"-DexcludeTransitive=true"}},
	}); err != nil {
		return l, err
	}
	authRoot := filepath.Join(cacheDir, connectAuthDir)
	if err := fetchGeneration(ctx, authRoot, log, []step{
		{"Kafka Connect basic-auth REST extension 4.3.1", "maven/connectauth/pom.xml", authRoot + ".partial", []string{"-DexcludeTransitive=true"}},
	}); err != nil {
		return l, err
	}
	return l, nil
}

// fetchGeneration fills the cache directory root with steps, which write
// under root+".partial", unless root is complete already.
func fetchGeneration(ctx context.Context, root string, log *slog.Logger, steps []step) error {
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return nil
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return fmt.Errorf("fetch jars: mvn not found on PATH (install Maven): %w", err)
	}
	tmp := root + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	for _, s := range steps {
		start := time.Now()
		log.Info("fetching with mvn", "what", s.what)
		pomDir, err := os.MkdirTemp("", "stack-pom-")
		if err != nil {
			return err
		}
		b, _ := poms.ReadFile(s.pom)
		if err := os.WriteFile(filepath.Join(pomDir, "pom.xml"), b, 0o644); err != nil {
			return err
		}
		args := append([]string{"-B", "-q", "-f", filepath.Join(pomDir, "pom.xml"),
			"dependency:copy-dependencies", "-DincludeScope=runtime", "-DoutputDirectory=" + s.out}, s.extra...)
		cmd := exec.CommandContext(ctx, "mvn", args...)
		out, err := cmd.CombinedOutput()
		os.RemoveAll(pomDir)
		if err != nil {
			return fmt.Errorf("fetch %s with mvn: %w\n%s", s.what, err, tail(out, 40))
		}
		log.Info("fetched", "what", s.what, "took", time.Since(start).Round(time.Millisecond))
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	if err := os.Rename(tmp, root); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, ".complete"), []byte(filepath.Base(root)+"\n"), 0o644); err != nil {
		return err
	}
	return nil
}

func tail(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
