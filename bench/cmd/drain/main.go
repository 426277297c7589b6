// Command drain is `make bench-drain`: how fast one Debezium connector task
// drains a backlog. It starts the infrastructure with the connectors and no
// services, pauses the orders connector, writes a backlog of OrderCreated
// outbox rows, resumes the connector and times until orders.events holds
// them all. One connector task per database is this design's ceiling per
// database (docs/scaling.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"shop/bench/benchcmd"
	"shop/bench/cpu"
	"shop/stack/local"
)

func main() { benchcmd.Main(parseFlags, run) }

// config is what drain reads from its flags.
type config struct {
	root       string
	rows       int
	perTx      int
	writers    int
	rounds     int
	partitions int
	timeout    time.Duration
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.StringVar(&c.root, "root", "", "repository root (default: found upwards from the working directory)")
	fs.IntVar(&c.rows, "rows", 200_000, "outbox rows in each backlog")
	fs.IntVar(&c.perTx, "per-tx", 8, "outbox rows per transaction (order creation's group commit merges a few orders per transaction)")
	fs.IntVar(&c.writers, "writers", 4, "connections writing the backlog")
	fs.IntVar(&c.rounds, "rounds", 3, "backlogs to drain, one after another")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of the event topics")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Minute, "give up on one backlog after this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.rows < 1 || c.perTx < 1 || c.writers < 1 || c.rounds < 1 || c.partitions < 1 {
		return c, errors.New("-rows, -per-tx, -writers, -rounds and -partitions must be at least 1")
	}
	if c.root == "" {
		root, err := benchcmd.FindRoot()
		if err != nil {
			return c, err
		}
		c.root = root
	}
	return c, nil
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	dir, err := local.TempDataDir("shop-drain-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log.Info("starting Postgres, Kafka, Kafka Connect and the connectors (no services)")
	sys, err := local.StartSystem(ctx, local.SystemConfig{
		Config: local.Config{DataDir: dir}, Root: c.root, TopicPartitions: int32(c.partitions),
	}, log)
	if err != nil {
		return err
	}
	defer sys.Stop()
	b, err := newBench(ctx, sys, c)
	if err != nil {
		return err
	}
	defer b.close()

	var results []result
	for i := 1; i <= c.rounds; i++ {
		r, err := b.round(ctx, log, i)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	report(os.Stdout, c, results)
	return nil
}

// result is one backlog drained.
type result struct {
	rows      int
	write     time.Duration // writing the backlog while the connector is paused
	drain     time.Duration // from the resume until the topic holds every row
	connectMS float64       // Kafka Connect's CPU over the drain, milliseconds
}

func (r result) rate() float64 { return float64(r.rows) / r.drain.Seconds() }

// round writes one backlog with the connector paused, resumes it and waits
// until the topic has grown by the backlog.
func (b *bench) round(ctx context.Context, log *slog.Logger, i int) (result, error) {
	r := result{rows: b.cfg.rows}
	if err := b.connect.Pause(ctx, b.connector); err != nil {
		return r, err
	}
	if err := b.waitState(ctx, "PAUSED"); err != nil {
		return r, err
	}
	base, err := b.published()
	if err != nil {
		return r, err
	}
	log.Info("writing the backlog", "round", i, "rows", b.cfg.rows, "per_tx", b.cfg.perTx)
	start := time.Now()
	if err := b.writeBacklog(ctx, i); err != nil {
		return r, err
	}
	r.write = time.Since(start)
	// A paused connector must not have published any of it.
	if n, err := b.published(); err != nil {
		return r, err
	} else if n != base {
		return r, fmt.Errorf("the paused connector published %d rows", n-base)
	}
	cpuBefore, err := b.connectCPU()
	if err != nil {
		return r, err
	}
	start = time.Now()
	if err := b.connect.Resume(ctx, b.connector); err != nil {
		return r, err
	}
	want := base + int64(b.cfg.rows)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		n, err := b.published()
		if err != nil {
			return r, err
		}
		if n >= want {
			r.drain = time.Since(start)
			break
		}
		if time.Since(lastLog) >= 5*time.Second {
			log.Info("draining", "round", i, "published", n-base, "of", b.cfg.rows, "elapsed", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("round %d: %d of %d rows published after %s: %w", i, n-base, b.cfg.rows, b.cfg.timeout, ctx.Err())
		case <-tick.C:
		}
	}
	cpuAfter, err := b.connectCPU()
	if err != nil {
		return r, err
	}
	r.connectMS = float64(cpuAfter-cpuBefore) / float64(time.Millisecond)
	log.Info("drained", "round", i, "rows", r.rows, "seconds", r.drain.Seconds(), "rows_per_s", int(r.rate()))
	return r, nil
}

// writeBacklog inserts the round's rows with cfg.writers connections.
func (b *bench) writeBacklog(ctx context.Context, round int) error {
	g, ctx := errgroup.WithContext(ctx)
	per := (b.cfg.rows + b.cfg.writers - 1) / b.cfg.writers
	for w := 0; w < b.cfg.writers; w++ {
		from, to := w*per, min((w+1)*per, b.cfg.rows)
		g.Go(func() error { return b.write(ctx, round, from, to) })
	}
	return g.Wait()
}

// connectCPU is the CPU Kafka Connect's process tree has used so far.
func (b *bench) connectCPU() (time.Duration, error) {
	p := b.sys.Process(local.NameConnect)
	if p == nil {
		return 0, errors.New("kafka connect is not running")
	}
	t, err := cpu.ReadTable("/proc")
	if err != nil {
		return 0, err
	}
	return t.TreeCPU(p.Pid()), nil
}

// waitState waits until the connector reports state.
func (b *bench) waitState(ctx context.Context, state string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		s, err := b.connect.Status(ctx, b.connector)
		if err == nil && s.Connector.State == state {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connector %s not %s: %w", b.connector, state, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
