package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// parkedTooLong is the age past which a parked payment result makes
// `shopctl parked` exit 1: the PaymentResultParked alert's threshold
// (monitoring/alerts.yml).
const parkedTooLong = 2 * time.Minute

// parked is a payment result waiting for its order in the orders database.
type parked struct {
	EventID, OrderID uuid.UUID
	UserID           string
	Amount           int64
	Paid             bool
	CancelReason     *string
	Topic            string
	Partition        int32
	Offset           int64
	ParkedAt         time.Time
	Age              time.Duration
}

func (p parked) outcome() string {
	if p.Paid {
		return "PAID"
	}
	return "CANCELLED " + deref(p.CancelReason)
}

// runParked lists the payment results parked because their order is not
// in the orders database, oldest first, with their age. It returns
// errFound when one has waited longer than parkedTooLong.
func runParked(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer) error {
	fs := flag.NewFlagSet("parked", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("parked takes no arguments\n%s", usage)
	}
	cfg, err := loadConfig(ctx, lookup)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, string(cfg.orders.DatabaseURL))
	if err != nil {
		return fmt.Errorf("orders database: %w", err)
	}
	defer pool.Close()
	ps, err := listParked(ctx, pool)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PARKED\tAGE\tORDER\tUSER\tAMOUNT\tOUTCOME\tEVENT\tFROM")
	old := 0
	for _, p := range ps {
		if p.Age > parkedTooLong {
			old++
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s %d@%d\n", p.ParkedAt.UTC().Format(time.RFC3339), p.Age.Round(time.Second),
			p.OrderID, escapeControl(oneLine(p.UserID, 64)), p.Amount, escapeControl(p.outcome()), p.EventID,
			escapeControl(p.Topic), p.Partition, p.Offset)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d parked payment result(s), %d older than %s\n", len(ps), old, parkedTooLong)
	if old > 0 {
		return errFound
	}
	return nil
}

// listParked returns every parked payment result, oldest first, with its
// age by the database's clock.
func listParked(ctx context.Context, pool *pgxpool.Pool) ([]parked, error) {
	rows, err := pool.Query(ctx, `SELECT event_id, order_id, user_id, amount, paid, cancel_reason, topic, partition, "offset",
		parked_at, now() - parked_at FROM parked_payment_results ORDER BY parked_at, event_id`)
	if err != nil {
		return nil, fmt.Errorf("list parked payment results: %w", err)
	}
	ps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[parked])
	if err != nil {
		return nil, fmt.Errorf("list parked payment results: %w", err)
	}
	return ps, nil
}

// parked shows the payment results waiting for their order: how many and
// the age of the oldest; one older than parkedTooLong is a problem.
func (s *status) parked(ctx context.Context, pool *pgxpool.Pool) {
	s.section("PARKED PAYMENT RESULTS")
	if pool == nil {
		return
	}
	var (
		n      int64
		oldest *time.Duration
	)
	if err := pool.QueryRow(ctx, `SELECT count(*), now() - min(parked_at) FROM parked_payment_results`).Scan(&n, &oldest); err != nil {
		s.problem("orders: parked payment results: %v", err)
		return
	}
	if n == 0 || oldest == nil {
		fmt.Fprintln(s.out, "  none")
		return
	}
	fmt.Fprintf(s.out, "  %d, the oldest parked for %s\n", n, oldest.Round(time.Second))
	if *oldest > parkedTooLong {
		s.problem("orders: a payment result waits for its order for %s (over %s): shopctl parked", oldest.Round(time.Second), parkedTooLong)
	}
}

// escapeControl writes the control characters of s (a terminal escape
// sequence, a bell, a line break) as Go escapes, so that what a producer
// put in an event cannot act on the operator's terminal.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
