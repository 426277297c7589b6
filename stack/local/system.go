package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"shop/connect"
	"shop/service"
	schema "shop/sql"
	"shop/stack/jars"
)

// The names of a System's components, for Supervisor.Process, Ready and
// Restarted. The service instances are named by InstanceName.
const (
	NamePostgres = "postgres"
	NameKafka    = "kafka"
	NameConnect  = "kafka connect"
	NameGateway  = "gateway"
	// The services, for InstanceName.
	Orders   = "orders"
	Payments = "payments"
)

// InstanceName is the component name of instance i (from 1) of svc
// (Orders or Payments), such as "orders-2"; its log is logs/orders-2.log.
func InstanceName(svc string, i int) string { return svc + "-" + strconv.Itoa(i) }

// SystemConfig configures a whole shop run by StartSystem.
type SystemConfig struct {
	// Config is the infrastructure: directories, ports, durability and
	// passwords. A zero port is replaced by a free one, an empty CacheDir
	// by jars.DefaultCacheDir(), an empty password by the development
	// default (postgres, debezium, and each service role's name).
	Config
	// Services false runs the infrastructure and the connectors only
	// (`make infra`).
	Services bool
	// Root is the repository root the services are built from (go build
	// ./orders/cmd/orders and so on); BinDir receives the binaries
	// (default Root/.bin).
	Root, BinDir string
	// Topics are created and routed to by the connectors (default
	// service.Topics' defaults), with TopicPartitions partitions (default 6).
	Topics          service.Topics
	TopicPartitions int32
	// GatewayAddr is the gateway's listen address, host:port; empty picks a
	// free port on 127.0.0.1.
	GatewayAddr string
	// OrdersAddr and PaymentsAddr are the gRPC listen addresses (host:port)
	// of each service's first instance; instance i listens on the i-th
	// port from there, skipping the ports of the gateway and of the other
	// service's first instance, so that 9101 and 9102 with two instances
	// each give orders 9101, 9103 and payments 9102, 9104. Empty gives
	// every instance a free port on 127.0.0.1.
	OrdersAddr, PaymentsAddr string
	// GatewayAdminAddr, OrdersAdminAddr and PaymentsAdminAddr are the admin
	// listeners (/metrics, /debug/pprof/) of the gateway and of each
	// service's first instance; the other instances get the following
	// ports as for the gRPC addresses, skipping every port of the system
	// (so 9111 and 9112 with two instances each, and the JMX exporters on
	// 9113 and 9114, give orders 9111, 9115 and payments 9112, 9116).
	// Empty gives a free port on 127.0.0.1.
	GatewayAdminAddr, OrdersAdminAddr, PaymentsAdminAddr string
	// OrdersInstances and PaymentsInstances are the instances of each
	// service (default 1); they share the service's consumer group and
	// database, and the gateway balances over them.
	OrdersInstances, PaymentsInstances int
	// Env is added to the environment of every service process, which
	// inherits this process's; the system's own settings (addresses,
	// database URLs, brokers, topics) take precedence.
	Env []string
	// ConnectorVars resolves the placeholders of the connector
	// configurations that the system does not set itself (default
	// os.LookupEnv).
	ConnectorVars func(string) (string, bool)
	// Policy is how components are restarted (DefaultRestartPolicy when
	// zero).
	Policy RestartPolicy
	// AuthMode is the gateway's AUTH_MODE: service.AuthJWT runs the
	// development issuer (see DevIssuerDir); service.AuthHeader or empty
	// has the gateway trust X-User-ID.
	AuthMode string
}

// System is a whole shop on this machine, every process supervised: Postgres,
// Kafka, Kafka Connect with the connectors, the service instances and the
// gateway. The embedded Supervisor finds, waits for and stops its
// components; their names are NamePostgres, NameKafka, NameConnect,
// InstanceName(Orders, i), InstanceName(Payments, i) and NameGateway.
type System struct {
	*Supervisor
	Jars jars.Layout
	// OrdersAddrs and PaymentsAddrs are the instances' gRPC addresses in
	// instance order; GatewayAddr is the gateway's HTTP address. Empty
	// without Services.
	OrdersAddrs, PaymentsAddrs []string
	GatewayAddr                string
	// OrdersAdminAddrs, PaymentsAdminAddrs and GatewayAdminAddr are the
	// admin listeners, in the same order. Empty without Services.
	OrdersAdminAddrs, PaymentsAdminAddrs []string
	GatewayAdminAddr                     string
	cfg                                  SystemConfig
}

// StartSystem builds the services, starts the infrastructure, provisions
// the databases (created and migrated), the topics and the connectors,
// then starts the service instances and the gateway, each component
// supervised from the moment it is ready. It returns when the gateway's
// /readyz answers 200. On failure it stops what it started and returns an
// error naming the component (a *StartError with the end of its log, a
// *PortInUseError, a build error).
//
// As root, Postgres runs as the postgres system user: DataDir and its
// parents must be traversable by it.
func StartSystem(ctx context.Context, cfg SystemConfig, log *slog.Logger) (_ *System, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &System{Supervisor: NewSupervisor(log, cfg.Policy), cfg: cfg}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	var binaries map[string]string
	if cfg.Services {
		if err := s.assignAddrs(); err != nil {
			return nil, err
		}
		if binaries, err = build(ctx, cfg.Root, cfg.BinDir, log); err != nil {
			return nil, err
		}
	}
	if err := s.startInfra(ctx, log); err != nil {
		return nil, err
	}
	if cfg.Services {
		if err := s.startServices(ctx, binaries); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// withDefaults fills what SystemConfig's fields say is filled when empty,
// and makes the paths absolute: the children run in other directories.
func (cfg SystemConfig) withDefaults() (_ SystemConfig, err error) {
	if cfg.TopicPartitions == 0 {
		cfg.TopicPartitions = 6
	}
	if cfg.Topics == (service.Topics{}) {
		cfg.Topics = service.Defaults[service.Topics]()
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.Root, ".bin")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = jars.DefaultCacheDir()
	}
	for _, pw := range []struct {
		p   *string
		def string
	}{
		{&cfg.SuperuserPassword, "postgres"}, {&cfg.ReplicationPassword, "debezium"},
	} {
		if *pw.p == "" {
			*pw.p = pw.def
		}
	}
	for _, p := range []*string{&cfg.Root, &cfg.BinDir, &cfg.DataDir, &cfg.CacheDir} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return cfg, err
		}
	}
	if cfg.ConnectorVars == nil {
		cfg.ConnectorVars = os.LookupEnv
	}
	for _, p := range []*int{&cfg.PostgresPort, &cfg.KafkaPort, &cfg.ControllerPort, &cfg.ConnectPort,
		&cfg.KafkaMetricsPort, &cfg.ConnectMetricsPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, nil
}

// assignAddrs fills the instances' and the gateway's addresses and checks
// that each is free.
func (s *System) assignAddrs() error {
	cfg := s.cfg
	orders, payments := max(cfg.OrdersInstances, 1), max(cfg.PaymentsInstances, 1)
	s.GatewayAddr = cfg.GatewayAddr
	if s.GatewayAddr == "" {
		port, err := FreePort()
		if err != nil {
			return err
		}
		s.GatewayAddr = "127.0.0.1:" + strconv.Itoa(port)
	}
	var err error
	s.OrdersAddrs, s.PaymentsAddrs, err = assignInstanceAddrs(s.GatewayAddr, cfg.OrdersAddr, cfg.PaymentsAddr, orders, payments)
	if err != nil {
		return err
	}
	s.GatewayAdminAddr = cfg.GatewayAdminAddr
	if s.GatewayAdminAddr == "" {
		port, err := FreePort()
		if err != nil {
			return err
		}
		s.GatewayAdminAddr = "127.0.0.1:" + strconv.Itoa(port)
	}
	inUse := append(append([]string{s.GatewayAddr, s.GatewayAdminAddr,
		"127.0.0.1:" + strconv.Itoa(cfg.KafkaMetricsPort), "127.0.0.1:" + strconv.Itoa(cfg.ConnectMetricsPort)},
		s.OrdersAddrs...), s.PaymentsAddrs...)
	s.OrdersAdminAddrs, s.PaymentsAdminAddrs, err = assignAdminAddrs(cfg.OrdersAdminAddr, cfg.PaymentsAdminAddr, orders, payments, inUse)
	if err != nil {
		return err
	}
	checks := []struct{ name, addr, env string }{
		{NameGateway, s.GatewayAddr, "GATEWAY_HTTP_ADDR"},
		{NameGateway + " admin", s.GatewayAdminAddr, "GATEWAY_ADMIN_ADDR"},
	}
	for i, a := range s.OrdersAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Orders, i+1), a, "ORDERS_GRPC_ADDR, ORDERS_INSTANCES"})
	}
	for i, a := range s.PaymentsAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Payments, i+1), a, "PAYMENTS_GRPC_ADDR, PAYMENTS_INSTANCES"})
	}
	for i, a := range s.OrdersAdminAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Orders, i+1) + " admin", a, "ORDERS_ADMIN_ADDR, ORDERS_INSTANCES"})
	}
	for i, a := range s.PaymentsAdminAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Payments, i+1) + " admin", a, "PAYMENTS_ADMIN_ADDR, PAYMENTS_INSTANCES"})
	}
	for _, c := range checks {
		if err := CheckAddr(c.name, c.addr, c.env); err != nil {
			return err
		}
	}
	return nil
}

// assignInstanceAddrs returns the listen addresses of the services'
// instances, as SystemConfig describes them.
func assignInstanceAddrs(gateway, orders, payments string, nOrders, nPayments int) (o, p []string, err error) {
	taken := map[int]bool{}
	for _, a := range []string{gateway, orders, payments} {
		if _, port, err := net.SplitHostPort(a); err == nil {
			n, _ := strconv.Atoi(port)
			taken[n] = true
		}
	}
	if o, err = instanceAddrs("ORDERS_GRPC_ADDR", orders, nOrders, taken); err != nil {
		return nil, nil, err
	}
	if p, err = instanceAddrs("PAYMENTS_GRPC_ADDR", payments, nPayments, taken); err != nil {
		return nil, nil, err
	}
	return o, p, nil
}

// assignAdminAddrs returns the admin listen addresses of the services'
// instances, as SystemConfig describes them: consecutive from each first
// address, skipping both first addresses and the ports of inUse.
func assignAdminAddrs(orders, payments string, nOrders, nPayments int, inUse []string) (o, p []string, err error) {
	taken := map[int]bool{}
	for _, a := range append([]string{orders, payments}, inUse...) {
		if _, port, err := net.SplitHostPort(a); err == nil {
			n, _ := strconv.Atoi(port)
			taken[n] = true
		}
	}
	if o, err = instanceAddrs("ORDERS_ADMIN_ADDR", orders, nOrders, taken); err != nil {
		return nil, nil, err
	}
	if p, err = instanceAddrs("PAYMENTS_ADMIN_ADDR", payments, nPayments, taken); err != nil {
		return nil, nil, err
	}
	return o, p, nil
}

// instanceAddrs returns n listen addresses from first on: first, then the
// following ports not in taken, which it marks. An empty first gives free
// ports on 127.0.0.1.
func instanceAddrs(env, first string, n int, taken map[int]bool) ([]string, error) {
	var addrs []string
	if first == "" {
		for range n {
			port, err := FreePort()
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
		}
		return addrs, nil
	}
	host, p, err := net.SplitHostPort(first)
	if err != nil {
		return nil, fmt.Errorf("%s %q: want host:port to listen on: %w", env, first, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%s %q: want a port from 1 to 65535", env, first)
	}
	addrs = append(addrs, first)
	for port++; len(addrs) < n; port++ {
		if port > 65535 {
			return nil, fmt.Errorf("%s %q: not enough ports above it for %d instances", env, first, n)
		}
		if taken[port] {
			continue
		}
		taken[port] = true
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return addrs, nil
}

// build builds the service binaries into bin and returns their paths by
// service.
func build(ctx context.Context, root, bin string, log *slog.Logger) (map[string]string, error) {
	out := map[string]string{}
	for _, svc := range []string{Orders, Payments, "gateway"} {
		pkg := "./" + svc + "/cmd/" + svc
		log.Info("building "+svc, "package", pkg)
		path := filepath.Join(bin, svc)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", svc, err, b)
		}
		out[svc] = path
	}
	return out, nil
}

// startInfra starts Postgres (with the roles), Kafka and Connect, then
// provisions the databases, the topics and the connectors.
func (s *System) startInfra(ctx context.Context, log *slog.Logger) (err error) {
	cfg := s.cfg
	if err := cfg.checkPorts(); err != nil {
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
	}, log)); err != nil {
		return err
	}
	cc, err := ConnectComponent(ConnectConfig{
		Dir: filepath.Join(cfg.DataDir, "connect"), Port: cfg.ConnectPort, MetricsPort: cfg.agentPort(cfg.ConnectMetricsPort),
		Brokers: s.Brokers(), Jars: s.Jars,
	})
	if err != nil {
		return err
	}
	if err := s.Start(ctx, cc); err != nil {
		return err
	}
	for _, db := range []schema.Database{schema.Orders, schema.Payments} {
		if err := s.provisionDatabase(ctx, db); err != nil {
			return err
		}
	}
	topics := []string{cfg.Topics.Orders, cfg.Topics.Payments}
	if err := CreateTopics(s.Brokers(), cfg.TopicPartitions, topics...); err != nil {
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

// connectorVars are the values of the connector configs' placeholders:
// the topics and partitions the system created, then cfg.ConnectorVars,
// then the system's own database address and replication role.
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
		"CONNECT_DB_PASSWORD": s.cfg.ReplicationPassword,
	}[k]
	return v, ok
}

// applyConnectors creates or updates the bundled connectors and waits
// until they run.
func (s *System) applyConnectors(ctx context.Context, log *slog.Logger) error {
	client, err := connect.NewClient(s.ConnectURL())
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

// serviceGOMAXPROCS is the GOMAXPROCS of every service process unless the
// environment sets one. The services share two cores with Postgres, Kafka
// and Kafka Connect, and each of them needs a fraction of one: with one P
// the Go scheduler has no idle P to wake and spin for each goroutine that
// becomes runnable (a socket read, a channel send), which cost the
// services 5 to 15 % of their CPU per order (bench/README.md, "One P per
// service"). A service that needs more than a core gets more instances
// (OrdersInstances, PaymentsInstances) or a GOMAXPROCS of its own.
const serviceGOMAXPROCS = "1"

// serviceRuntimeEnv is the Go runtime's settings for a service process:
// GOMAXPROCS=serviceGOMAXPROCS unless lookup (the environment the service
// inherits) has GOMAXPROCS, which then stands.
func serviceRuntimeEnv(lookup func(string) (string, bool)) []string {
	if _, ok := lookup("GOMAXPROCS"); ok {
		return nil
	}
	return []string{"GOMAXPROCS=" + serviceGOMAXPROCS}
}

// startServices starts the instances of orders and payments, then the
// gateway, and waits until the gateway is ready.
func (s *System) startServices(ctx context.Context, binaries map[string]string) error {
	logs := filepath.Join(s.cfg.DataDir, "logs")
	brokers := strings.Join(s.Brokers(), ",")
	runtimeEnv := serviceRuntimeEnv(os.LookupEnv)
	common := []string{"KAFKA_BROKERS=" + brokers, "ORDERS_TOPIC=" + s.cfg.Topics.Orders, "PAYMENTS_TOPIC=" + s.cfg.Topics.Payments,
		"CONNECT_URL=" + s.ConnectURL()}
	for _, svc := range []struct {
		name, addrVar, adminVar, dbVar string
		addrs, adminAddrs              []string
	}{
		{Orders, "ORDERS_GRPC_ADDR", "ORDERS_ADMIN_ADDR", "ORDERS_DATABASE_URL", s.OrdersAddrs, s.OrdersAdminAddrs},
		{Payments, "PAYMENTS_GRPC_ADDR", "PAYMENTS_ADMIN_ADDR", "PAYMENTS_DATABASE_URL", s.PaymentsAddrs, s.PaymentsAdminAddrs},
	} {
		for i, addr := range svc.addrs {
			env := append(append(append(slices.Clone(runtimeEnv), s.cfg.Env...), common...),
				svc.addrVar+"="+addr, svc.adminVar+"="+svc.adminAddrs[i], svc.dbVar+"="+s.ServiceURL(svc.name))
			c := ServiceComponent(InstanceName(svc.name, i+1), binaries[svc.name], logs, env, TCPReady(addr), NamePostgres, NameKafka)
			if err := s.Start(ctx, freeFirst(c, addr, svc.addrVar)); err != nil {
				return err
			}
		}
	}
	authEnv, err := s.gatewayAuthEnv()
	if err != nil {
		return err
	}
	env := append(append(append(slices.Clone(runtimeEnv), s.cfg.Env...), authEnv...), "GATEWAY_HTTP_ADDR="+s.GatewayAddr, "GATEWAY_ADMIN_ADDR="+s.GatewayAdminAddr,
		"ORDERS_GRPC_ADDR="+strings.Join(s.OrdersAddrs, ","), "PAYMENTS_GRPC_ADDR="+strings.Join(s.PaymentsAddrs, ","))
	// Alive is enough to count as started: /readyz depends on the backends,
	// and a gateway restarted while one is down must not count as failed.
	gw := ServiceComponent(NameGateway, binaries["gateway"], logs, env, HTTPReady(s.GatewayURL()+"/healthz"))
	if err := s.Start(ctx, freeFirst(gw, s.GatewayAddr, "GATEWAY_HTTP_ADDR")); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ready := HTTPReady(s.GatewayURL() + "/readyz")
	for {
		err := ready(wctx)
		if err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return &StartError{Component: NameGateway, Err: fmt.Errorf("/readyz: %w", errors.Join(err, wctx.Err()))}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freeFirst makes each start of c check first that its listen address is
// free: with the address taken by a stranger, the readiness check would
// talk to the stranger.
func freeFirst(c Component, addr, env string) Component {
	start := c.Start
	c.Start = func(ctx context.Context) (*Process, error) {
		if err := CheckAddr(c.Name, addr, env); err != nil {
			return nil, err
		}
		return start(ctx)
	}
	return c
}

// AdminURL is the superuser's URL for dbname.
func (s *System) AdminURL(dbname string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", s.cfg.SuperuserPassword, s.cfg.PostgresPort, dbname)
}

// ServiceURL is the URL of the runtime role of the service whose database
// is dbname ("orders" or "payments"): what its instances connect with.
func (s *System) ServiceURL(dbname string) string {
	return s.cfg.roleURL(schema.Database(dbname).RuntimeRole(), dbname)
}

// OwnerURL is the URL of the owner role of database dbname: what the
// migrations run with.
func (s *System) OwnerURL(dbname string) string {
	return s.cfg.roleURL(schema.Database(dbname).OwnerRole(), dbname)
}

// Brokers returns Kafka's bootstrap addresses.
func (s *System) Brokers() []string { return []string{fmt.Sprintf("127.0.0.1:%d", s.cfg.KafkaPort)} }

// ConnectURL is Kafka Connect's REST address.
func (s *System) ConnectURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.cfg.ConnectPort) }

// ConnectMetricsURL and KafkaMetricsURL are the JMX exporters' /metrics,
// "" when the agents are off.
func (s *System) ConnectMetricsURL() string {
	if s.cfg.NoMetricsAgents {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.cfg.ConnectMetricsPort)
}

// KafkaMetricsURL: see ConnectMetricsURL.
func (s *System) KafkaMetricsURL() string {
	if s.cfg.NoMetricsAgents {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.cfg.KafkaMetricsPort)
}

// GatewayURL is the gateway's base URL, such as http://127.0.0.1:8080.
func (s *System) GatewayURL() string { return "http://" + s.GatewayAddr }
