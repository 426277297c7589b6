package local

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

// The Prometheus JMX exporter's configurations: which MBeans of Kafka Connect
// (Debezium's among them) and of the Kafka broker are served as metrics, and
// under which names. docker-compose.yml mounts the same files.
//
//go:embed jmx/connect.yml jmx/kafka.yml
var jmxConfigs embed.FS

// metricsAgent returns the JVM argument that loads the JMX exporter agent
// of l, serving on 127.0.0.1:port the MBeans that jmx/<config> selects
// (written into dir), or nothing when port is 0 or there is no agent.
func metricsAgent(agent, dir string, port int, config string) ([]string, error) {
	if port == 0 || agent == "" {
		return nil, nil
	}
	b, err := jmxConfigs.ReadFile("jmx/" + config)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "jmx-exporter.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("-javaagent:%s=127.0.0.1:%d:%s", agent, port, path)}, nil
}
