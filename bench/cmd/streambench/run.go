package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/bench/benchcmd"
	"shop/bench/cpu"
	"shop/bench/load"
	"shop/bench/stackproc"
	"shop/bench/stats"
)

// latencyRun is one measured run of orders at a fixed rate with streams
// open.
type latencyRun struct {
	Name     string         `json:"name"`
	Streams  int            `json:"streams"`
	Users    int            `json:"users"`
	Rate     float64        `json:"rate"`
	Achieved float64        `json:"achieved"`
	Created  int            `json:"created"`
	Errors   map[string]int `json:"errors,omitempty"`
	// Clock says what the change latency is measured from: "commit"
	// (pg_xact_commit_timestamp of the change's transaction) or
	// "updated_at" (the time the orders service gave the change, inside
	// its transaction, before the commit).
	Clock string `json:"clock"`
	// Change: status change (PAID/CANCELLED) to its event read by a
	// client; every read is a sample. Created: the order's creation
	// (created_at) to its PENDING event read.
	Change       stats.Summary `json:"change"`
	CreatedEvent stats.Summary `json:"created_event"`
	// CommitGap: commit - updated_at of the changes, when commit times
	// are known: what measuring from updated_at adds.
	CommitGap *stats.Summary `json:"commit_gap,omitempty"`
	// Missing: orders whose terminal event some stream of its user did
	// not read within the drain.
	Missing int `json:"missing"`
	// Waits: what the orders database's active sessions were waiting
	// for during the run, sampled every 250 ms: the share of samples of
	// each wait event, the most frequent first.
	Waits []waitShare `json:"orders_db_waits,omitempty"`
}

// memoryRun is the memory of the gateway and the orders instance with no
// stream open and with Streams open.
type memoryRun struct {
	Streams       int       `json:"streams"`
	Users         int       `json:"users"`
	OpenTookS     float64   `json:"open_took_s"`
	GatewayBefore memSample `json:"gateway_before"`
	GatewayAfter  memSample `json:"gateway_after"`
	OrdersBefore  memSample `json:"orders_before"`
	OrdersAfter   memSample `json:"orders_after"`
	Gateway       perStream `json:"gateway_per_stream"`
	Orders        perStream `json:"orders_per_stream"`
}

type report struct {
	RunID     string       `json:"run_id"`
	Started   time.Time    `json:"started"`
	Finished  time.Time    `json:"finished"`
	Gateway   string       `json:"gateway"`
	Stack     string       `json:"stack"`
	LoadAvg   string       `json:"loadavg_at_start"`
	Latency   []latencyRun `json:"latency"`
	Memory    *memoryRun   `json:"memory,omitempty"`
	StreamEnd int64        `json:"streams_ended_early"`
	BadFrames int64        `json:"bad_frames"`
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	runID := time.Now().UTC().Format("20060102T150405Z")
	client, err := load.NewClient(cfg.gatewayURL, 4096, 10*time.Second)
	if err != nil {
		return err
	}
	defer client.Close()
	rep := report{RunID: runID, Started: time.Now().UTC(), Gateway: cfg.gatewayURL, Stack: "running"}

	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = client.Ready(rctx)
	cancel()
	if err != nil {
		s, err := stackproc.Start(ctx, stackproc.Options{
			Root: cfg.root, DataDir: cfg.dataDir, Keep: cfg.keep, Env: cfg.stackEnv(),
			LogPath: filepath.Join(cfg.root, "bench", "results", "streambench-stack-"+runID+".log"),
			Ready:   client.Ready, Timeout: cfg.stackTimeout, Log: log,
		})
		if err != nil {
			return err
		}
		defer s.Stop()
		rep.Stack = "started"
		var settings []string
		if cfg.commitTS {
			settings = append(settings, "track_commit_timestamp = on")
		}
		if !cfg.durable {
			settings = append(settings, "fsync = off", "full_page_writes = off")
		}
		if len(settings) > 0 {
			// These take effect at a restart.
			if err := alterSystem(ctx, cfg, settings); err != nil {
				log.Warn("Postgres settings not changed: latency is measured from updated_at", "settings", settings, "err", err)
			} else {
				log.Info("Postgres settings changed: restarting the stack", "settings", settings)
				if err := s.Restart(ctx); err != nil {
					return err
				}
			}
		}
	} else {
		log.Info("using the running stack", "gateway", cfg.gatewayURL)
	}
	if b, err := os.ReadFile(filepath.Join(cfg.proc, "loadavg")); err == nil {
		rep.LoadAvg = strings.TrimSpace(string(b))
	}

	gw, orders := findProcesses(cfg, log)
	db, commitTS := openOrdersDB(ctx, cfg, log)
	if db != nil {
		defer db.Close()
	}

	nUsers := cfg.users
	if cfg.streams > 0 {
		nUsers = max(nUsers, (cfg.streams+cfg.perUser-1)/cfg.perUser)
	}
	users := load.UserNames("streambench", runID, nUsers)
	if err := client.OpenAccounts(ctx, users, log); err != nil {
		return err
	}
	rec := newRecorder()
	var open *streamPool
	closeStreams := func() {
		if open != nil {
			open.closeAll()
			rep.StreamEnd += open.ended.Load()
			rep.BadFrames += open.bad.Load()
			open = nil
		}
	}
	defer closeStreams()
	warmed := false
	measure := func(name string, streamUsers []string, streams, perUser int) error {
		if cfg.warmup > 0 && !warmed {
			warmed = true
			log.Info("warm-up (not measured)", "rate", cfg.rate, "duration", cfg.warmup)
			drive(ctx, client, streamUsers, cfg.rate, cfg.warmup, cfg.amount, "streambench "+runID+" warmup", cfg.maxInFlight)
		}
		log.Info("latency run", "name", name, "streams", streams, "users", len(streamUsers), "rate", cfg.rate, "duration", cfg.duration)
		sampler := sampleWaits(ctx, db)
		d := drive(ctx, client, streamUsers, cfg.rate, cfg.duration, cfg.amount, "streambench "+runID+" "+name, cfg.maxInFlight)
		waits := sampler()
		waited := awaitReads(ctx, rec, d.IDs, len(d.IDs)*perUser, cfg.drain)
		log.Info("orders sent", "created", len(d.IDs), "achieved", fmt.Sprintf("%.1f", d.Achieved), "errors", d.Errors, "drain", waited.Round(time.Millisecond))
		want := make(map[string]bool, len(d.IDs))
		for _, id := range d.IDs {
			want[id] = true
		}
		var commits map[changeKey]time.Time
		if commitTS {
			if commits, err = commitTimes(ctx, db, streamUsers, d.IDs); err != nil {
				log.Warn("commit times not read: latency is measured from updated_at", "err", err)
			}
		}
		reads := rec.snapshot()
		change, created, missing, fromCommit := latencies(reads, want, commits, perUser)
		lr := latencyRun{Name: name, Streams: streams, Users: len(streamUsers), Rate: cfg.rate, Achieved: d.Achieved,
			Created: len(d.IDs), Errors: d.Errors, Clock: "updated_at", Change: stats.Summarize(change),
			CreatedEvent: stats.Summarize(created), Missing: missing, Waits: waits}
		if fromCommit > 0 {
			lr.Clock = "commit"
			if fromCommit < len(change) {
				lr.Clock = fmt.Sprintf("commit (%d of %d samples; the others updated_at)", fromCommit, len(change))
			}
			g := stats.Summarize(commitGaps(reads, want, commits))
			lr.CommitGap = &g
		}
		log.Info("latency", "name", name, "clock", lr.Clock, "change_p50_ms", lr.Change.P50, "change_p99_ms", lr.Change.P99,
			"change_max_ms", lr.Change.Max, "samples", lr.Change.Count, "missing", missing, "orders_db_waits", waits)
		rep.Latency = append(rep.Latency, lr)
		return ctx.Err()
	}

	// The memory first, on a gateway that has not served load yet: its
	// heap and RSS then grow with the streams alone.
	if cfg.streams > 0 {
		hc := &http.Client{}
		m := memoryRun{Streams: cfg.streams, Users: (cfg.streams + cfg.perUser - 1) / cfg.perUser}
		if m.GatewayBefore, err = gw.sample(ctx, hc); err != nil {
			return err
		}
		if m.OrdersBefore, err = orders.sample(ctx, hc); err != nil {
			return err
		}
		if m.GatewayBefore.StreamsOpen != 0 {
			log.Warn("streams already open on the gateway: they are counted in the baseline", "open", m.GatewayBefore.StreamsOpen)
		}
		log.Info("memory before", "gateway", m.GatewayBefore, "orders", m.OrdersBefore)
		start := time.Now()
		open = newStreamPool(cfg.gatewayURL, rec, log)
		if err := open.open(ctx, users[:m.Users], cfg.streams, cfg.perUser, cfg.openConc); err != nil {
			return fmt.Errorf("open %d streams: %w", cfg.streams, err)
		}
		m.OpenTookS = time.Since(start).Seconds()
		if err := waitStreams(ctx, hc, cfg.gatewayAdmin, int(m.GatewayBefore.StreamsOpen)+cfg.streams, time.Minute); err != nil {
			return err
		}
		log.Info("streams open", "streams", cfg.streams, "took", time.Since(start).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		if m.GatewayAfter, err = gw.sample(ctx, hc); err != nil {
			return err
		}
		if m.OrdersAfter, err = orders.sample(ctx, hc); err != nil {
			return err
		}
		for _, p := range []process{gw, orders} {
			path := filepath.Join(cfg.root, "bench", "results", fmt.Sprintf("streams-%s-heap-%s.pb.gz", p.name, runID))
			if err := saveHeapProfile(ctx, hc, p.adminURL, path); err != nil {
				log.Warn("heap profile not saved", "process", p.name, "err", err)
			} else {
				log.Info("heap profile with the streams open", "process", p.name, "path", path)
			}
		}
		m.Gateway = divide(m.GatewayBefore, m.GatewayAfter, cfg.streams)
		m.Orders = divide(m.OrdersBefore, m.OrdersAfter, cfg.streams)
		log.Info("memory with streams open", "gateway", m.GatewayAfter, "orders", m.OrdersAfter)
		rep.Memory = &m
		if err := measure(fmt.Sprintf("%d streams", cfg.streams), users[:m.Users], cfg.streams, cfg.perUser); err != nil {
			return err
		}
		closeStreams()
	}
	if !cfg.skipLatency {
		open = newStreamPool(cfg.gatewayURL, rec, log)
		if err := open.open(ctx, users[:cfg.users], cfg.users, 1, cfg.openConc); err != nil {
			return fmt.Errorf("open streams: %w", err)
		}
		if err := measure(fmt.Sprintf("%d streams", cfg.users), users[:cfg.users], cfg.users, 1); err != nil {
			return err
		}
		closeStreams()
	}
	rep.Finished = time.Now().UTC()
	printReport(os.Stdout, rep)
	if cfg.out != "" {
		path := filepath.Join(cfg.root, cfg.out)
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				log.Warn("write results", "err", err)
			} else {
				log.Info("results written", "path", path)
			}
		}
	}
	return nil
}

// findProcesses finds the gateway and the (first) orders instance by their
// listening ports; a process not found is read from its metrics alone.
func findProcesses(cfg config, log *slog.Logger) (gw, orders process) {
	p := cpu.Proc{Dir: cfg.proc}
	gw = process{name: "gateway", adminURL: cfg.gatewayAdmin, proc: cfg.proc}
	orders = process{name: "orders", adminURL: cfg.ordersAdmin, proc: cfg.proc}
	if port, err := portOf(strings.TrimPrefix(cfg.gatewayURL, "http://")); err == nil {
		if gw.pid, err = p.ListenerPID(port); err != nil {
			log.Warn("gateway process not found: RSS from its metrics", "err", err)
		}
	}
	var err error
	if orders.pid, err = p.ListenerPID(cfg.ordersPort); err != nil {
		log.Warn("orders process not found: RSS from its metrics", "err", err)
	}
	log.Info("processes", "gateway_pid", gw.pid, "orders_pid", orders.pid)
	return gw, orders
}

// waitStreams waits until the gateway reports want open streams.
func waitStreams(ctx context.Context, hc *http.Client, adminURL string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := streamsOpen(ctx, hc, adminURL)
		if err == nil && n == want {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gateway reports %d open streams (%v), want %d", n, err, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// openOrdersDB connects to the orders database (as the service's role,
// which sees its own sessions in pg_stat_activity); nil when it cannot.
// commitTS reports whether Postgres keeps commit times.
func openOrdersDB(ctx context.Context, cfg config, log *slog.Logger) (db *pgxpool.Pool, commitTS bool) {
	url := benchcmd.Env("ORDERS_DATABASE_URL", fmt.Sprintf("postgres://orders_app:%s@127.0.0.1:%d/orders?sslmode=disable", cfg.ordersDBPass, cfg.postgresPort))
	db, err := pgxpool.New(ctx, url)
	if err == nil {
		err = db.Ping(ctx)
	}
	if err != nil {
		log.Warn("orders database unreachable: latency is measured from updated_at, no wait events", "err", err)
		if db != nil {
			db.Close()
		}
		return nil, false
	}
	var on string
	if err := db.QueryRow(ctx, "SHOW track_commit_timestamp").Scan(&on); err != nil || on != "on" {
		log.Warn("track_commit_timestamp is off (or unreadable): latency is measured from updated_at", "err", err)
		return db, false
	}
	log.Info("track_commit_timestamp is on: latency is measured from each change's commit")
	return db, true
}

// alterSystem applies settings ("name = value", ALTER SYSTEM, as the
// superuser); they take effect at the next start of Postgres.
func alterSystem(ctx context.Context, cfg config, settings []string) error {
	url := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", cfg.superuserPass, cfg.postgresPort)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, set := range settings {
		if _, err := conn.Exec(ctx, "ALTER SYSTEM SET "+set); err != nil {
			return err
		}
	}
	return nil
}

// commitTimes returns the commit time of every change of the orders ids
// (of users), from the change log's rows: the transaction that inserted a
// row of order_changes is the one that changed the order.
func commitTimes(ctx context.Context, db *pgxpool.Pool, users, ids []string) (map[changeKey]time.Time, error) {
	if db == nil || len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rows, err := db.Query(ctx, `SELECT order_id::text, status, pg_xact_commit_timestamp(xmin)
		FROM order_changes WHERE user_id = ANY($1) AND order_id = ANY($2::uuid[])`, users, ids)
	if err != nil {
		return nil, err
	}
	out := map[changeKey]time.Time{}
	var (
		k  changeKey
		at *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&k.Order, &k.Status, &at}, func() error {
		if at != nil {
			out[k] = *at
		}
		return nil
	})
	return out, err
}
