package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
)

func runDeadLetters(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	op := args[0]
	fs := flag.NewFlagSet("dead-letters "+op, flag.ContinueOnError)
	svc := fs.String("service", "", "the consuming service: orders or payments")
	all := fs.Bool("all", false, "list: handled dead letters too")
	user, _ := lookup("USER")
	by := fs.String("by", user, "replay, discard: who acts (default $USER)")
	reason := fs.String("reason", "", "discard: why (required)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := loadConfig(ctx, lookup)
	if err != nil {
		return err
	}
	t, err := cfg.target(*svc)
	if err != nil {
		return err
	}
	var ids []int64
	for _, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("dead letter id %q: not a positive integer", p)
		}
		ids = append(ids, id)
	}
	switch {
	case op == "list" && len(ids) > 0:
		return errors.New("dead-letters list takes no ids")
	case op == "show" && len(ids) != 1:
		return errors.New("dead-letters show takes one id")
	case (op == "replay" || op == "discard") && len(ids) == 0:
		return fmt.Errorf("dead-letters %s: no id", op)
	case (op == "replay" || op == "discard") && strings.TrimSpace(*by) == "":
		return fmt.Errorf("dead-letters %s: -by is required when $USER is not set", op)
	case op == "discard" && strings.TrimSpace(*reason) == "":
		return errors.New("dead-letters discard: -reason is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// As the operator role: only it may mark a dead letter handled.
	pool, err := pgxpool.New(ctx, t.operatorURL)
	if err != nil {
		return fmt.Errorf("%s database as its operator role: %w", t.name, err)
	}
	defer pool.Close()

	switch op {
	case "list":
		return listDeadLetters(ctx, pool, *all, out)
	case "show":
		return showDeadLetter(ctx, pool, ids[0], out)
	case "replay":
		apply, err := t.applyFunc(pool, logger)
		if err != nil {
			return err
		}
		var still bool
		for _, id := range ids {
			res, err := inbox.Replay(ctx, pool, id, apply, *by)
			if err != nil {
				return t.notOperator(err)
			}
			switch res.Outcome {
			case inbox.StillDead:
				still = true
				fmt.Fprintf(out, "%d: still dead: %s\n", id, terminalSafe(res.Err))
			case inbox.AlreadyHandled:
				fmt.Fprintf(out, "%d: already handled (%s), nothing done\n", id, terminalSafe(res.Resolution))
			default:
				fmt.Fprintf(out, "%d: %s (event %s)\n", id, res.Outcome, res.EventID)
			}
		}
		if still {
			return errFound
		}
		return nil
	case "discard":
		for _, id := range ids {
			if err := inbox.Discard(ctx, pool, id, *by, *reason); err != nil {
				return t.notOperator(err)
			}
			fmt.Fprintf(out, "%d: discarded\n", id)
		}
		return nil
	}
	return fmt.Errorf("unknown dead-letters command %q\n%s", op, usage)
}

// notOperator says which variable to fix when err is Postgres refusing
// the handling of a dead letter (SQLSTATE 42501): the URL is not the
// operator role's.
func (t target) notOperator(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		return fmt.Errorf("%w: only the %s operator role may handle dead letters; set %s_OPERATOR_DATABASE_URL to it",
			err, t.name, strings.ToUpper(t.name))
	}
	return err
}

type deadLetter struct {
	ID         int64
	Topic      string
	Partition  int32
	Offset     int64
	Key        []byte
	Value      []byte
	Headers    map[string]string
	Error      string
	CreatedAt  time.Time
	HandledAt  *time.Time
	Resolution *string
	HandledBy  *string
	Reason     *string
}

const deadLetterColumns = `id, topic, partition, "offset", key, value, headers, error, created_at,
	handled_at, resolution, handled_by, reason`

func scanDeadLetter(row pgx.CollectableRow) (deadLetter, error) {
	var d deadLetter
	err := row.Scan(&d.ID, &d.Topic, &d.Partition, &d.Offset, &d.Key, &d.Value, &d.Headers, &d.Error, &d.CreatedAt,
		&d.HandledAt, &d.Resolution, &d.HandledBy, &d.Reason)
	return d, err
}

func (d deadLetter) state() string {
	if d.Resolution == nil {
		return "unhandled"
	}
	return *d.Resolution
}

// listDeadLetters prints the unhandled dead letters (all with all), oldest
// first, one line each.
func listDeadLetters(ctx context.Context, pool *pgxpool.Pool, all bool, out io.Writer) error {
	rows, err := pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters
		WHERE $1 OR handled_at IS NULL ORDER BY id`, all)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	dls, err := pgx.CollectRows(rows, scanDeadLetter)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tTOPIC\tPARTITION@OFFSET\tKEY\tTYPE\tSTATE\tERROR")
	for _, d := range dls {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d@%d\t%s\t%s\t%s\t%s\n", d.ID, d.CreatedAt.UTC().Format(time.RFC3339), terminalSafe(d.Topic),
			d.Partition, d.Offset, terminalSafe(oneLine(printable(d.Key), 24)), terminalSafe(oneLine(d.Headers[inbox.HeaderEventType], 24)),
			terminalSafe(d.state()), terminalSafe(oneLine(d.Error, 80)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letter(s)\n", len(dls))
	return nil
}

// showDeadLetter prints one dead letter in full, with its audit trail.
func showDeadLetter(ctx context.Context, pool *pgxpool.Pool, id int64, out io.Writer) error {
	rows, err := pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = $1`, id)
	if err != nil {
		return err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDeadLetter)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("dead letter %d: %w", id, inbox.ErrNoDeadLetter)
	}
	if err != nil {
		return err
	}
	headers, _ := json.Marshal(d.Headers)
	fmt.Fprintf(out, "id:        %d\ntopic:     %s\npartition: %d\noffset:    %d\ncreated:   %s\nkey:       %s\nheaders:   %s\nvalue:     %s\nerror:     %s\nstate:     %s\n",
		d.ID, terminalSafe(d.Topic), d.Partition, d.Offset, d.CreatedAt.UTC().Format(time.RFC3339Nano), terminalSafe(printable(d.Key)),
		terminalSafe(string(headers)), terminalSafe(printable(d.Value)), terminalSafe(d.Error), terminalSafe(d.state()))
	if d.HandledAt != nil {
		fmt.Fprintf(out, "handled:   %s by %s\n", d.HandledAt.UTC().Format(time.RFC3339Nano), terminalSafe(deref(d.HandledBy)))
	}
	if d.Reason != nil {
		fmt.Fprintf(out, "reason:    %s\n", terminalSafe(*d.Reason))
	}
	rows, err = pool.Query(ctx, `SELECT at, action, actor, coalesce(reason, ''), coalesce(error, '')
		FROM dead_letter_actions WHERE dead_letter_id = $1 ORDER BY id`, id)
	if err != nil {
		return err
	}
	type action struct {
		At                           time.Time
		Action, Actor, Reason, Error string
	}
	acts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[action])
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "audit trail:")
	if len(acts) == 0 {
		fmt.Fprintln(out, "  (none)")
	}
	for _, a := range acts {
		line := fmt.Sprintf("  %s %s by %s", a.At.UTC().Format(time.RFC3339), a.Action, a.Actor)
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		if a.Error != "" {
			line += ": " + a.Error
		}
		fmt.Fprintln(out, terminalSafe(line))
	}
	return nil
}

// printable renders bytes as text when they are valid UTF-8 without NUL,
// else as base64: prefixed. The text is still to be made terminalSafe.
func printable(b []byte) string {
	if utf8.Valid(b) && !strings.ContainsRune(string(b), 0) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// oneLine cuts s at its first line break and at n runes.
func oneLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		s, cut = string(r[:n]), true
	}
	if cut {
		s += "…"
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
