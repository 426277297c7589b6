// Package ceiling measures what Postgres alone can do: pgbench running the
// order-creation transaction of the orders service (BEGIN; INSERT INTO
// orders; INSERT INTO outbox; COMMIT) against a scratch database migrated
// exactly like the real orders database.
package ceiling

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	schema "shop/sql"
	"shop/stack/local"
)

// Script is the pgbench transaction. It mirrors orders/postgres.CreateOrder
// without an idempotency key: four round trips (BEGIN, the order, the
// outbox row, COMMIT) with the same columns, time-ordered ids like the
// service's UUIDv7 (the millisecond clock, then random bits) and an
// OrderCreated payload of the same shape. User ids are spread over 1000
// users.
const Script = `\set r1 random(1, 9223372036854775807)
\set r2 random(1, 9223372036854775807)
\set u random(1, 1000)
\set amount random(1, 100000)
BEGIN;
INSERT INTO orders (id, user_id, amount, currency, description, status, cancel_reason, created_at, updated_at) VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(:r1::bigint), 20, '0'))::uuid, 'pgbench-' || :u::text, :amount::bigint, 'RUB', 'pgbench ceiling', 'PENDING', NULL, now(), now());
INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent) VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(:r2::bigint), 20, '0'))::uuid, 'order', 'pgbench-' || :u::text, 'OrderCreated', json_build_object('orderId', md5(:r1::bigint::text)::uuid, 'userId', 'pgbench-' || :u::text, 'amount', :amount::text, 'currency', 'RUB', 'createdAt', now())::jsonb, NULL);
COMMIT;
`

// Config says where and how long to run.
type Config struct {
	// AdminURL is the superuser on database "postgres" of the cluster.
	AdminURL string
	// ServicePassword is the password of the orders runtime role
	// (orders_app), which runs pgbench, like the service; OwnerPassword is
	// the orders owner role's (orders_owner), which owns the scratch
	// database and migrates it.
	ServicePassword, OwnerPassword string
	// Database is the scratch database, created afresh and dropped after.
	Database string
	Clients  []int         // a pgbench run per client count; the best tps is the ceiling
	Threads  int           // pgbench -j
	Duration time.Duration // pgbench -T per run
}

// Run is one pgbench run.
type Run struct {
	Clients      int     `json:"clients"`
	TPS          float64 `json:"tps"`
	LatencyAvgMS float64 `json:"latency_avg_ms"`
	Transactions int     `json:"transactions"`
	Failed       int     `json:"failed"`
}

// Result is the ceiling: the best tps over the runs.
type Result struct {
	TPS      float64 `json:"tps"`
	Database string  `json:"database"`
	Script   string  `json:"script"`
	Runs     []Run   `json:"runs"`
}

// Binary finds pgbench: on PATH, else in Debian's versioned directories.
func Binary() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench"); len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("pgbench not found: install postgresql-client or postgresql-15")
}

// Measure creates the scratch database, migrates it with schema.Orders (the
// real orders migrations: CDC set, then the orders set), runs pgbench once
// per client count and drops the database, also on failure. The scratch
// database has no replication slot: the ceiling is Postgres committing the
// transaction, without Debezium reading it back.
func Measure(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	res := Result{Database: cfg.Database, Script: Script}
	bin, err := Binary()
	if err != nil {
		return res, err
	}
	admin, err := url.Parse(cfg.AdminURL)
	if err != nil {
		return res, fmt.Errorf("admin url: %w", err)
	}
	if err := drop(ctx, cfg.AdminURL, cfg.Database); err != nil {
		return res, err
	}
	if err := local.EnsureDatabase(ctx, cfg.AdminURL, cfg.Database, schema.Orders, ""); err != nil {
		return res, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := drop(dctx, cfg.AdminURL, cfg.Database); err != nil {
			log.Warn("drop scratch database", "database", cfg.Database, "err", err)
		}
	}()
	owner := *admin
	owner.User = url.UserPassword(schema.Orders.OwnerRole(), cfg.OwnerPassword)
	owner.Path = "/" + cfg.Database
	if err := schema.Migrate(ctx, owner.String(), schema.Orders); err != nil {
		return res, fmt.Errorf("migrate %s: %w", cfg.Database, err)
	}

	dir, err := os.MkdirTemp("", "bench-ceiling-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "create_order.sql")
	if err := os.WriteFile(script, []byte(Script), 0o644); err != nil {
		return res, err
	}
	for _, c := range cfg.Clients {
		threads := min(cfg.Threads, c)
		args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(c), "-j", strconv.Itoa(threads),
			"-T", strconv.Itoa(int(cfg.Duration.Seconds())), "-f", script}
		log.Info("pgbench", "clients", c, "threads", threads, "duration", cfg.Duration, "database", cfg.Database)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(),
			"PGHOST="+admin.Hostname(), "PGPORT="+portOf(admin), "PGUSER="+schema.Orders.RuntimeRole(),
			"PGPASSWORD="+cfg.ServicePassword, "PGDATABASE="+cfg.Database, "PGSSLMODE=disable")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return res, fmt.Errorf("pgbench -c %d: %w\n%s", c, err, out.String())
		}
		run, err := Parse(out.String())
		if err != nil {
			return res, fmt.Errorf("pgbench -c %d: %w\n%s", c, err, out.String())
		}
		run.Clients = c
		log.Info("pgbench done", "clients", c, "tps", run.TPS, "latency_avg_ms", run.LatencyAvgMS)
		res.Runs = append(res.Runs, run)
		res.TPS = max(res.TPS, run.TPS)
	}
	return res, nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}

var (
	tpsRe     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	latencyRe = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	txRe      = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	failedRe  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// Parse reads tps, average latency and transaction counts from pgbench's
// report. A report without a tps line is an error.
func Parse(out string) (Run, error) {
	var r Run
	m := tpsRe.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no tps in pgbench output")
	}
	r.TPS, _ = strconv.ParseFloat(m[1], 64)
	if m := latencyRe.FindStringSubmatch(out); m != nil {
		r.LatencyAvgMS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := txRe.FindStringSubmatch(out); m != nil {
		r.Transactions, _ = strconv.Atoi(m[1])
	}
	if m := failedRe.FindStringSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

func drop(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
