package local

import (
	"context"
	"log/slog"
	"path/filepath"

	schema "shop/sql"
	"shop/stack/jars"
)

// startInfra checks every port of the infrastructure, then starts
// Postgres (with the roles), Kafka (with the SCRAM users of principals, the
// shop's own first, and grants) and Connect.
func (s *System) startInfra(ctx context.Context, log *slog.Logger, grants []Grant, principals ...string) (err error) {
	cfg := s.cfg
	if err := cfg.checkPorts(); err != nil {
		return err
	}
	principals = append([]string{KafkaOrders, KafkaPayments, KafkaConnect, KafkaShopctl}, principals...)
	if s.KafkaSecrets, err = EnsureKafkaSecrets(KafkaSecretsDir(cfg.DataDir), append(principals, KafkaAdmin)...); err != nil {
		return err
	}
	if s.Jars, err = jars.Fetch(ctx, cfg.CacheDir, log); err != nil {
		return err
	}
	if err := s.Start(ctx, PostgresComponent(PostgresConfig{
		Dir: filepath.Join(cfg.DataDir, "postgres"), Port: cfg.PostgresPort,
		SuperuserPassword: cfg.SuperuserPassword, Durable: cfg.Durable,
	}, log)); err != nil {
		return err
	}
	if err := EnsureRoles(ctx, s.AdminURL("postgres"), cfg.Roles()); err != nil {
		return err
	}
	if err := s.Start(ctx, KafkaComponent(KafkaConfig{
		Dir: filepath.Join(cfg.DataDir, "kafka"), Port: cfg.KafkaPort, ControllerPort: cfg.ControllerPort,
		MetricsPort: cfg.agentPort(cfg.KafkaMetricsPort), Jars: s.Jars,
		Secrets: s.KafkaSecrets, PlaintextPort: cfg.KafkaPlaintextPort,
	}, log)); err != nil {
		return err
	}
	// At every start: the users follow their password files, and a grant
	// added since the last start is there before anyone connects.
	if err := EnsureKafkaUsers(s.Brokers(), s.KafkaSecrets, principals...); err != nil {
		return err
	}
	if err := EnsureACLs(s.Brokers(), s.KafkaSecrets, grants); err != nil {
		return err
	}
	// The replication password reaches the connectors through the
	// directory config provider (ConnectPasswordSecret), never in their
	// configs.
	cc, cred, err := ConnectComponent(ConnectConfig{
		Dir: filepath.Join(cfg.DataDir, "connect"), Port: cfg.ConnectPort, MetricsPort: cfg.agentPort(cfg.ConnectMetricsPort),
		Brokers: s.Brokers(), Jars: s.Jars, GroupID: ConnectGroup, KafkaSecrets: s.KafkaSecrets,
		SecretsDir: s.ConnectSecretsDir(), Secrets: map[string]string{ConnectPasswordSecret: cfg.ReplicationPassword},
	})
	if err != nil {
		return err
	}
	s.connectCred = cred
	return s.Start(ctx, cc)
}

// provision creates and migrates the databases, creates the topics and
// applies the connectors.
func (s *System) provision(ctx context.Context, log *slog.Logger) error {
	cfg := s.cfg
	for _, db := range []schema.Database{schema.Orders, schema.Payments} {
		if err := s.provisionDatabase(ctx, db); err != nil {
			return err
		}
	}
	topics := []string{cfg.Topics.Orders, cfg.Topics.Payments}
	if err := CreateTopics(s.Brokers(), s.KafkaSecrets.AdminConfig(), cfg.TopicPartitions, topics...); err != nil {
		return err
	}
	log.Info("topics ready", "topics", topics, "partitions", cfg.TopicPartitions)
	return s.applyConnectors(ctx, log)
}

// provisionDatabase creates database db and migrates it as its owner, so
// that the publication exists before the connector starts. The services
// never migrate: they connect as the runtime role and only check the
// schema.
func (s *System) provisionDatabase(ctx context.Context, db schema.Database) error {
	if err := EnsureDatabase(ctx, s.AdminURL("postgres"), string(db), db, ""); err != nil {
		return err
	}
	return schema.Migrate(ctx, s.OwnerURL(string(db)), db)
}
