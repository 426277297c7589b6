package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/kafkaclient"
	"shop/connect"
)

// maxPending is how long an order may stay PENDING before status calls it
// a problem: the alert's threshold (monitoring/alerts.yml).
const maxPending = 60 * time.Second

func runStatus(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("status takes no arguments\n%s", usage)
	}
	cfg, err := loadConfig(ctx, lookup)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	st := &status{out: out}
	st.connectors(ctx, cfg)
	pools := map[string]*pgxpool.Pool{}
	for _, t := range cfg.targets() {
		pool, err := pgxpool.New(ctx, t.dbURL)
		if err != nil {
			st.problem("%s database: %v", t.name, err)
			continue
		}
		defer pool.Close()
		pools[t.name] = pool
	}
	st.slots(ctx, cfg, pools)
	st.consumerLag(ctx, cfg)
	st.deadLetters(ctx, cfg, pools)
	st.pending(ctx, pools["orders"])
	st.parked(ctx, pools["orders"])
	fmt.Fprintln(out)
	if len(st.problems) == 0 {
		fmt.Fprintln(out, "OK")
		return nil
	}
	fmt.Fprintf(out, "PROBLEMS (%d)\n", len(st.problems))
	for _, p := range st.problems {
		fmt.Fprintln(out, "  "+p)
	}
	return errFound
}

// status prints the sections of the status screen and collects problems.
type status struct {
	out      io.Writer
	problems []string
}

func (s *status) problem(format string, args ...any) {
	s.problems = append(s.problems, terminalSafe(fmt.Sprintf(format, args...)))
}

func (s *status) section(title string) { fmt.Fprintln(s.out, title) }

func (s *status) connectors(ctx context.Context, cfg config) {
	s.section("CONNECTORS (" + cfg.connect.URL + ")")
	names := cfg.connectorNames()
	c, err := connect.FromSettings(cfg.connect)
	if err != nil {
		s.problem("kafka connect: %v", err)
		return
	}
	for _, n := range names {
		st, err := c.Status(ctx, n)
		if err != nil {
			fmt.Fprintf(s.out, "  %-24s unknown\n", n)
			s.problem("connector %s: %v", n, err)
			continue
		}
		var tasks []string
		for _, t := range st.Tasks {
			tasks = append(tasks, fmt.Sprintf("%d=%s", t.ID, t.State))
		}
		if len(tasks) == 0 {
			tasks = []string{"none"}
		}
		fmt.Fprintf(s.out, "  %-24s %-9s tasks %s\n", n, terminalSafe(st.Connector.State), terminalSafe(strings.Join(tasks, " ")))
		if p := st.Problem(); p != "" {
			s.problem("%s", p)
		}
	}
}

func (s *status) slots(ctx context.Context, cfg config, pools map[string]*pgxpool.Pool) {
	s.section("REPLICATION SLOTS")
	for _, t := range cfg.targets() {
		pool := pools[t.name]
		if pool == nil {
			continue
		}
		var active bool
		var lag *int64
		err := pool.QueryRow(ctx, `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
			FROM pg_replication_slots WHERE slot_name = $1`, t.slot).Scan(&active, &lag)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			fmt.Fprintf(s.out, "  %-9s %-24s missing\n", t.name, t.slot)
			s.problem("%s: replication slot %s does not exist", t.name, t.slot)
			continue
		case err != nil:
			s.problem("%s: replication slot %s: %v", t.name, t.slot, err)
			continue
		}
		state := "active"
		if !active {
			state = "INACTIVE"
			s.problem("%s: replication slot %s is inactive", t.name, t.slot)
		}
		lagText := "unknown"
		if lag != nil {
			lagText = fmt.Sprintf("%d bytes", *lag)
		}
		fmt.Fprintf(s.out, "  %-9s %-24s %-8s lag %s\n", t.name, t.slot, state, lagText)
	}
}

// consumerLag prints, per consumer group, the high-water mark minus the
// committed offset of each partition of its topic.
func (s *status) consumerLag(ctx context.Context, cfg config) {
	s.section("CONSUMER LAG (messages)")
	brokers := cfg.orders.Kafka.Brokers
	sc, err := kafkaclient.Config(cfg.orders.Kafka)
	if err != nil {
		s.problem("kafka %s: %v", strings.Join(brokers, ","), err)
		return
	}
	sc.ClientID = "shopctl"
	if d, ok := ctx.Deadline(); ok {
		sc.Net.DialTimeout = min(time.Until(d), sc.Net.DialTimeout)
	}
	sc.Metadata.Retry.Max = 1
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		s.problem("kafka %s: %v", strings.Join(brokers, ","), err)
		return
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		s.problem("kafka admin: %v", err)
		return
	}
	for _, t := range cfg.targets() {
		parts, err := client.Partitions(t.topic)
		if err != nil {
			s.problem("%s: topic %s: %v", t.name, t.topic, err)
			continue
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		offsets, err := admin.ListConsumerGroupOffsets(t.group, map[string][]int32{t.topic: parts})
		if err != nil {
			s.problem("%s: offsets of group %s: %v", t.name, t.group, err)
			continue
		}
		var total int64
		var each []string
		for _, p := range parts {
			hwm, err := client.GetOffset(t.topic, p, sarama.OffsetNewest)
			if err != nil {
				s.problem("%s: high-water mark of %s/%d: %v", t.name, t.topic, p, err)
				continue
			}
			next := int64(-1)
			if b := offsets.GetBlock(t.topic, p); b != nil && b.Err == sarama.ErrNoError {
				next = b.Offset
			}
			if next < 0 { // nothing committed: the group starts at the oldest message
				if next, err = client.GetOffset(t.topic, p, sarama.OffsetOldest); err != nil {
					s.problem("%s: oldest offset of %s/%d: %v", t.name, t.topic, p, err)
					continue
				}
			}
			lag := max(hwm-next, 0)
			total += lag
			each = append(each, fmt.Sprintf("%d:%d", p, lag))
		}
		fmt.Fprintf(s.out, "  %-9s group %-20s topic %-20s lag %d (partition:lag %s)\n", t.name, t.group, t.topic, total, strings.Join(each, " "))
	}
}

func (s *status) deadLetters(ctx context.Context, cfg config, pools map[string]*pgxpool.Pool) {
	s.section("DEAD LETTERS (unhandled)")
	for _, t := range cfg.targets() {
		pool := pools[t.name]
		if pool == nil {
			continue
		}
		var n int64
		var oldest *time.Time
		if err := pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM dead_letters WHERE handled_at IS NULL`).Scan(&n, &oldest); err != nil {
			s.problem("%s: dead letters: %v", t.name, err)
			continue
		}
		line := fmt.Sprintf("  %-9s %d", t.name, n)
		if oldest != nil {
			line += ", oldest " + oldest.UTC().Format(time.RFC3339)
		}
		fmt.Fprintln(s.out, line)
		if n > 0 {
			s.problem("%s: %d unhandled dead letter(s): shopctl dead-letters list -service %s", t.name, n, t.name)
		}
	}
}

func (s *status) pending(ctx context.Context, pool *pgxpool.Pool) {
	s.section("OLDEST PENDING ORDER")
	if pool == nil {
		return
	}
	var id string
	var age time.Duration
	err := pool.QueryRow(ctx, `SELECT id::text, now() - created_at FROM orders WHERE status = 'PENDING'
		ORDER BY created_at LIMIT 1`).Scan(&id, &age)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		fmt.Fprintln(s.out, "  none")
		return
	case err != nil:
		s.problem("orders: oldest pending order: %v", err)
		return
	}
	fmt.Fprintf(s.out, "  %s, pending for %s\n", id, age.Round(time.Second))
	if age > maxPending {
		s.problem("orders: order %s pending for %s (over %s)", id, age.Round(time.Second), maxPending)
	}
}
