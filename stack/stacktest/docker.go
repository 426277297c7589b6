package stacktest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"shop/cdc/kafkaclient"
	"shop/connect"
	"shop/service"
	"shop/stack/local"
)

// Images of the docker provider: the official ones, at the versions the
// local provider runs.
const (
	postgresImage, postgresTag = "postgres", "15"
	kafkaImage, kafkaTag       = "apache/kafka", "4.3.1"
	connectImage, connectTag   = "quay.io/debezium/connect", "3.6.1.Final"
)

// dockerAnswers reports whether a Docker engine answers a ping.
func dockerAnswers() bool {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return false
	}
	return pool.Client.Ping() == nil
}

// startDocker starts Postgres (wal_level=logical), Kafka (KRaft) and
// Debezium's Kafka Connect as containers on a network of their own. The
// containers are removed when the test process ends (Purge in Main through
// ownDocker, and an expiry as a safety net).
func startDocker() (Attachment, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return Attachment{}, err
	}
	pool.MaxWait = 3 * time.Minute
	net, err := pool.CreateNetwork(Unique("shop-test-"))
	if err != nil {
		return Attachment{}, fmt.Errorf("docker network: %w", err)
	}
	ownDocker = append(ownDocker, func() { _ = net.Close() })
	run := func(opts *dockertest.RunOptions) (*dockertest.Resource, error) {
		opts.Networks = []*dockertest.Network{net}
		r, err := pool.RunWithOptions(opts, func(hc *docker.HostConfig) { hc.AutoRemove = true })
		if err != nil {
			return nil, fmt.Errorf("docker run %s: %w", opts.Repository, err)
		}
		_ = r.Expire(3600)
		ownDocker = append([]func(){func() { _ = pool.Purge(r) }}, ownDocker...)
		return r, nil
	}

	pg, err := run(&dockertest.RunOptions{
		Name: Unique("pg-"), Repository: postgresImage, Tag: postgresTag,
		Env: []string{"POSTGRES_PASSWORD=postgres"},
		Cmd: []string{"postgres", "-c", "wal_level=logical", "-c", "max_replication_slots=100", "-c", "max_wal_senders=100", "-c", "max_connections=400"},
	})
	if err != nil {
		return Attachment{}, err
	}
	pgPort, _ := strconv.Atoi(pg.GetPort("5432/tcp"))
	adminURL := fmt.Sprintf("postgres://postgres:postgres@127.0.0.1:%d/postgres?sslmode=disable", pgPort)
	if err := pool.Retry(func() error {
		return local.EnsureRoles(context.Background(), adminURL, local.Config{ReplicationPassword: "debezium"}.Roles())
	}); err != nil {
		return Attachment{}, fmt.Errorf("postgres container: %w", err)
	}

	hostPort, err := local.FreePort()
	if err != nil {
		return Attachment{}, err
	}
	kafkaName := Unique("kafka-")
	_, err = run(&dockertest.RunOptions{
		Name: kafkaName, Hostname: kafkaName, Repository: kafkaImage, Tag: kafkaTag,
		Env: []string{
			"KAFKA_NODE_ID=1", "KAFKA_PROCESS_ROLES=broker,controller",
			"KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093,HOST://:29092",
			"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://" + kafkaName + ":9092,HOST://127.0.0.1:" + strconv.Itoa(hostPort),
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT",
			"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER", "KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1", "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
			"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1",
			// As stack/local/kafka.go sets them (TestKafkaBrokerSettings).
			"KAFKA_NUM_NETWORK_THREADS=2", "KAFKA_NUM_IO_THREADS=4", "KAFKA_METADATA_MAX_IDLE_INTERVAL_MS=5000",
		},
		PortBindings: map[docker.Port][]docker.PortBinding{"29092/tcp": {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hostPort)}}},
	})
	if err != nil {
		return Attachment{}, err
	}
	brokers := []string{"127.0.0.1:" + strconv.Itoa(hostPort)}
	// This Kafka has no authentication (docs/security.md, "Kafka principals and ACLs").
	probe, _ := kafkaclient.Config(service.Kafka{}) // without credentials it cannot fail
	if err := pool.Retry(func() error { return local.CreateTopics(brokers, probe, 1, "_probe") }); err != nil {
		return Attachment{}, fmt.Errorf("kafka container: %w", err)
	}

	// The REST credentials and the secrets directory are files of a
	// temporary directory mounted at the same path, readable by the
	// container's user (a throwaway stack: not owner-only).
	auth, err := os.MkdirTemp("", "shop-test-connect-")
	if err != nil {
		return Attachment{}, err
	}
	ownDocker = append(ownDocker, func() { os.RemoveAll(auth) })
	cred, jaas, err := local.EnsureConnectAuth(auth)
	if err != nil {
		return Attachment{}, err
	}
	secrets := filepath.Join(auth, "secrets")
	if err := os.MkdirAll(secrets, 0o755); err != nil {
		return Attachment{}, err
	}
	if err := os.WriteFile(filepath.Join(secrets, local.ConnectPasswordSecret), []byte("debezium"), 0o644); err != nil {
		return Attachment{}, err
	}
	if err := filepath.WalkDir(auth, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	}); err != nil {
		return Attachment{}, err
	}
	env := []string{
		"BOOTSTRAP_SERVERS=" + kafkaName + ":9092", "GROUP_ID=shop-connect",
		"CONFIG_STORAGE_TOPIC=_connect-configs", "OFFSET_STORAGE_TOPIC=_connect-offsets", "STATUS_STORAGE_TOPIC=_connect-status",
		"CONNECT_OFFSET_FLUSH_INTERVAL_MS=1000",
		"KAFKA_OPTS=-Djava.security.auth.login.config=" + jaas,
	}
	for k, v := range local.RESTAuthProps(secrets) {
		env = append(env, "CONNECT_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))+"="+v)
	}
	cn, err := run(&dockertest.RunOptions{
		Name: Unique("connect-"), Repository: connectImage, Tag: connectTag,
		Env: env, Mounts: []string{auth + ":" + auth + ":ro"},
	})
	if err != nil {
		return Attachment{}, err
	}
	connectURL := "http://127.0.0.1:" + cn.GetPort("8083/tcp")
	client, err := connect.NewClient(connectURL, cred)
	if err != nil {
		return Attachment{}, err
	}
	if err := pool.Retry(func() error { return client.Ready(context.Background()) }); err != nil {
		return Attachment{}, fmt.Errorf("kafka connect container: %w", err)
	}
	return Attachment{
		AdminURL:            adminURL,
		ReplicationPassword: "debezium",
		PostgresPort:        pgPort,
		Brokers:             brokers,
		ConnectURL:          connectURL,
		ConnectDBHost:       pg.Container.Name[1:],
		ConnectDBPort:       5432,
		ConnectUsername:     cred.Username,
		ConnectPassword:     cred.Password,
		ConnectSecretsDir:   secrets,
	}, nil
}
