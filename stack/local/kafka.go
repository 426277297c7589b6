package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"shop/stack/jars"
)

// log4j2 configuration shared by the broker and Connect: everything to the
// process's stdout (our log file), Kafka's chatty internals at WARN.
const log4j2 = `status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = %s
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.connect.name = org.apache.kafka.connect.runtime.Worker
logger.connect.level = info
logger.debezium.name = io.debezium
logger.debezium.level = info
`

// KafkaConfig configures the local Kafka node.
type KafkaConfig struct {
	Dir            string
	Port           int
	ControllerPort int
	// MetricsPort is where the JMX exporter agent serves the broker's
	// metrics (/metrics on 127.0.0.1); 0 runs no agent.
	MetricsPort int
	Jars        jars.Layout
	HeapMB      int
	// Secrets holds KafkaAdmin's password (required): Port is a
	// SASL_PLAINTEXT listener (SCRAM-SHA-512 for the principals, PLAIN for
	// KafkaAdmin) with ACLs and no access without one.
	Secrets KafkaSecrets
	// PlaintextPort, when not 0, adds a PLAINTEXT listener there: its
	// clients are the principal ANONYMOUS, with no access unless an ACL
	// grants one (the test stack's, for clients that predate SASL).
	PlaintextPort int
}

// Brokers returns the node's bootstrap addresses (SASL).
func (cfg KafkaConfig) Brokers() []string { return []string{fmt.Sprintf("127.0.0.1:%d", cfg.Port)} }

// PlaintextBrokers returns the PLAINTEXT listener's address, nil without one.
func (cfg KafkaConfig) PlaintextBrokers() []string {
	if cfg.PlaintextPort == 0 {
		return nil
	}
	return []string{fmt.Sprintf("127.0.0.1:%d", cfg.PlaintextPort)}
}

// listenerProps are the broker's listeners.
func (cfg KafkaConfig) listenerProps() string {
	listeners := fmt.Sprintf("SASL_PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", cfg.Port, cfg.ControllerPort)
	advertised := fmt.Sprintf("SASL_PLAINTEXT://127.0.0.1:%d", cfg.Port)
	if cfg.PlaintextPort != 0 {
		plain := fmt.Sprintf(",PLAINTEXT://127.0.0.1:%d", cfg.PlaintextPort)
		listeners += plain
		advertised += plain
	}
	return fmt.Sprintf(`listeners=%s
advertised.listeners=%s
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT
`, listeners, advertised)
}

func javaBin() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return filepath.Join(h, "bin", "java"), nil
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("java not found: install a JDK 17 or newer: %w", err)
	}
	return p, nil
}

func writeLog4j(dir, rootLevel string) (string, error) {
	p := filepath.Join(dir, "log4j2.properties")
	return p, os.WriteFile(p, []byte(strings.Replace(log4j2, "%s", rootLevel, 1)), 0o644)
}

func jvmArgs(dir string, heapMB int, l jars.Layout, log4jPath string) []string {
	return []string{
		fmt.Sprintf("-Xms%dm", heapMB/2), fmt.Sprintf("-Xmx%dm", heapMB),
		"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + log4jPath,
		"-Djava.io.tmpdir=" + dir,
		"-cp", filepath.Join(l.KafkaLibs, "*"),
	}
}

// KafkaComponent is the Kafka node as a Component named "kafka": each start
// formats the log directory on first use and starts the node; it is ready
// when the broker answers metadata requests.
func KafkaComponent(cfg KafkaConfig, log *slog.Logger) Component {
	return Component{
		Name:  NameKafka,
		Attrs: []any{"port", cfg.Port},
		Start: func(ctx context.Context) (*Process, error) { return startKafka(ctx, cfg, log) },
		Ready: func(context.Context) error {
			sc := cfg.Secrets.AdminConfig()
			sc.Net.DialTimeout = 2 * time.Second
			admin, err := sarama.NewClusterAdmin(cfg.Brokers(), sc)
			if err != nil {
				return err
			}
			defer admin.Close()
			_, _, err = admin.DescribeCluster()
			return err
		},
		ReadyTimeout: 90 * time.Second,
		StopSignal:   syscall.SIGTERM,
		StopGrace:    30 * time.Second,
	}
}

// startKafka is one start of KafkaComponent.
func startKafka(ctx context.Context, cfg KafkaConfig, log *slog.Logger) (*Process, error) {
	if err := checkPort("kafka", cfg.Port, "KAFKA_PORT"); err != nil {
		return nil, err
	}
	if err := checkPort("kafka controller", cfg.ControllerPort, "KAFKA_CONTROLLER_PORT"); err != nil {
		return nil, err
	}
	if cfg.Secrets.Password(KafkaAdmin) == "" {
		return nil, errors.New("kafka: no admin password")
	}
	if cfg.MetricsPort != 0 {
		if err := checkPort("kafka metrics", cfg.MetricsPort, "KAFKA_METRICS_PORT"); err != nil {
			return nil, err
		}
	}
	java, err := javaBin()
	if err != nil {
		return nil, err
	}
	if cfg.HeapMB == 0 {
		cfg.HeapMB = 768
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	logDir := filepath.Join(cfg.Dir, "data")
	// metadata.max.idle.interval.ms: the active controller appends a no-op
	// record to the metadata log when nothing else was written for this
	// long (500 ms by default), so that followers and brokers can tell how
	// fresh their metadata is. Each append is a write and an fsync of the
	// metadata log and wakes the raft and controller threads: about 1 % of
	// a core at rest here. This node is the only controller and broker, and
	// nothing reads those freshness metrics, so once in 5 s is enough.
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
log.dirs=%[3]s
num.partitions=6
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
metadata.max.idle.interval.ms=5000
log.retention.hours=168
`, cfg.Port, cfg.ControllerPort, logDir) + cfg.listenerProps() + brokerAuthProps(cfg.Secrets.Password(KafkaAdmin))
	// The file holds the admin's password: owner-only.
	propsPath := filepath.Join(cfg.Dir, "server.properties")
	if err := writePrivate(propsPath, props); err != nil {
		return nil, err
	}
	l4j, err := writeLog4j(cfg.Dir, "warn")
	if err != nil {
		return nil, err
	}
	base := jvmArgs(cfg.Dir, cfg.HeapMB, cfg.Jars, l4j)
	if _, err := os.Stat(filepath.Join(logDir, "meta.properties")); err != nil {
		log.Info("formatting kafka storage (KRaft)", "dir", logDir)
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		clusterID := base64.RawURLEncoding.EncodeToString(id)
		args := append(append([]string{}, base...), "kafka.tools.StorageTool", "format", "--cluster-id="+clusterID, "--config="+propsPath)
		out, err := exec.CommandContext(ctx, java, args...).CombinedOutput()
		if err != nil {
			return nil, &StartError{Component: "kafka", Err: fmt.Errorf("format storage: %w", err), Tail: string(out)}
		}
	}
	agent, err := metricsAgent(cfg.Jars.JMXAgent, cfg.Dir, cfg.MetricsPort, "kafka.yml")
	if err != nil {
		return nil, err
	}
	argv := append(append(append([]string{java}, agent...), base...), "kafka.Kafka", propsPath)
	return startProcess("kafka", filepath.Join(cfg.Dir, "kafka.log"), procOptions{dir: cfg.Dir, nice: pipelineNice}, argv...)
}

// pipelineNice is the nice value of Kafka and Kafka Connect (startNiced).
// They carry only the asynchronous part of an order (its events), while
// the gateway, the services and Postgres answer the shopper who waits for
// POST /api/v1/orders: when the cores are short, the scheduler serves the
// waiting request first and the events a moment later, instead of both
// alike. At 5 the JVMs weigh about a third of a default process
// (docs/performance.md, "How `make run` shares the cores").
const pipelineNice = 5

// CreateTopics creates each topic with the given partitions unless it
// exists, with sc (an administrator's configuration: KafkaSecrets.AdminConfig).
func CreateTopics(brokers []string, sc *sarama.Config, partitions int32, topics ...string) error {
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	for _, t := range topics {
		err := admin.CreateTopic(t, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// writePrivate writes content to path, readable by its owner alone, even
// when the file exists with wider permissions.
func writePrivate(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
