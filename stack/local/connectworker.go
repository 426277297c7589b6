package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"shop/connect"
	"shop/stack/jars"
)

// ConnectConfig configures the local Kafka Connect worker.
type ConnectConfig struct {
	Dir  string
	Port int
	// MetricsPort is where the JMX exporter agent serves the worker's and
	// Debezium's metrics (/metrics on 127.0.0.1); 0 runs no agent.
	MetricsPort int
	Brokers     []string
	Jars        jars.Layout
	HeapMB      int
	// GroupID names the Connect cluster; its internal topics are prefixed
	// with it. Default "shop-connect".
	GroupID string
	// SecretsDir is the one directory connector configs may read through
	// the directory config provider, ${dir:SecretsDir:name} (default
	// Dir/secrets); Secrets are written into it on every start, one
	// owner-only file per name.
	SecretsDir string
	Secrets    map[string]string
	// KafkaSecrets holds the password of KafkaConnect, the principal the
	// worker and its connectors' producers, consumers and admin clients
	// authenticate as (required).
	KafkaSecrets KafkaSecrets
}

// ConnectGroup is the group of the stack's Connect worker.
const ConnectGroup = "shop-connect"

// ConnectWorker is a running Kafka Connect worker in distributed mode.
type ConnectWorker struct {
	*Process
	cfg  ConnectConfig
	cred connect.Credentials
}

// Credentials are what the worker's REST API asks for: user ConnectUser
// and the password generated into its data directory on the first start
// (ConnectPasswordFile).
func (c *ConnectWorker) Credentials() connect.Credentials { return c.cred }

// SecretsDir is the directory its connector configs read secrets from.
func (c *ConnectWorker) SecretsDir() string { return c.cfg.SecretsDir }

// URL is the worker's REST address.
func (c *ConnectWorker) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.cfg.Port) }

// MetricsURL is the address of the worker's JMX exporter (/metrics), empty
// when it runs none.
func (c *ConnectWorker) MetricsURL() string {
	if c.cfg.MetricsPort == 0 || c.cfg.Jars.JMXAgent == "" {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.cfg.MetricsPort)
}

// connectTimerSlack is the timer slack of the Kafka Connect worker
// (startWithTimerSlack): an idle connector's poll then sleeps through the
// end of its interval instead of spinning the last fraction of a
// millisecond. Its timed waits may end up to this much late.
const connectTimerSlack = time.Millisecond

// StartConnect starts one distributed-mode worker (internal topics with
// replication factor 1) with the Debezium plugin on plugin.path. It returns
// when the REST API lists the Debezium PostgreSQL connector.
func StartConnect(ctx context.Context, cfg ConnectConfig, log *slog.Logger) (*ConnectWorker, error) {
	cfg = cfg.withDefaults()
	c, cred, err := connectComponent(cfg)
	if err != nil {
		return nil, err
	}
	p, err := c.start(ctx, log)
	if err != nil {
		return nil, err
	}
	return &ConnectWorker{Process: p, cfg: cfg, cred: cred}, nil
}

func (cfg ConnectConfig) withDefaults() ConnectConfig {
	if cfg.HeapMB == 0 {
		cfg.HeapMB = 768
	}
	if cfg.GroupID == "" {
		cfg.GroupID = ConnectGroup
	}
	if cfg.SecretsDir == "" {
		cfg.SecretsDir = filepath.Join(cfg.Dir, "secrets")
	}
	return cfg
}

// ConnectComponent is the worker as a Component named "kafka connect",
// depending on "kafka"; it is ready when the REST API lists the Debezium
// PostgreSQL connector. The connectors' configurations and offsets live in
// Kafka, so a restarted worker resumes them. Its REST API asks for the
// credentials it returns (ConnectUser, a password generated into cfg.Dir on
// the first start and kept after).
func ConnectComponent(cfg ConnectConfig) (Component, connect.Credentials, error) {
	return connectComponent(cfg.withDefaults())
}

func connectComponent(cfg ConnectConfig) (Component, connect.Credentials, error) {
	cred, _, err := ensureRESTAuth(cfg.Dir)
	if err != nil {
		return Component{}, cred, fmt.Errorf("kafka connect rest credentials: %w", err)
	}
	w := &ConnectWorker{cfg: cfg}
	client, err := connect.NewClient(w.URL(), cred)
	if err != nil {
		return Component{}, cred, err
	}
	return Component{
		Name:         NameConnect,
		Attrs:        []any{"port", cfg.Port, "plugin.path", cfg.Jars.PluginPath},
		Start:        func(context.Context) (*Process, error) { return startConnect(cfg) },
		Ready:        client.Ready,
		ReadyTimeout: 180 * time.Second,
		StopSignal:   syscall.SIGTERM,
		StopGrace:    30 * time.Second,
		DependsOn:    []string{NameKafka},
	}, cred, nil
}

// startConnect is one start of ConnectComponent.
func startConnect(cfg ConnectConfig) (*Process, error) {
	if err := checkPort("kafka connect", cfg.Port, "CONNECT_PORT"); err != nil {
		return nil, err
	}
	if cfg.MetricsPort != 0 {
		if err := checkPort("kafka connect metrics", cfg.MetricsPort, "CONNECT_METRICS_PORT"); err != nil {
			return nil, err
		}
	}
	java, err := javaBin()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	_, auth, err := ensureRESTAuth(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := writeSecrets(cfg.SecretsDir, cfg.Secrets); err != nil {
		return nil, fmt.Errorf("kafka connect secrets: %w", err)
	}
	// Offsets are flushed every second: after a crash the connector resumes
	// from at most a second back (duplicates, never losses).
	props := fmt.Sprintf(`bootstrap.servers=%s
group.id=%[4]s
listeners=http://127.0.0.1:%[2]d
rest.advertised.host.name=127.0.0.1
rest.advertised.port=%[2]d
plugin.path=%[3]s
plugin.discovery=hybrid_warn
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
config.storage.topic=_%[4]s-configs
offset.storage.topic=_%[4]s-offsets
status.storage.topic=_%[4]s-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=5
status.storage.partitions=1
offset.flush.interval.ms=1000
topic.creation.enable=true
scheduled.rebalance.max.delay.ms=0
producer.linger.ms=1
`, strings.Join(cfg.Brokers, ","), cfg.Port, cfg.Jars.PluginPath, cfg.GroupID) + restAuthProps(cfg.SecretsDir)
	kafkaAuth, err := connectKafkaAuthProps(cfg.KafkaSecrets)
	if err != nil {
		return nil, err
	}
	props += kafkaAuth
	// The file holds Connect's Kafka password: owner-only.
	propsPath := filepath.Join(cfg.Dir, "worker.properties")
	if err := writePrivate(propsPath, props); err != nil {
		return nil, err
	}
	l4j, err := writeLog4j(cfg.Dir, "info")
	if err != nil {
		return nil, err
	}
	agent, err := metricsAgent(cfg.Jars.JMXAgent, cfg.Dir, cfg.MetricsPort, "connect.yml")
	if err != nil {
		return nil, err
	}
	jvm := jvmArgs(cfg.Dir, cfg.HeapMB, cfg.Jars, l4j)
	// The REST extension's jar joins the classpath (its login module is
	// loaded by JAAS, which does not see plugin.path).
	for i := range jvm[:len(jvm)-1] {
		if jvm[i] == "-cp" {
			jvm[i+1] += string(os.PathListSeparator) + filepath.Join(cfg.Jars.ConnectRESTAuth, "*")
		}
	}
	argv := append(append(append([]string{java}, agent...), jvm...),
		"-Djava.security.auth.login.config="+auth.jaas,
		"org.apache.kafka.connect.cli.ConnectDistributed", propsPath)
	return startProcess("kafka connect", filepath.Join(cfg.Dir, "connect.log"), procOptions{dir: cfg.Dir, timerSlack: connectTimerSlack, nice: pipelineNice}, argv...)
}

// Restart starts the worker again with the same configuration, for example
// after Kill; c then stands for the new process.
func (c *ConnectWorker) Restart(ctx context.Context, log *slog.Logger) error {
	w, err := StartConnect(ctx, c.cfg, log)
	if err != nil {
		return err
	}
	c.Process = w.Process
	return nil
}

// Stop shuts the worker down cleanly.
func (c *ConnectWorker) Stop() { c.Process.Stop(syscall.SIGTERM, 30*time.Second) }

// connectKafkaAuthProps are the worker's Kafka client settings: the worker
// and the producers, consumers and admin clients it makes for connectors
// authenticate as KafkaConnect with SCRAM-SHA-512.
func connectKafkaAuthProps(secrets KafkaSecrets) (string, error) {
	pw := secrets.Password(KafkaConnect)
	if pw == "" {
		return "", errors.New("kafka connect: no kafka password for " + KafkaConnect)
	}
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, KafkaConnect, pw)
	var b strings.Builder
	for _, prefix := range []string{"", "producer.", "consumer.", "admin."} {
		fmt.Fprintf(&b, "%ssecurity.protocol=SASL_PLAINTEXT\n%ssasl.mechanism=SCRAM-SHA-512\n%ssasl.jaas.config=%s\n", prefix, prefix, prefix, jaas)
	}
	return b.String(), nil
}
