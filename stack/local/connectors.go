package local

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"shop/connect"
)

// connectorVars are the values of the connector configs' placeholders:
// the topics and partitions the system created, then cfg.ConnectorVars,
// then the system's own database address, replication role and the
// directory its password is read from by Connect (ConnectSecretsDir).
func (s *System) connectorVars(k string) (string, bool) {
	created := connect.TopicVars(s.cfg.Topics)
	created["TOPIC_PARTITIONS"] = strconv.Itoa(int(s.cfg.TopicPartitions))
	if v, ok := created[k]; ok {
		return v, true
	}
	if v, ok := s.cfg.ConnectorVars(k); ok {
		return v, true
	}
	v, ok := map[string]string{
		"CONNECT_DB_HOST":     "127.0.0.1",
		"CONNECT_DB_PORT":     strconv.Itoa(s.cfg.PostgresPort),
		"CONNECT_DB_USER":     ReplicationRole,
		"CONNECT_SECRETS_DIR": s.ConnectSecretsDir(),
	}[k]
	return v, ok
}

// applyConnectors creates or updates the bundled connectors and waits
// until they run.
func (s *System) applyConnectors(ctx context.Context, log *slog.Logger) error {
	client, err := connect.NewClient(s.ConnectURL(), s.connectCred)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range connect.Files() {
		c, err := connect.Bundled(f, s.connectorVars)
		if err != nil {
			return err
		}
		log.Info("applying connector", "name", c.Name, "file", "connect/"+f)
		if err := client.Apply(ctx, c); err != nil {
			return fmt.Errorf("apply connector %s: %w", c.Name, err)
		}
		names = append(names, c.Name)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := client.Wait(wctx, names...); err != nil {
		return err
	}
	log.Info("connectors running", "names", names)
	// From now on a connector or task that fails is restarted with backoff,
	// for as long as the system is supervised (the supervisor's context
	// ends at Stop), as `connectctl watch` does.
	go func() {
		if err := connect.Watch(s.Supervisor.ctx, client, names, ConnectorWatchInterval, log); err != nil {
			log.Error("connector watch stopped", "error", err)
		}
	}()
	return nil
}

// ConnectorWatchInterval is how often a supervised system checks its
// connectors and restarts a failed one (see connect.Watch).
const ConnectorWatchInterval = 10 * time.Second
