// Command loadgen is `make bench`: orders per second and latency end to end
// through the gateway, beside pgbench's ceiling for the same transaction on
// the same Postgres. See bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"shop/bench/benchcmd"
	"shop/service"
)

func main() { benchcmd.Main(parseFlags, run) }

// config is everything loadgen reads from its flags and the environment.
type config struct {
	gatewayURL    string
	root          string // repository root: where the stack is started and results go
	dataDir       string // STACK_DATA_DIR of a stack loadgen starts
	keep          bool
	stackTimeout  time.Duration
	rates         []float64
	duration      time.Duration
	warmup        time.Duration
	drain         time.Duration
	poll          time.Duration
	observeMax    float64
	accounts      int
	amount        int64
	maxInFlight   int
	maxP99        time.Duration
	fixedE2ERate  float64
	fixedCreate   float64
	ceiling       bool
	pgClients     []int
	pgDuration    time.Duration
	adminURL      string
	ordersURL     string
	shopPassword  string // the orders runtime role's
	ownerPassword string // the orders owner role's
	out           string
	clientTimeout time.Duration
	rest          time.Duration // CPU at rest is measured this long before the load
	restOnly      bool
	procDir       string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&c.gatewayURL, "gateway", benchcmd.Env("GATEWAY_URL", "http://"+service.Defaults[service.GatewayEndpoint]().HTTPAddr), "gateway base URL (loopback only); env GATEWAY_URL")
	fs.StringVar(&c.root, "root", "", "repository root (default: the directory holding go.work, found upwards from the working directory)")
	fs.StringVar(&c.dataDir, "data-dir", ".data-bench", "STACK_DATA_DIR of the stack started when none answers, relative to the root")
	fs.BoolVar(&c.keep, "keep", false, "keep the data directory of a stack loadgen started")
	fs.DurationVar(&c.stackTimeout, "stack-timeout", 15*time.Minute, "how long to wait for a started stack's /readyz (first run fetches jars and builds)")
	rates := fs.String("rates", "100,200,400,500,600,800,1000,1200,1400,1600,1800,2000", "orders/s of the steps, ascending")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "how long each step holds its rate")
	quick := fs.Bool("quick", false, "smoke run: 10s steps, 3s warm-up and drain, 5s pgbench runs (explicit flags still win)")
	fs.DurationVar(&c.warmup, "warmup", 30*time.Second, "unmeasured load at the first rate before the rest and the steps (JIT of the JVMs, connection pools)")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "observation after a step's last send; orders still PENDING then are its backlog")
	fs.DurationVar(&c.poll, "poll", 10*time.Millisecond, "interval of the GETs that watch an order until it is decided")
	fs.Float64Var(&c.observeMax, "observe-max", 20, "watch at most this many orders per second, evenly spread (0: every order)")
	fs.IntVar(&c.accounts, "accounts", 1000, "accounts (distinct X-User-ID) the orders are spread over")
	fs.Int64Var(&c.amount, "amount", 100, "amount of each order in minor units")
	fs.IntVar(&c.maxInFlight, "max-in-flight", 20000, "concurrent POSTs at most; a send due beyond it counts as error \"skipped\"")
	fs.DurationVar(&c.maxP99, "max-p99", time.Second, "a step whose end-to-end p99 exceeds this is not sustained")
	fs.Float64Var(&c.fixedE2ERate, "fixed-e2e-rate", 200, "rate whose e2e p50/p99 the RESULT line reports (measured even when not in -rates)")
	fs.Float64Var(&c.fixedCreate, "fixed-create-rate", 500, "rate whose create p99 the RESULT line reports (measured even when not in -rates)")
	fs.BoolVar(&c.ceiling, "ceiling", true, "measure the pgbench ceiling")
	pgClients := fs.String("pgbench-clients", "4,16", "pgbench client counts; the best tps is the ceiling")
	fs.DurationVar(&c.pgDuration, "pgbench-duration", 20*time.Second, "pgbench -T per client count")
	fs.DurationVar(&c.clientTimeout, "http-timeout", 10*time.Second, "timeout of one HTTP request")
	fs.DurationVar(&c.rest, "rest", 30*time.Second, "measure the stack's CPU at rest this long, after the warm-up and before the steps (0: not at all)")
	fs.BoolVar(&c.restOnly, "rest-only", false, "measure the CPU at rest only (-rest long), print it and stop: no accounts, ceiling or load")
	fs.StringVar(&c.procDir, "proc", "/proc", "where the process table is read for the CPU accounting")
	fs.StringVar(&c.out, "out", "bench/results/latest.json", "JSON results, relative to the root (a copy named after the run id goes beside it)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		for name, d := range map[string]struct {
			p *time.Duration
			v time.Duration
		}{"duration": {&c.duration, 10 * time.Second}, "warmup": {&c.warmup, 3 * time.Second},
			"drain": {&c.drain, 3 * time.Second}, "pgbench-duration": {&c.pgDuration, 5 * time.Second}} {
			if !set[name] {
				*d.p = d.v
			}
		}
	}
	var err error
	if c.rates, err = parseList(*rates, parseFloat); err != nil {
		return c, fmt.Errorf("-rates: %w", err)
	}
	if c.pgClients, err = parseList(*pgClients, strconv.Atoi); err != nil {
		return c, fmt.Errorf("-pgbench-clients: %w", err)
	}
	pgPort := benchcmd.Env("POSTGRES_PORT", "5432")
	c.adminURL = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%s/postgres?sslmode=disable", benchcmd.Env("POSTGRES_PASSWORD", "postgres"), pgPort)
	c.shopPassword = benchcmd.Env("ORDERS_DB_PASSWORD", "orders_app")
	c.ownerPassword = benchcmd.Env("ORDERS_OWNER_DB_PASSWORD", "orders_owner")
	c.ordersURL = benchcmd.Env("ORDERS_DATABASE_URL", fmt.Sprintf("postgres://orders_app:%s@127.0.0.1:%s/orders?sslmode=disable", c.shopPassword, pgPort))
	if c.root == "" {
		if c.root, err = benchcmd.FindRoot(); err != nil {
			return c, err
		}
	}
	switch {
	case c.restOnly && c.rest <= 0:
		return c, errors.New("-rest-only needs a positive -rest")
	case c.duration <= 0 || c.drain < 0 || c.warmup < 0 || c.poll <= 0 || c.rest < 0:
		return c, errors.New("-duration and -poll must be positive, -drain, -warmup and -rest not negative")
	case c.accounts < 1:
		return c, errors.New("-accounts must be at least 1")
	case c.amount < 1:
		return c, errors.New("-amount must be at least 1")
	case c.pgDuration < time.Second:
		return c, errors.New("-pgbench-duration must be at least 1s")
	}
	return c, nil
}

// parseList parses comma-separated positive numbers.
func parseList[T int | float64](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		if v <= 0 {
			return nil, fmt.Errorf("%v: want positive numbers", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
