package check

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"shop/connect"
	"shop/service"
)

// GeneratedDir is where Generate's files live, relative to the repository
// root; base/kustomization.yaml lists them.
const GeneratedDir = "deploy/k8s/base/generated"

// Names the generated objects and the hand-written ones agree on.
const (
	// ConnectCluster is the KafkaConnect resource the connectors run on.
	ConnectCluster = "shop-connect"
	// DebeziumSecretDir is where the KafkaConnect pods mount the Secret
	// holding the debezium role's password (base/connect.yaml); the
	// worker's DirectoryConfigProvider "dir" reads it.
	DebeziumSecretDir = "/mnt/debezium-db"
	// JMXConfigMap holds the JMX exporter rules for Kafka and Connect.
	JMXConfigMap = "shop-jmx-metrics"
)

// ConnectorOverrides are the connector settings Kubernetes changes in
// connect/*.json, each for a reason of the cluster's:
//   - slot.failover: PostgreSQL 17 failover slots (the CNPG clusters
//     synchronise the slots to their standbys, so a switchover keeps the
//     connector's position); the local stack's older PostgreSQL has none.
//   - topic.creation.default.replication.factor: the topics Connect creates
//     (Debezium's heartbeat topic) take the brokers' default, 3 in
//     production; the files' 1 would be below min.insync.replicas 2 there,
//     and every write to such a topic refused.
var ConnectorOverrides = map[string]string{
	"slot.failover": "true",
	"topic.creation.default.replication.factor": "-1",
}

// ReservedConnectorKeys are the connector options Strimzi takes from the
// KafkaConnector's own fields and refuses in spec.config
// (AbstractConnectorSpec.FORBIDDEN_PARAMETERS in Strimzi's api module).
var ReservedConnectorKeys = []string{"name", "connector.class", "tasks.max", "connector.plugin.version"}

// ConnectorVars returns the values of the placeholders of the connector
// config file (connect/<db>-outbox.json) on Kubernetes: the database is
// the CNPG cluster's read-write service, the password a reference the
// worker resolves from the mounted Secret, the topics and slots the
// services' defaults and the partitions the KafkaTopic's.
func ConnectorVars(root, file string) (map[string]string, error) {
	db, _, ok := strings.Cut(file, "-")
	if !ok {
		return nil, fmt.Errorf("connector config %s: want <database>-outbox.json", file)
	}
	vars := connect.TopicVars(service.Defaults[service.Topics]())
	topic := vars[strings.ToUpper(db)+"_TOPIC"]
	if topic == "" {
		return nil, fmt.Errorf("connector config %s: no topic for database %s", file, db)
	}
	partitions, err := TopicPartitions(root)
	if err != nil {
		return nil, err
	}
	p, ok := partitions[topic]
	if !ok {
		return nil, fmt.Errorf("deploy/k8s/base/topics.yaml has no KafkaTopic %s", topic)
	}
	vars["CONNECT_DB_HOST"] = db + "-db-rw"
	vars["CONNECT_DB_PORT"] = "5432"
	vars["CONNECT_DB_USER"] = "debezium"
	// The password is a reference the worker's DirectoryConfigProvider
	// resolves from the mounted Secret's file "password", whichever way
	// the file spells it: as the whole value, or as its directory and
	// file.
	vars["CONNECT_DB_PASSWORD"] = "${dir:" + DebeziumSecretDir + ":password}"
	vars["CONNECT_SECRETS_DIR"] = DebeziumSecretDir
	vars["CONNECT_DB_PASSWORD_SECRET"] = "password"
	vars["TOPIC_PARTITIONS"] = strconv.Itoa(p)
	return vars, nil
}

// RenderConnector returns the connector config file as Kubernetes runs it:
// connect.Bundled with ConnectorVars, plus ConnectorOverrides.
func RenderConnector(root, file string) (connect.Connector, error) {
	vars, err := ConnectorVars(root, file)
	if err != nil {
		return connect.Connector{}, err
	}
	c, err := connect.Bundled(file, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return connect.Connector{}, fmt.Errorf("%s: %w", file, err)
	}
	for k, v := range ConnectorOverrides {
		c.Config[k] = v
	}
	return c, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// TopicPartitions returns the partitions of each KafkaTopic of
// deploy/k8s/base/topics.yaml, the one place they are stated.
func TopicPartitions(root string) (map[string]int, error) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/k8s/base/topics.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, doc := range docSeparator.Split(string(b), -1) {
		var t struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Partitions int `json:"partitions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &t); err != nil {
			return nil, fmt.Errorf("deploy/k8s/base/topics.yaml: %w", err)
		}
		if t.Kind == "KafkaTopic" {
			out[t.Metadata.Name] = t.Spec.Partitions
		}
	}
	return out, nil
}

// header starts every generated file.
func header(from string) string {
	return "# Generated from " + from + " by `go run ./deploy/k8s/check/cmd/k8sgen`;\n" +
		"# do not edit: TestGeneratedFilesFresh fails when this file is stale.\n"
}

// Generate returns the files of GeneratedDir, by path relative to the
// repository root at root, rendered from their sources.
func Generate(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, gen := range map[string]func(string) ([]byte, error){
		"connectors.yaml":      connectors,
		"prometheus-rule.yaml": prometheusRule,
		"jmx-metrics.yaml":     jmxMetrics,
		"dashboard.yaml":       dashboard,
	} {
		b, err := gen(root)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[GeneratedDir+"/"+name] = b
	}
	return out, nil
}

// connectors renders a KafkaConnector per connect/*.json.
func connectors(root string) ([]byte, error) {
	var docs [][]byte
	for _, file := range connect.Files() {
		c, err := RenderConnector(root, file)
		if err != nil {
			return nil, err
		}
		cfg := map[string]string{}
		for k, v := range c.Config {
			cfg[k] = v
		}
		class := cfg["connector.class"]
		tasks, err := strconv.Atoi(cfg["tasks.max"])
		if err != nil {
			return nil, fmt.Errorf("%s: tasks.max %q: %w", file, cfg["tasks.max"], err)
		}
		for _, k := range ReservedConnectorKeys {
			delete(cfg, k)
		}
		b, err := yaml.Marshal(map[string]any{
			"apiVersion": "kafka.strimzi.io/v1",
			"kind":       "KafkaConnector",
			"metadata": map[string]any{
				"name":   c.Name,
				"labels": map[string]string{"strimzi.io/cluster": ConnectCluster},
			},
			"spec": map[string]any{
				"class":    class,
				"tasksMax": tasks,
				"config":   cfg,
			},
		})
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
	return join("connect/*.json", docs), nil
}

// prometheusRule wraps monitoring/alerts.yml in a PrometheusRule.
func prometheusRule(root string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "monitoring/alerts.yml"))
	if err != nil {
		return nil, err
	}
	var rules map[string]any
	if err := yaml.Unmarshal(b, &rules); err != nil {
		return nil, fmt.Errorf("monitoring/alerts.yml: %w", err)
	}
	out, err := yaml.Marshal(map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": "shop-alerts"},
		"spec":       rules,
	})
	if err != nil {
		return nil, err
	}
	return join("monitoring/alerts.yml", [][]byte{out}), nil
}

// jmxMetrics puts the JMX exporter rules of stack/local/jmx in the ConfigMap
// the Kafka and KafkaConnect resources' metricsConfig name.
func jmxMetrics(root string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(root, "stack/local/jmx/*.yml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	data := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		data[filepath.Base(f)] = string(b)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("no stack/local/jmx/*.yml")
	}
	out, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": JMXConfigMap},
		"data":       data,
	})
	if err != nil {
		return nil, err
	}
	return join("stack/local/jmx/*.yml", [][]byte{out}), nil
}

func join(from string, docs [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(header(from))
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d)
	}
	return b.Bytes()
}
