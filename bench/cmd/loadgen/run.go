package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/bench/ceiling"
	"shop/bench/cpu"
	"shop/bench/load"
	"shop/bench/stackproc"
)

// stepReport is one measured step with what the orders database says about
// its orders.
type stepReport struct {
	load.Result
	// Server is measured from the orders table (every order of the step, not
	// only the observed ones); absent when the database is unreachable.
	Server    *serverSide `json:"server,omitempty"`
	Backlog   int         `json:"backlog"`
	Sustained bool        `json:"sustained"`
	Verdict   string      `json:"verdict"`
	// CPU is the stack's CPU over the step and its drain; CPUMSPerOrder
	// its total per created order (-1: not measured).
	CPU           *cpu.Usage `json:"cpu,omitempty"`
	CPUMSPerOrder float64    `json:"cpu_ms_per_order"`
}

// serverSide: orders of the step by status after the drain, and
// updated_at - created_at of the decided ones (creation commit to the
// payment outcome applied, by the orders service's clock; no polling error).
type serverSide struct {
	Orders    int     `json:"orders"`
	Pending   int     `json:"pending"`
	Paid      int     `json:"paid"`
	Cancelled int     `json:"cancelled"`
	P50       float64 `json:"e2e_p50_ms"`
	P99       float64 `json:"e2e_p99_ms"`
	Max       float64 `json:"e2e_max_ms"`
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	runID := time.Now().UTC().Format("20060102T150405Z")
	client, err := load.NewClient(cfg.gatewayURL, 4096, cfg.clientTimeout)
	if err != nil {
		return err
	}
	defer client.Close()

	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = client.Ready(rctx)
	cancel()
	stackMode := "running"
	if err != nil {
		// The load is many orders/s over -accounts users: the bench
		// measures the pipeline, so the gateway's per-identity rate limit
		// is off unless the environment sets it.
		var env []string
		if os.Getenv("GATEWAY_RATE_LIMIT") == "" {
			env = append(env, "GATEWAY_RATE_LIMIT=0")
		}
		// Nor does the scheduled money audit, a scan of the whole ledger,
		// run during a measured step (only at the stack's start).
		if os.Getenv("AUDIT_INTERVAL") == "" {
			env = append(env, "AUDIT_INTERVAL=24h")
		}
		if os.Getenv("AUTH_MODE") == "" {
			// loadgen names its users by X-User-ID; the development issuer's
			// tokens (AUTH_MODE=jwt, the default of `stack run`) are not used.
			env = append(env, "AUTH_MODE=header")
		}
		s, err := stackproc.Start(ctx, stackproc.Options{
			Root: cfg.root, DataDir: cfg.dataDir, Keep: cfg.keep, Env: env,
			LogPath: filepath.Join(cfg.root, "bench", "results", "stack-"+runID+".log"),
			Ready:   client.Ready, Timeout: cfg.stackTimeout, Log: log,
		})
		if err != nil {
			return err
		}
		defer s.Stop()
		stackMode = "started"
	} else {
		log.Info("using the running stack", "gateway", cfg.gatewayURL)
	}

	rep := report{
		RunID: runID, Started: time.Now().UTC(), Gateway: cfg.gatewayURL, Stack: stackMode,
		Accounts: cfg.accounts, Amount: cfg.amount, PollIntervalMS: float64(cfg.poll.Microseconds()) / 1000,
		ObserveMax: cfg.observeMax, StepDurationS: cfg.duration.Seconds(), DrainS: cfg.drain.Seconds(),
		MaxP99MS: float64(cfg.maxP99.Milliseconds()), FixedE2ERate: cfg.fixedE2ERate, FixedCreateRate: cfg.fixedCreate,
	}
	meter := newCPUMeter(cfg.procDir, cfg.gatewayURL, log)
	if meter != nil {
		rep.Processes = map[string]int{}
		for _, c := range meter.comps {
			rep.Processes[c.Name] = c.PID
		}
	}
	if cfg.restOnly {
		rep.Rest = meter.rest(ctx, 0, cfg.rest)
		rep.Finished = time.Now().UTC()
		rep.summarize()
		printCPUTable(os.Stdout, rep)
		if err := writeJSON(filepath.Join(cfg.root, cfg.out), runID, rep); err != nil {
			log.Warn("write results", "err", err)
		}
		fmt.Println(rep.resultLine())
		return ctx.Err()
	}
	users := load.UserNames("bench", runID, cfg.accounts)
	if err := client.OpenAccounts(ctx, users, log); err != nil {
		return err
	}

	if cfg.ceiling {
		c, err := ceiling.Measure(ctx, ceiling.Config{
			AdminURL: cfg.adminURL, ServicePassword: cfg.shopPassword, OwnerPassword: cfg.ownerPassword, Database: "bench_ceiling",
			Clients: cfg.pgClients, Threads: 2, Duration: cfg.pgDuration,
		}, log)
		if err != nil {
			return fmt.Errorf("pgbench ceiling: %w", err)
		}
		rep.Ceiling = &c
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	db, err := pgxpool.New(ctx, cfg.ordersURL)
	if err == nil {
		err = db.Ping(ctx)
	}
	if err != nil {
		log.Warn("orders database unreachable: backlog is estimated from the observed orders only", "err", err)
		db = nil
	} else {
		defer db.Close()
	}

	limits := load.DefaultLimits
	limits.MaxE2EP99 = cfg.maxP99
	step := func(rate float64, d time.Duration, name string) load.Step {
		return load.Step{
			Rate: rate, Duration: d, Drain: cfg.drain, PollInterval: cfg.poll,
			Observe: load.ObserveFraction(rate, cfg.observeMax), Users: users, Amount: cfg.amount,
			Description: fmt.Sprintf("bench %s %s", runID, name), MaxInFlight: cfg.maxInFlight,
		}
	}
	if cfg.warmup > 0 {
		log.Info("warm-up (not measured)", "rate", cfg.rates[0], "duration", cfg.warmup)
		client.RunStep(ctx, step(cfg.rates[0], cfg.warmup, "warmup"), log)
	}
	// The rest is measured after the warm-up, so that it is the warm
	// stack's (a JVM just started still compiles its idle loops), and a few
	// seconds after it, for its effects (connector batches, offset
	// flushes, a checkpoint) to pass.
	rep.Rest = meter.rest(ctx, 5*time.Second, cfg.rest)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	plan(cfg.rates, cfg.fixedE2ERate, cfg.fixedCreate, func(rate float64) bool {
		if ctx.Err() != nil {
			return false
		}
		s := step(rate, cfg.duration, fmt.Sprintf("rate %g", rate))
		log.Info("step", "rate", rate, "duration", cfg.duration, "observe_fraction", fmt.Sprintf("%.3f", s.Observe))
		var r load.Result
		usage := meter.window(func() { r = client.RunStep(ctx, s, log) })
		sr := stepReport{Result: r, CPU: usage, CPUMSPerOrder: msPerOrder(usage, r.Created)}
		if db != nil {
			if sr.Server, err = queryServerSide(ctx, db, s.Description); err != nil {
				log.Warn("orders database query", "err", err)
			}
		}
		sr.Backlog = estimatedBacklog(r, sr.Server)
		sr.Sustained, sr.Verdict = limits.Verdict(r, sr.Backlog)
		log.Info("step done", "rate", rate, "achieved", fmt.Sprintf("%.1f", r.Achieved), "errors", r.ErrorCount,
			"create_p99_ms", r.Create.P99, "e2e_p50_ms", r.E2E.P50, "e2e_p99_ms", r.E2E.P99,
			"gets_per_s", fmt.Sprintf("%.0f", r.GETsPerS), "backlog", sr.Backlog, "cpu_ms_per_order", fmt.Sprintf("%.2f", sr.CPUMSPerOrder),
			"verdict", sr.Verdict)
		rep.Steps = append(rep.Steps, sr)
		return sr.Sustained
	})
	if ctx.Err() != nil {
		log.Warn("interrupted: reporting what was measured")
	}
	rep.Finished = time.Now().UTC()
	rep.summarize()

	printTable(os.Stdout, rep)
	printCPUTable(os.Stdout, rep)
	if err := writeJSON(filepath.Join(cfg.root, cfg.out), runID, rep); err != nil {
		log.Warn("write results", "err", err)
	} else {
		log.Info("results written", "path", filepath.Join(cfg.root, cfg.out))
	}
	fmt.Println(rep.resultLine())
	return nil
}

// plan runs steps in ascending order of rates merged with the fixed rates,
// calling run for each, until a step is not sustained; the fixed rates not
// reached by then are still run afterwards. It returns the rates run.
func plan(rates []float64, fixedE2E, fixedCreate float64, run func(rate float64) bool) []float64 {
	all := slices.Clone(rates)
	for _, f := range []float64{fixedE2E, fixedCreate} {
		if f > 0 {
			all = append(all, f)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var done []float64
	failed := false
	for _, r := range all {
		fixed := r == fixedE2E || r == fixedCreate
		if failed && !fixed {
			continue
		}
		ok := run(r)
		done = append(done, r)
		if !ok {
			failed = true
		}
	}
	return done
}

// estimatedBacklog is the step's orders still PENDING after the drain:
// counted in the database when it answered, else the observed backlog scaled
// up by the observed fraction.
func estimatedBacklog(r load.Result, s *serverSide) int {
	if s != nil {
		return s.Pending
	}
	if r.ObserveFrac <= 0 {
		return r.Backlog
	}
	return int(float64(r.Backlog)/r.ObserveFrac + 0.5)
}

func queryServerSide(ctx context.Context, db *pgxpool.Pool, description string) (*serverSide, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var s serverSide
	var p50, p99, mx *float64
	err := db.QueryRow(ctx, `SELECT count(*),
		count(*) FILTER (WHERE status = 'PENDING'),
		count(*) FILTER (WHERE status = 'PAID'),
		count(*) FILTER (WHERE status = 'CANCELLED'),
		percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) FILTER (WHERE status <> 'PENDING'),
		percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) FILTER (WHERE status <> 'PENDING'),
		max(extract(epoch FROM updated_at - created_at)) FILTER (WHERE status <> 'PENDING')
		FROM orders WHERE description = $1`, description).Scan(&s.Orders, &s.Pending, &s.Paid, &s.Cancelled, &p50, &p99, &mx)
	if err != nil {
		return nil, err
	}
	msOf := func(v *float64) float64 {
		if v == nil {
			return 0
		}
		return float64(int64(*v*1e6)) / 1000
	}
	s.P50, s.P99, s.Max = msOf(p50), msOf(p99), msOf(mx)
	return &s, nil
}
