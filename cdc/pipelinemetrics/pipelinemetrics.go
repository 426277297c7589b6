// Package pipelinemetrics measures, every few seconds, the health of one
// service's part of the CDC pipeline: its unhandled dead letters, the
// replication slot of its database, whether the connector that publishes
// its outbox streams that slot, and (orders only) the oldest order still
// pending and the payment results parked because their order never
// appeared.
// The consumer's own metrics (lag, delivery time, dead letters written)
// live with the consumer, in shop/cdc/inbox.
//
// The gauges are package-level, labelled by topic, slot or connector, so
// that two services in one process (the system tests) each refresh their
// own series of the same registered gauges.
//
// Everything is read from the service's own database: a service never asks
// Kafka Connect, whose REST login could change any connector
// (docs/security.md, "The services hold no Kafka Connect credential").
package pipelinemetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"shop/cdc/inbox"
	"shop/service"
)

// DefaultInterval is how often the gauges are refreshed when
// Config.Interval is 0: often enough for alerts that wait minutes, rarely
// enough to cost nothing (each refresh is one indexed query or a read of
// pg_replication_slots).
const DefaultInterval = 10 * time.Second

// DefaultStallAfter is how long a slot holding WAL may go without its
// confirmed_flush_lsn advancing before shop_connector_up says its connector
// no longer streams, when Config.StallAfter is 0. A running connector
// confirms at every offset commit of Kafka Connect (offset.flush.interval.ms,
// 1 s wherever the shop runs, 60 s Kafka's default), and its heartbeat
// (heartbeat.interval.ms, 10 s, writing the heartbeat table) gives it
// something to confirm even when its database is idle: two minutes is a
// dozen heartbeats, and more than a broker's restart stalls it.
const DefaultStallAfter = 2 * time.Minute

var (
	deadLetters = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_dead_letters",
		Help: "Dead letters not yet handled (replayed or discarded), by the topic they came from.",
	}, []string{"topic"})

	slotLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_replication_slot_lag_bytes",
		Help: "WAL bytes the replication slot holds: pg_current_wal_lsn() minus the slot's confirmed_flush_lsn.",
	}, []string{"slot"})

	slotActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_replication_slot_active",
		Help: "1 while a connector streams from the replication slot, 0 when it is inactive or missing.",
	}, []string{"slot"})

	connectorUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_connector_up",
		Help: "1 while the connector streams the service's database: its replication slot is active and, when the slot holds WAL, confirmed_flush_lsn advanced within the stall window (2m); else 0, also when the slot is missing.",
	}, []string{"connector"})

	ordersPendingOldest = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_orders_pending_oldest_seconds",
		Help: "Age in seconds of the oldest order still PENDING; 0 when there is none.",
	})

	parkedPayments = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_parked_payment_results",
		Help: "Payment results parked in the orders database because their order is not there (parked_payment_results).",
	})

	parkedPaymentsOldest = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_parked_payment_results_oldest_seconds",
		Help: "Age in seconds of the oldest parked payment result; 0 when there is none.",
	})
)

// Register registers the gauges with reg. Registering them again with the
// same reg is not an error, so that several services in one process may
// each call it.
func Register(reg prometheus.Registerer) error {
	return service.RegisterCollectors(reg, deadLetters, slotLag, slotActive, connectorUp, ordersPendingOldest, parkedPayments, parkedPaymentsOldest)
}

// Config says what a service's jobs measure.
type Config struct {
	// Pool is the service's database: its dead_letters table and its
	// connector's replication slot.
	Pool *pgxpool.Pool
	// Slot is the replication slot of the connector publishing Pool's
	// outbox, and Connector that connector's name (the label of
	// shop_connector_up); both required.
	Slot      string
	Connector string
	// Interval is the refresh period; 0 means DefaultInterval.
	Interval time.Duration
	// StallAfter is how long the slot may hold WAL without confirming any
	// before the connector counts as not streaming; 0 means
	// DefaultStallAfter.
	StallAfter time.Duration
	Logger     *slog.Logger
}

func (c *Config) check() error {
	switch {
	case c.Pool == nil:
		return errors.New("pipeline metrics: no database pool")
	case c.Slot == "":
		return errors.New("pipeline metrics: no replication slot")
	case c.Connector == "":
		return errors.New("pipeline metrics: no connector name")
	case c.Logger == nil:
		return errors.New("pipeline metrics: no logger")
	case c.Interval < 0 || c.StallAfter < 0:
		return fmt.Errorf("pipeline metrics: negative interval %v or stall window %v", c.Interval, c.StallAfter)
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.StallAfter == 0 {
		c.StallAfter = DefaultStallAfter
	}
	return nil
}

// Jobs returns the jobs that refresh shop_dead_letters,
// shop_replication_slot_lag_bytes, shop_replication_slot_active and
// shop_connector_up for cfg's service. It returns an error when a field of
// cfg is missing.
func Jobs(cfg Config) ([]service.Job, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	d := &deadLetterCount{pool: cfg.Pool, seen: map[string]bool{}}
	s := &slotWatch{pool: cfg.Pool, slot: cfg.Slot, connector: cfg.Connector, progress: progress{stallAfter: cfg.StallAfter}}
	return []service.Job{
		service.Every("dead letter gauge", cfg.Interval, cfg.Logger, bounded(cfg.Interval, d.refresh)),
		service.Every("replication slot and connector gauges", cfg.Interval, cfg.Logger, bounded(cfg.Interval, s.refresh)),
	}, nil
}

// bounded runs fn with a deadline of one interval, so that a hung query
// or request cannot stop the gauge's refreshes.
func bounded(d time.Duration, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return fn(ctx)
	}
}

// deadLetterCount refreshes shop_dead_letters of one database. A topic
// whose dead letters have all been handled keeps its series at 0.
type deadLetterCount struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	seen map[string]bool
}

func (d *deadLetterCount) refresh(ctx context.Context) error {
	// Served by the partial index dead_letters_unhandled.
	rows, err := d.pool.Query(ctx, `SELECT topic, count(*) FROM dead_letters WHERE handled_at IS NULL GROUP BY topic`)
	if err != nil {
		return fmt.Errorf("count dead letters: %w", err)
	}
	counts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		topic string
		n     int64
	}, error) {
		var c struct {
			topic string
			n     int64
		}
		err := r.Scan(&c.topic, &c.n)
		return c, err
	})
	if err != nil {
		return fmt.Errorf("count dead letters: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := map[string]bool{}
	for _, c := range counts {
		deadLetters.WithLabelValues(c.topic).Set(float64(c.n))
		now[c.topic], d.seen[c.topic] = true, true
	}
	for topic := range d.seen {
		if !now[topic] {
			deadLetters.WithLabelValues(topic).Set(0)
		}
	}
	return nil
}

// OrdersPendingJob returns the orders service's job that refreshes
// shop_orders_pending_oldest_seconds from pool, the orders database, every
// interval (0 means DefaultInterval).
func OrdersPendingJob(pool *pgxpool.Pool, interval time.Duration, logger *slog.Logger) service.Job {
	return poolJob("pending orders gauge", pool, interval, logger, refreshOrdersPending)
}

// poolJob returns the job named name that runs refresh over pool every
// interval (0 means DefaultInterval), each run bounded by one interval.
func poolJob(name string, pool *pgxpool.Pool, interval time.Duration, logger *slog.Logger, refresh func(context.Context, *pgxpool.Pool) error) service.Job {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return service.Every(name, interval, logger, bounded(interval, func(ctx context.Context) error {
		return refresh(ctx, pool)
	}))
}

func refreshOrdersPending(ctx context.Context, pool *pgxpool.Pool) error {
	// Served by the partial index orders_pending_created_at: the first
	// entry of the index, however many orders there are.
	var age float64
	err := pool.QueryRow(ctx, `SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
		FROM orders WHERE status = 'PENDING'`).Scan(&age)
	if err != nil {
		return fmt.Errorf("oldest pending order: %w", err)
	}
	ordersPendingOldest.Set(max(age, 0))
	return nil
}

// ParkedPaymentsJob returns the orders service's job that refreshes
// shop_parked_payment_results and
// shop_parked_payment_results_oldest_seconds from pool, the orders
// database, every interval (0 means DefaultInterval). A parked result is
// a payment (often a debit) whose order the orders database does not have:
// it normally lives for less than the sweeper's second.
func ParkedPaymentsJob(pool *pgxpool.Pool, interval time.Duration, logger *slog.Logger) service.Job {
	return poolJob("parked payment results gauges", pool, interval, logger, refreshParkedPayments)
}

func refreshParkedPayments(ctx context.Context, pool *pgxpool.Pool) error {
	// The table holds only results waiting for their order (the sweeper
	// deletes what it applies): a scan of a table that is empty when all
	// is well.
	var (
		n   int64
		age float64
	)
	err := pool.QueryRow(ctx, `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(parked_at)), 0)::float8
		FROM parked_payment_results`).Scan(&n, &age)
	if err != nil {
		return fmt.Errorf("parked payment results: %w", err)
	}
	parkedPayments.Set(float64(n))
	parkedPaymentsOldest.Set(max(age, 0))
	return nil
}

// ServiceJobs registers the pipeline's metrics (the consumer's of
// shop/cdc/inbox and the gauges of this package) with reg, and returns the
// jobs that refresh the gauges of one service's database: its dead letters,
// its replication slot and whether the connector that publishes its outbox
// (named connector) streams that slot. Both services call it the same way;
// orders adds OrdersPendingJob and ParkedPaymentsJob.
func ServiceJobs(reg prometheus.Registerer, pool *pgxpool.Pool, slot, connector string, logger *slog.Logger) ([]service.Job, error) {
	if err := errors.Join(inbox.RegisterMetrics(reg), Register(reg)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return Jobs(Config{Pool: pool, Slot: slot, Connector: connector, Logger: logger})
}
