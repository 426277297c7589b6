// Command streambench is `make bench-streams`: the order status stream
// (GET /api/v1/orders/stream) measured through the gateway. It reports the
// time from an order's status change to the event read by an SSE client
// (p50/p99) at a fixed order rate, and the memory one open stream costs in
// the gateway and in the orders instance, with many streams open. It
// attaches to a running stack (`make run`) or starts one. See
// bench/STREAMS.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

	"shop/bench/benchcmd"
	"shop/service"
)

func main() { benchcmd.Main(parseFlags, run) }

// config is what streambench reads from its flags and the environment.
type config struct {
	root         string
	dataDir      string
	portOffset   int
	stackTimeout time.Duration
	commitTS     bool
	durable      bool
	keep         bool

	gatewayURL   string
	gatewayAdmin string
	ordersAdmin  string
	ordersPort   int
	postgresPort int

	rate          float64
	duration      time.Duration
	warmup        time.Duration
	drain         time.Duration
	users         int // latency run: users, one stream each
	streams       int // memory run: streams open
	perUser       int // memory run: streams per user
	amount        int64
	openConc      int
	maxInFlight   int
	skipLatency   bool
	proc          string
	out           string
	ordersDBPass  string
	superuserPass string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("streambench", flag.ContinueOnError)
	fs.StringVar(&c.root, "root", "", "repository root (default: the directory holding go.work, found upwards)")
	fs.StringVar(&c.dataDir, "data-dir", ".data-streambench", "STACK_DATA_DIR of the stack started when no gateway answers, relative to the root; removed afterwards")
	fs.IntVar(&c.portOffset, "port-offset", 0, "added to every default port (gateway, services, admin listeners, Postgres, Kafka, Connect): where to attach, and where a started stack listens")
	fs.DurationVar(&c.stackTimeout, "stack-timeout", 15*time.Minute, "how long to wait for a started stack's /readyz")
	fs.BoolVar(&c.commitTS, "commit-ts", true, "on a stack streambench starts: turn on Postgres' track_commit_timestamp (one restart of the stack), so that latency is measured from each change's commit")
	fs.BoolVar(&c.durable, "durable", true, "on a stack streambench starts: keep fsync on, as make run does (false: fsync and full_page_writes off, as the test stack runs)")
	fs.BoolVar(&c.keep, "keep", false, "keep the data directory (and the logs) of a stack streambench started")
	gateway := fs.String("gateway", "", "gateway base URL (default: GATEWAY_HTTP_ADDR's default shifted by -port-offset)")
	gatewayAdmin := fs.String("gateway-admin", "", "gateway admin listener base URL (default: GATEWAY_ADMIN_ADDR's, shifted)")
	ordersAdmin := fs.String("orders-admin", "", "orders admin listener base URL (default: ORDERS_ADMIN_ADDR's, shifted)")
	fs.Float64Var(&c.rate, "rate", 200, "orders per second")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long each measured run holds the rate")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "unmeasured orders at the rate before the first run")
	fs.DurationVar(&c.drain, "drain", 20*time.Second, "how long to wait after the last order for its events")
	fs.IntVar(&c.users, "users", 200, "latency run: users, each with one stream open, the orders spread over them")
	fs.IntVar(&c.streams, "streams", 1000, "memory run: streams held open (0: no memory run)")
	fs.IntVar(&c.perUser, "streams-per-user", 1, "memory run: streams per user (at most GATEWAY_STREAM_MAX_PER_USER, default 5)")
	fs.Int64Var(&c.amount, "amount", 100, "amount of each order in minor units")
	fs.IntVar(&c.openConc, "open-concurrency", 32, "streams opened at a time")
	fs.IntVar(&c.maxInFlight, "max-in-flight", 2000, "concurrent POSTs at most")
	fs.BoolVar(&c.skipLatency, "skip-latency", false, "skip the latency run with -users streams (the memory run still measures latency)")
	fs.StringVar(&c.proc, "proc", "/proc", "where the processes' memory (VmRSS) is read")
	fs.StringVar(&c.out, "out", "bench/results/streams-latest.json", "JSON results, relative to the root (empty: none)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case c.rate <= 0 || c.duration <= 0 || c.warmup < 0 || c.drain < 0:
		return c, errors.New("-rate and -duration must be positive, -warmup and -drain not negative")
	case c.users < 1 || c.streams < 0 || c.perUser < 1 || c.openConc < 1 || c.maxInFlight < 1:
		return c, errors.New("-users, -streams-per-user, -open-concurrency and -max-in-flight must be at least 1, -streams not negative")
	case c.portOffset < 0 || c.portOffset > 50000:
		return c, errors.New("-port-offset must be between 0 and 50000")
	}
	var err error
	if c.gatewayURL, err = urlOr(*gateway, service.Defaults[service.GatewayEndpoint]().HTTPAddr, c.portOffset); err != nil {
		return c, err
	}
	if c.gatewayAdmin, err = urlOr(*gatewayAdmin, service.Defaults[service.GatewayAdmin]().Addr, c.portOffset); err != nil {
		return c, err
	}
	if c.ordersAdmin, err = urlOr(*ordersAdmin, service.Defaults[service.OrdersAdmin]().Addr, c.portOffset); err != nil {
		return c, err
	}
	if c.ordersPort, err = portOf(shift(service.Defaults[service.OrdersEndpoint]().GRPCAddr, c.portOffset)); err != nil {
		return c, err
	}
	if c.postgresPort, err = strconv.Atoi(benchcmd.Env("POSTGRES_PORT", "5432")); err != nil {
		return c, fmt.Errorf("POSTGRES_PORT: %w", err)
	}
	c.postgresPort += c.portOffset
	c.ordersDBPass = benchcmd.Env("ORDERS_DB_PASSWORD", "orders_app")
	c.superuserPass = benchcmd.Env("POSTGRES_PASSWORD", "postgres")
	if c.root == "" {
		if c.root, err = benchcmd.FindRoot(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// stackEnv is the environment of a stack streambench starts (beside its
// STACK_DATA_DIR): the header identity (X-User-ID) and every port shifted by
// the offset.
func (c config) stackEnv() []string {
	// The orders and streams are spread over -users users faster than a
	// shopper's rate: the gateway's per-identity rate limit is off. The
	// scheduled money audit runs at the stack's start only, not during a
	// measurement.
	env := []string{"AUTH_MODE=header", "GATEWAY_RATE_LIMIT=0", "AUDIT_INTERVAL=24h"}
	for _, p := range []struct {
		name string
		port int
	}{{"POSTGRES_PORT", 5432}, {"KAFKA_PORT", 9092}, {"KAFKA_CONTROLLER_PORT", 9093}, {"CONNECT_PORT", 8083},
		{"KAFKA_METRICS_PORT", 9114}, {"CONNECT_METRICS_PORT", 9113}} {
		env = append(env, fmt.Sprintf("%s=%d", p.name, p.port+c.portOffset))
	}
	for _, a := range []struct{ name, addr string }{
		{"GATEWAY_HTTP_ADDR", service.Defaults[service.GatewayEndpoint]().HTTPAddr},
		{"ORDERS_GRPC_ADDR", service.Defaults[service.OrdersEndpoint]().GRPCAddr},
		{"PAYMENTS_GRPC_ADDR", service.Defaults[service.PaymentsEndpoint]().GRPCAddr},
		{"GATEWAY_ADMIN_ADDR", service.Defaults[service.GatewayAdmin]().Addr},
		{"ORDERS_ADMIN_ADDR", service.Defaults[service.OrdersAdmin]().Addr},
		{"PAYMENTS_ADMIN_ADDR", service.Defaults[service.PaymentsAdmin]().Addr},
	} {
		env = append(env, a.name+"="+shift(a.addr, c.portOffset))
	}
	return env
}

// shift adds offset to the port of host:port addr; an addr that does not
// parse is returned as it is.
func shift(addr string, offset int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+offset))
}

// urlOr is explicit when given, else http:// and def shifted by offset.
func urlOr(explicit, def string, offset int) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if _, err := portOf(def); err != nil {
		return "", err
	}
	return "http://" + shift(def, offset), nil
}

func portOf(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return strconv.Atoi(port)
}
