package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// shutdownGrace bounds how long a batch in flight may keep running after
// the consumer's context is cancelled, so that it usually commits instead of
// being thrown away.
const shutdownGrace = 5 * time.Second

// undecodableError marks an error as permanent for its message.
type undecodableError struct{ err error }

func (e *undecodableError) Error() string { return "undecodable message: " + e.err.Error() }
func (e *undecodableError) Unwrap() error { return e.err }

// Undecodable marks err as "this message can never be applied": an ApplyFunc
// returns it for bad JSON, an unknown type or invalid fields, and the
// consumer dead-letters the message instead of retrying. Undecodable(nil) is
// nil.
func Undecodable(err error) error {
	if err == nil {
		return nil
	}
	return &undecodableError{err: err}
}

// IsUndecodable reports whether err or an error it wraps was made by
// Undecodable.
func IsUndecodable(err error) bool {
	var u *undecodableError
	return errors.As(err, &u)
}

// handler implements sarama.ConsumerGroupHandler.
type handler struct {
	c       *Consumer
	commits *committer
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.c.log.Info("partitions assigned", slog.Any("claims", s.Claims()), slog.Int("generation", int(s.GenerationID())))
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	// Flush marked offsets now rather than at the next auto-commit tick.
	s.Commit()
	return nil
}

// ConsumeClaim applies the partition's messages in batches, through the
// consumer's committer (commit.go), until the claim ends or the session is
// cancelled.
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := s.Context()
	msgs := claim.Messages()
	lag := h.c.trackLag(claim)
	defer lag.close()
	for {
		var first *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			first = m
		}
		lag.seen(first.Offset)
		batch, _ := drain(msgs, []*sarama.ConsumerMessage{first}, h.c.cfg.BatchSize)
		if err := h.applyWithRetry(ctx, batch); err != nil {
			return nil // cancelled before the batch committed: not marked, redelivered later
		}
		s.MarkMessage(batch[len(batch)-1], "")
		lag.applied(batch[len(batch)-1].Offset + 1)
	}
}

// drain appends to batch the messages already buffered in ch, without
// blocking, until batch holds max messages or ch is empty. It reports whether
// ch is still open.
func drain(ch <-chan *sarama.ConsumerMessage, batch []*sarama.ConsumerMessage, max int) ([]*sarama.ConsumerMessage, bool) {
	for len(batch) < max {
		select {
		case m, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, m)
		default:
			return batch, true
		}
	}
	return batch, true
}

// applyWithRetry applies batch through the committer, retrying transient
// failures with backoff, each retry in a transaction of its own, until it
// commits (nil) or ctx is cancelled (ctx's error).
func (h *handler) applyWithRetry(ctx context.Context, batch []*sarama.ConsumerMessage) error {
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := h.commits.submit(ctx, batch, attempt > 0)
		if err != nil && ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		return struct{}{}, err
	}, backoff.WithBackOff(newBackOff()), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, _ time.Duration) {
		h.c.log.Error("apply batch failed, retrying",
			slog.Int("partition", int(batch[0].Partition)), slog.Int64("first_offset", batch[0].Offset),
			slog.Int("messages", len(batch)), slog.Int("attempt", attempt), slog.Any("error", err))
		attempt++
	}))
	return err
}

// applyBatch runs one transaction over batch and returns how many messages
// were dead-lettered and the created_at of each event whose effect it
// applied (zero when the message had none). The transaction survives cancellation of ctx for up to
// shutdownGrace, so that a shutdown usually lets the batch commit.
func (h *handler) applyBatch(ctx context.Context, batch []*sarama.ConsumerMessage) (dead int, delivered []time.Time, err error) {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(shutdownGrace, cancel)
		context.AfterFunc(tctx, func() { t.Stop() })
	})
	defer stop()

	// First in one pipeline, when the consumer has one (pipeline.go).
	if h.c.cfg.Effect != nil {
		applied, perr := h.applyPipelined(tctx, batch)
		if perr == nil {
			return 0, applied, nil
		}
		if tctx.Err() != nil {
			return 0, nil, perr
		}
		h.c.log.Debug("batch applied message by message", slog.Int("messages", len(batch)), slog.Any("reason", perr))
	}
	// Optimistically without savepoints, the batch's event ids inserted
	// into the inbox in one statement (applyAll); a message that turns out
	// permanently failing sends the whole batch round again message by
	// message with a savepoint each, so that only its own writes are
	// undone.
	for _, isolate := range []bool{false, true} {
		spans := make(messageSpans, 0, len(batch))
		err = pgx.BeginFunc(tctx, h.c.cfg.Pool, func(tx pgx.Tx) error {
			dead, delivered = 0, delivered[:0]
			if !isolate {
				var err error
				dead, delivered, err = h.applyAll(tctx, tx, batch, &spans, delivered)
				return err
			}
			for _, m := range batch {
				r, err := h.applyIsolated(tctx, tx, m, &spans)
				if err != nil {
					return fmt.Errorf("message %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
				}
				switch {
				case r.deadLettered:
					dead++
				case r.applied:
					delivered = append(delivered, r.createdAt)
				}
			}
			return nil
		})
		spans.end(err)
		if !errors.Is(err, errIsolate) {
			break
		}
	}
	return dead, delivered, err
}

// applyAll applies batch within tx without savepoints: the messages that
// cannot be parsed are dead-lettered, the event ids of the others are
// inserted into the inbox in one statement, and each message whose id was
// new is applied, in batch order (a second message with the same id in the
// batch is a duplicate, as one already in the inbox). It appends the
// created_at of each applied event to delivered. A message that fails
// permanently returns errIsolate.
func (h *handler) applyAll(ctx context.Context, tx pgx.Tx, batch []*sarama.ConsumerMessage, spans *messageSpans, delivered []time.Time) (dead int, _ []time.Time, err error) {
	msgs := make([]Message, 0, len(batch))
	for _, m := range batch {
		msg, perr := parseMessage(m)
		if perr == nil {
			msgs = append(msgs, msg)
			continue
		}
		inserted, err := h.deadLetter(ctx, tx, m, perr)
		if err != nil {
			return 0, delivered, fmt.Errorf("message %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		if inserted {
			dead++
		}
	}
	fresh, err := insertInbox(ctx, tx, msgs)
	if err != nil {
		if permanent(err) {
			return 0, delivered, errIsolate
		}
		return 0, delivered, err
	}
	for _, msg := range msgs {
		mctx := spans.start(ctx, h.c.cfg.Group, msg)
		if !fresh[msg.EventID] {
			h.skipped(mctx, msg)
			continue
		}
		delete(fresh, msg.EventID)
		if err := h.c.cfg.Apply(mctx, tx, msg); err != nil {
			if permanent(err) {
				return 0, delivered, errIsolate
			}
			return 0, delivered, fmt.Errorf("message %s/%d@%d: apply event %s: %w", msg.Topic, msg.Partition, msg.Offset, msg.EventID, err)
		}
		delivered = append(delivered, msg.CreatedAt)
	}
	return dead, delivered, nil
}

// skipped logs that msg was a duplicate and was not applied.
func (h *handler) skipped(ctx context.Context, msg Message) {
	h.c.log.DebugContext(ctx, "duplicate event skipped", slog.String("event_id", msg.EventID.String()),
		slog.Int("partition", int(msg.Partition)), slog.Int64("offset", msg.Offset))
}

// insertInbox inserts the event ids of msgs into the inbox within tx, in one
// statement, and returns the ids that were not there yet.
func insertInbox(ctx context.Context, tx pgx.Tx, msgs []Message) (map[uuid.UUID]bool, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, insertInboxSQL, inboxArgs(msgs)...)
	if err != nil {
		return nil, fmt.Errorf("insert inbox: %w", err)
	}
	fresh := make(map[uuid.UUID]bool, len(msgs))
	var id [16]byte
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		fresh[id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert inbox: %w", err)
	}
	return fresh, nil
}

// errIsolate says that a batch applied without savepoints met a message
// that can never be applied and must be applied again with them.
var errIsolate = errors.New("permanent failure in a batch without savepoints")

// oneResult is what applyIsolated did with a message.
type oneResult struct {
	// deadLettered: the message was recorded in dead_letters now (false
	// for one recorded before, redelivered).
	deadLettered bool
	// applied: the message's effect was applied (not a duplicate, not dead).
	applied bool
	// createdAt is the message's Message.CreatedAt when applied.
	createdAt time.Time
}

// applyIsolated applies m within tx under a savepoint. It reports whether m
// was dead-lettered: a message whose headers or key are invalid
// (parseMessage), or whose application failed permanently (see permanent),
// once its writes are undone. Any other error is transient and aborts the
// batch. m is applied under its own consumer span, added to spans.
func (h *handler) applyIsolated(ctx context.Context, tx pgx.Tx, m *sarama.ConsumerMessage, spans *messageSpans) (res oneResult, err error) {
	msg, perr := parseMessage(m)
	if perr != nil {
		res.deadLettered, err = h.deadLetter(ctx, tx, m, perr)
		return res, err
	}
	ctx = spans.start(ctx, h.c.cfg.Group, msg)
	q, err := tx.Begin(ctx) // SAVEPOINT
	if err != nil {
		return res, fmt.Errorf("savepoint: %w", err)
	}
	applied, err := h.record(ctx, q, msg)
	if err == nil {
		if err := q.Commit(ctx); err != nil { // RELEASE SAVEPOINT
			return res, fmt.Errorf("release savepoint: %w", err)
		}
		return oneResult{applied: applied, createdAt: msg.CreatedAt}, nil
	}
	if !permanent(err) {
		return res, err
	}
	if rerr := q.Rollback(ctx); rerr != nil { // ROLLBACK TO SAVEPOINT
		return res, fmt.Errorf("rollback to savepoint: %w", rerr)
	}
	deadLetteredSpan(ctx, err)
	res.deadLettered, err = h.deadLetter(ctx, tx, m, err)
	return res, err
}

// record inserts msg's id into the inbox and, unless it was there already
// (a duplicate, skipped), applies msg, within q. It reports whether it
// applied msg.
func (h *handler) record(ctx context.Context, q pgx.Tx, msg Message) (applied bool, err error) {
	applied, err = Record(ctx, q, msg, h.c.cfg.Apply)
	if err == nil && !applied {
		h.skipped(ctx, msg)
	}
	return applied, err
}

// Record inserts m's id into the inbox within tx and, unless it was there
// already (a duplicate, skipped), applies m through apply, as the
// consumer's message-by-message path does. It reports whether it applied
// m. On an error, tx must be rolled back (or its savepoint).
func Record(ctx context.Context, tx pgx.Tx, m Message, apply ApplyFunc) (applied bool, err error) {
	fresh, err := insertInbox(ctx, tx, []Message{m})
	if err != nil {
		return false, err
	}
	if !fresh[m.EventID] {
		return false, nil
	}
	if err := apply(ctx, tx, m); err != nil {
		return false, fmt.Errorf("apply event %s: %w", m.EventID, err)
	}
	return true, nil
}

// deadLetter records m with cause in dead_letters within tx. A message
// already recorded (redelivered before its offset was committed) is kept
// once; inserted reports whether it was recorded now.
func (h *handler) deadLetter(ctx context.Context, tx pgx.Tx, m *sarama.ConsumerMessage, cause error) (inserted bool, err error) {
	inserted, err = insertDeadLetter(ctx, tx, m.Topic, m.Partition, m.Offset, m.Timestamp, m.Key, m.Value, headerMap(m.Headers), cause)
	if err != nil {
		return false, err
	}
	h.c.log.WarnContext(ctx, "message dead-lettered",
		slog.Int("partition", int(m.Partition)), slog.Int64("offset", m.Offset), slog.String("error", sanitizeText(cause.Error())))
	return inserted, nil
}

// DeadLetter records m with cause in dead_letters within tx, as the consumer
// records a message that can never be applied: for a consumer that kept a
// message for later (a payment result parked until its order exists) and
// finds that it can never be applied after all. The headers are rebuilt
// from m's id, type and traceparent. A message already recorded (same topic,
// partition, offset and contents) is kept once.
func DeadLetter(ctx context.Context, tx pgx.Tx, m Message, cause error) error {
	headers := map[string]string{HeaderID: m.EventID.String(), HeaderEventType: m.Type}
	if m.Traceparent != "" {
		headers[HeaderTraceparent] = m.Traceparent
	}
	if !m.CreatedAt.IsZero() {
		headers[HeaderCreatedAt] = m.CreatedAt.Format(time.RFC3339Nano)
	}
	for k, v := range headers {
		headers[k] = sanitizeText(v)
	}
	_, err := insertDeadLetter(ctx, tx, m.Topic, m.Partition, m.Offset, time.Time{}, []byte(m.Key), m.Value, headers, cause)
	return err
}

// insertDeadLetter records a message in dead_letters, once: a record is
// named by its topic, partition, offset and fingerprint, so that a
// redelivery is kept once and the poison message of a topic deleted and
// created again (its offsets start over) is recorded, not taken for a
// redelivery. timestamp is the record's (zero when unknown).
func insertDeadLetter(ctx context.Context, tx pgx.Tx, topic string, partition int32, offset int64, timestamp time.Time,
	key, value []byte, headers map[string]string, cause error) (inserted bool, err error) {
	hs, err := json.Marshal(headers)
	if err != nil {
		return false, fmt.Errorf("encode dead letter headers: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO dead_letters (topic, partition, "offset", key, value, headers, error, fingerprint)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (topic, partition, "offset", fingerprint) DO NOTHING`,
		topic, partition, offset, key, value, string(hs), sanitizeText(cause.Error()), fingerprint(timestamp, key, value, headers))
	if err != nil {
		return false, fmt.Errorf("insert dead letter: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
