package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"shop/connect"
	schema "shop/sql"
	"shop/stack/jars"
	"shop/stack/local"
)

func fetchOnly(ctx context.Context, cfg config, log *slog.Logger) error {
	l, err := jars.Fetch(ctx, cfg.CacheDir, log)
	if err != nil {
		return err
	}
	log.Info("jars ready", "kafka", l.KafkaLibs, "plugins", l.PluginPath)
	return nil
}

// runStack is `make run`: the infrastructure, the databases, the topics and
// the connectors, then the services; Ctrl-C stops everything.
func runStack(ctx context.Context, cfg config, withServices bool, log *slog.Logger) error {
	if withServices {
		for _, a := range []struct{ name, addr, env string }{
			{"gateway", cfg.Gateway.HTTPAddr, "GATEWAY_HTTP_ADDR"},
			{"orders", cfg.Orders.GRPCAddr, "ORDERS_GRPC_ADDR"},
			{"payments", cfg.Payments.GRPCAddr, "PAYMENTS_GRPC_ADDR"},
		} {
			if err := local.CheckAddr(a.name, a.addr, a.env); err != nil {
				return err
			}
		}
	}
	s, err := local.Start(ctx, cfg.infra(), log)
	if err != nil {
		return err
	}
	defer s.Stop()

	for _, db := range []schema.Database{schema.Orders, schema.Payments} {
		if err := provisionDatabase(ctx, s, string(db), db); err != nil {
			return err
		}
	}
	topics := []string{cfg.Topics.Orders, cfg.Topics.Payments}
	if err := local.CreateTopics(s.Kafka.Brokers(), cfg.TopicPartitions, topics...); err != nil {
		return err
	}
	log.Info("topics ready", "topics", topics, "partitions", cfg.TopicPartitions)
	if err := applyConnectors(ctx, s.Connect.URL(), connectorVars(cfg), log); err != nil {
		return err
	}

	var services []*local.Service
	if withServices {
		services, err = startServices(ctx, cfg, s, log)
	}
	defer func() {
		for i := len(services) - 1; i >= 0; i-- {
			log.Info("stopping " + services[i].Name)
			services[i].Stop()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nThe shop is running.\n  gateway:     http://%s/api/v1\n  swagger ui:  http://%s/swagger/index.html\n  connect:     %s\n  kafka:       %s\n  postgres:    %s\nPress Ctrl-C to stop.\n\n",
		cfg.Gateway.HTTPAddr, cfg.Gateway.HTTPAddr, s.Connect.URL(), strings.Join(s.Kafka.Brokers(), ","), redact(s.ServiceURL("orders")))

	return watch(ctx, log, append([]*local.Process{s.Postgres.Process, s.Kafka.Process, s.Connect.Process}, processes(services)...))
}

// redact hides the password of a database URL.
func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return u
}

func processes(svcs []*local.Service) []*local.Process {
	var ps []*local.Process
	for _, s := range svcs {
		ps = append(ps, s.Process)
	}
	return ps
}

// watch waits for Ctrl-C, or reports the first child that dies.
func watch(ctx context.Context, log *slog.Logger, ps []*local.Process) error {
	died := make(chan *local.Process, len(ps))
	for _, p := range ps {
		go func() {
			<-p.Done()
			died <- p
		}()
	}
	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case p := <-died:
		return fmt.Errorf("%s stopped unexpectedly; last lines of %s:\n%s", p.Name, p.LogPath, p.Tail(30))
	}
}

// provisionDatabase creates database name and migrates it, so that the
// publication exists before the connector starts.
func provisionDatabase(ctx context.Context, s *local.Stack, name string, db schema.Database) error {
	if err := local.EnsureDatabase(ctx, s.AdminURL("postgres"), name, ""); err != nil {
		return err
	}
	pool, err := schema.Open(ctx, s.ServiceURL(name), db)
	if err != nil {
		return err
	}
	pool.Close()
	return nil
}

// connectorVars are the values of the connector configs' placeholders:
// the topics and partitions the stack created, then the environment, then
// the stack's own database address and replication role.
func connectorVars(cfg config) func(string) (string, bool) {
	created := connect.TopicVars(cfg.Topics)
	created["TOPIC_PARTITIONS"] = strconv.Itoa(int(cfg.TopicPartitions))
	own := map[string]string{
		"CONNECT_DB_HOST":     "127.0.0.1",
		"CONNECT_DB_PORT":     strconv.Itoa(cfg.PostgresPort),
		"CONNECT_DB_USER":     local.ReplicationRole,
		"CONNECT_DB_PASSWORD": cfg.ReplicationPassword,
	}
	return func(k string) (string, bool) {
		if v, ok := created[k]; ok {
			return v, true
		}
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := own[k]
		return v, ok
	}
}

func applyConnectors(ctx context.Context, url string, vars func(string) (string, bool), log *slog.Logger) error {
	client, err := connect.NewClient(url)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range connect.Files() {
		c, err := connect.Bundled(f, vars)
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
	return nil
}

// startServices builds the services that exist in the repository and starts
// them: orders and payments, then the gateway.
func startServices(ctx context.Context, cfg config, s *local.Stack, log *slog.Logger) ([]*local.Service, error) {
	bin := filepath.Join(cfg.Root, ".bin")
	type svc struct {
		name, pkg string
		env       []string
		ready     func(context.Context) error
	}
	brokers := strings.Join(s.Kafka.Brokers(), ",")
	all := []svc{
		{"orders", "./orders/cmd/orders", []string{
			"ORDERS_GRPC_ADDR=" + cfg.Orders.GRPCAddr, "ORDERS_DATABASE_URL=" + s.ServiceURL("orders"), "KAFKA_BROKERS=" + brokers,
			"PAYMENTS_TOPIC=" + cfg.Topics.Payments,
		}, local.TCPReady(cfg.Orders.GRPCAddr)},
		{"payments", "./payments/cmd/payments", []string{
			"PAYMENTS_GRPC_ADDR=" + cfg.Payments.GRPCAddr, "PAYMENTS_DATABASE_URL=" + s.ServiceURL("payments"), "KAFKA_BROKERS=" + brokers,
			"ORDERS_TOPIC=" + cfg.Topics.Orders,
		}, local.TCPReady(cfg.Payments.GRPCAddr)},
		{"gateway", "./gateway/cmd/gateway", []string{
			"GATEWAY_HTTP_ADDR=" + cfg.Gateway.HTTPAddr, "ORDERS_GRPC_ADDR=" + cfg.Orders.GRPCAddr, "PAYMENTS_GRPC_ADDR=" + cfg.Payments.GRPCAddr,
		}, local.HTTPReady("http://" + cfg.Gateway.HTTPAddr + "/readyz")},
	}
	var started []*local.Service
	for _, sv := range all {
		if _, err := os.Stat(filepath.Join(cfg.Root, sv.pkg, "main.go")); err != nil {
			log.Warn("service not in this repository yet; skipped", "service", sv.name)
			continue
		}
		log.Info("building "+sv.name, "package", sv.pkg)
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, sv.name), sv.pkg)
		build.Dir = cfg.Root
		if out, err := build.CombinedOutput(); err != nil {
			return started, fmt.Errorf("build %s: %w\n%s", sv.name, err, out)
		}
		svc, err := local.StartService(ctx, sv.name, filepath.Join(bin, sv.name), filepath.Join(cfg.DataDir, "logs"), sv.env, sv.ready, log)
		if err != nil {
			return started, err
		}
		started = append(started, svc)
	}
	return started, nil
}
