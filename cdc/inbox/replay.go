package inbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoDeadLetter is returned by Replay and Discard for an id that is not
// in dead_letters.
var ErrNoDeadLetter = errors.New("no such dead letter")

// ErrHandled is returned by Discard for a dead letter already replayed or
// discarded.
var ErrHandled = errors.New("dead letter already handled")

// ReplayOutcome says what Replay did with a dead letter.
type ReplayOutcome int

const (
	// Replayed: the message was applied, its event id is now in the inbox,
	// and the dead letter is marked replayed.
	Replayed ReplayOutcome = iota + 1
	// AlreadyApplied: the event id was in the inbox already (the event had
	// been applied under another offset): nothing was applied again, and the
	// dead letter is marked replayed.
	AlreadyApplied
	// AlreadyHandled: the dead letter had been replayed or discarded before;
	// nothing was done.
	AlreadyHandled
	// StillDead: the message still cannot be applied; its writes were
	// undone, the dead letter stays unhandled with the new error.
	StillDead
)

func (o ReplayOutcome) String() string {
	switch o {
	case Replayed:
		return "replayed"
	case AlreadyApplied:
		return "already applied"
	case AlreadyHandled:
		return "already handled"
	case StillDead:
		return "still dead"
	}
	return fmt.Sprintf("ReplayOutcome(%d)", int(o))
}

// ReplayResult is what Replay reports.
type ReplayResult struct {
	Outcome ReplayOutcome
	// EventID is the message's event id; empty when its headers do not
	// parse.
	EventID string
	// Resolution is the earlier resolution of an AlreadyHandled letter.
	Resolution string
	// Err is the error of a StillDead replay, as recorded.
	Err string
}

// Replay applies the dead letter id of pool's dead_letters through apply
// (the consuming service's Effects().Apply) exactly as the consumer applies
// a message: in one transaction, the event id is inserted into the inbox and,
// unless it was there already, the message is applied; the dead letter is
// marked replayed (handled_at, resolution, handled_by = by) and the action
// is recorded in dead_letter_actions. Replaying a letter again, or one whose
// event has been applied already, has no second effect. A message that
// still cannot be applied (its headers or key invalid, or an error that the
// consumer would dead-letter, see permanent) has its writes undone and stays
// an unhandled dead letter, its error replaced by the new one and the
// failed replay recorded. Any other error (the database) rolls everything
// back and is returned.
func Replay(ctx context.Context, pool *pgxpool.Pool, id int64, apply ApplyFunc, by string) (ReplayResult, error) {
	if apply == nil || by == "" {
		return ReplayResult{}, errors.New("replay: missing apply func or actor")
	}
	by = sanitizeText(by)
	var res ReplayResult
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		res = ReplayResult{}
		m, resolution, err := loadDeadLetter(ctx, tx, id)
		if err != nil {
			return err
		}
		if resolution != "" {
			res.Outcome, res.Resolution = AlreadyHandled, resolution
			return nil
		}
		msg, perr := parseMessage(m)
		if perr != nil {
			res.Outcome, res.Err = StillDead, sanitizeText(perr.Error())
			return stillDead(ctx, tx, id, by, res.Err)
		}
		res.EventID = msg.EventID.String()
		sp, err := tx.Begin(ctx) // SAVEPOINT: a permanent failure undoes only the message's writes
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		fresh, err := insertInbox(ctx, sp, []Message{msg})
		if err != nil {
			return err
		}
		action := "replayed"
		res.Outcome = Replayed
		if !fresh[msg.EventID] {
			action, res.Outcome = "replay_duplicate", AlreadyApplied
		} else if err := apply(ctx, sp, msg); err != nil {
			if !permanent(err) {
				return fmt.Errorf("apply event %s: %w", msg.EventID, err)
			}
			if rerr := sp.Rollback(ctx); rerr != nil { // ROLLBACK TO SAVEPOINT
				return fmt.Errorf("rollback to savepoint: %w", rerr)
			}
			res.Outcome, res.Err = StillDead, sanitizeText(fmt.Errorf("apply event %s: %w", msg.EventID, err).Error())
			return stillDead(ctx, tx, id, by, res.Err)
		}
		if err := sp.Commit(ctx); err != nil { // RELEASE SAVEPOINT
			return fmt.Errorf("release savepoint: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE dead_letters SET handled_at = now(), resolution = 'replayed', handled_by = $2
			WHERE id = $1`, id, by); err != nil {
			return fmt.Errorf("mark dead letter %d replayed: %w", id, err)
		}
		return recordAction(ctx, tx, id, action, by, "", "")
	})
	if err != nil {
		return ReplayResult{}, fmt.Errorf("replay dead letter %d: %w", id, err)
	}
	return res, nil
}

// Discard marks the dead letter id of pool's dead_letters discarded, by by
// for reason (both required), and records the action. The row stays. It
// returns ErrHandled for a letter already replayed or discarded.
func Discard(ctx context.Context, pool *pgxpool.Pool, id int64, by, reason string) error {
	if by == "" || strings.TrimSpace(reason) == "" {
		return errors.New("discard: missing actor or reason")
	}
	by, reason = sanitizeText(by), sanitizeText(reason)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var resolution *string
		err := tx.QueryRow(ctx, `SELECT resolution FROM dead_letters WHERE id = $1 FOR UPDATE`, id).Scan(&resolution)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoDeadLetter
		}
		if err != nil {
			return err
		}
		if resolution != nil {
			return fmt.Errorf("%w: %s", ErrHandled, *resolution)
		}
		if _, err := tx.Exec(ctx, `UPDATE dead_letters
			SET handled_at = now(), resolution = 'discarded', handled_by = $2, reason = $3 WHERE id = $1`, id, by, reason); err != nil {
			return err
		}
		return recordAction(ctx, tx, id, "discarded", by, reason, "")
	})
	if err != nil {
		return fmt.Errorf("discard dead letter %d: %w", id, err)
	}
	return nil
}

// loadDeadLetter locks the dead letter id and rebuilds its Kafka message
// from the stored key, value and headers (a header value stored as
// "base64:..." by headerMap is decoded, a repeated one stored as name#n is
// repeated again). It returns the letter's resolution,
// empty while unhandled.
func loadDeadLetter(ctx context.Context, tx pgx.Tx, id int64) (*sarama.ConsumerMessage, string, error) {
	var (
		m          sarama.ConsumerMessage
		headers    map[string]string
		resolution *string
	)
	err := tx.QueryRow(ctx, `SELECT topic, partition, "offset", key, value, headers, resolution
		FROM dead_letters WHERE id = $1 FOR UPDATE`, id).
		Scan(&m.Topic, &m.Partition, &m.Offset, &m.Key, &m.Value, &headers, &resolution)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNoDeadLetter
	}
	if err != nil {
		return nil, "", fmt.Errorf("load dead letter: %w", err)
	}
	if resolution != nil {
		return &m, *resolution, nil
	}
	for k, v := range headers {
		b := []byte(v)
		if enc, ok := strings.CutPrefix(v, "base64:"); ok {
			if d, err := base64.StdEncoding.DecodeString(enc); err == nil {
				b = d
			}
		}
		m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(repeatedHeader(k)), Value: b})
	}
	return &m, "", nil
}

// stillDead records a failed replay: the letter's error is replaced by
// cause and the attempt is kept in the audit trail.
func stillDead(ctx context.Context, tx pgx.Tx, id int64, by, cause string) error {
	if _, err := tx.Exec(ctx, `UPDATE dead_letters SET error = $2 WHERE id = $1`, id, cause); err != nil {
		return fmt.Errorf("record replay error: %w", err)
	}
	return recordAction(ctx, tx, id, "replay_failed", by, "", cause)
}

func recordAction(ctx context.Context, tx pgx.Tx, id int64, action, by, reason, cause string) error {
	_, err := tx.Exec(ctx, `INSERT INTO dead_letter_actions (dead_letter_id, action, actor, reason, error)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''))`, id, action, by, reason, cause)
	if err != nil {
		return fmt.Errorf("record dead letter action: %w", err)
	}
	return nil
}
