package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The pipelined path. Message by message, a transaction of k messages
// costs 3 + k round trips to Postgres at least: BEGIN, the inbox insert, one
// (or more) per message's effect, COMMIT. When the consumer has an
// EffectFunc, a batch is first tried in two: BEGIN, the inbox insert and
// every message's first statements go in one pipeline (one Sync); once
// their results are read, the statements their callbacks queued (an outbox
// row) go with the COMMIT in a second. It is optimistic: it assumes every
// event id is new and no statement queued by a callback needs its result
// read. When that is not so (an id already in the inbox, a callback that
// queues a statement with a callback of its own, a statement or callback
// that fails, anything unparseable) the transaction is rolled back and the
// batch goes the message-by-message way (applyAll, then savepoints), which
// runs the same effects and decides as before. The outcome never depends
// on which way ran.

// ErrNotPipelined is returned by ApplyPipelined when the batch needs the
// message-by-message path: nothing was applied.
var ErrNotPipelined = errors.New("inbox: batch needs the message-by-message path")

// insertInboxSQL inserts a batch's event ids into the inbox and returns
// those that were new.
const insertInboxSQL = `INSERT INTO inbox (event_id, topic, partition, "offset")
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::bigint[])
	ON CONFLICT DO NOTHING RETURNING event_id`

// inboxArgs returns insertInboxSQL's arguments for msgs.
func inboxArgs(msgs []Message) []any {
	ids := make([][16]byte, len(msgs))
	topics := make([]string, len(msgs))
	partitions := make([]int32, len(msgs))
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i], topics[i], partitions[i], offsets[i] = m.EventID, m.Topic, m.Partition, m.Offset
	}
	return []any{ids, topics, partitions, offsets}
}

// applyPipelined applies batch in two pipelines, as described above,
// under a consumer span per message, and returns the created_at of each
// message (all were applied). Any error means nothing was applied:
// ErrNotPipelined when the batch is not for this path, else the failure,
// and the caller applies the batch message by message.
func (h *handler) applyPipelined(ctx context.Context, batch []*sarama.ConsumerMessage) (delivered []time.Time, err error) {
	msgs := make([]Message, 0, len(batch))
	for _, m := range batch {
		msg, err := parseMessage(m)
		if err != nil {
			return nil, ErrNotPipelined
		}
		msgs = append(msgs, msg)
	}
	spans := make(messageSpans, 0, len(msgs))
	defer func() {
		if errors.Is(err, ErrNotPipelined) {
			spans.endNotPipelined()
			return
		}
		spans.end(err)
	}()
	start := func(ctx context.Context, msg Message) context.Context { return spans.start(ctx, h.c.cfg.Group, msg) }
	if err := applyPipelined(ctx, h.c.cfg.Pool, h.c.cfg.Effect, msgs, start); err != nil {
		return nil, err
	}
	delivered = make([]time.Time, len(msgs))
	for i, msg := range msgs {
		delivered[i] = msg.CreatedAt
	}
	return delivered, nil
}

// ApplyPipelined applies msgs through effect in one transaction on pool,
// the way the consumer's pipelined path does (two round trips): the inbox
// insert of their ids, then their effects. It returns ErrNotPipelined, and
// nothing was applied, when the batch needs the message-by-message path (a
// repeated or known id, an effect whose callback queues a statement with a
// callback); any other error is the failure of a statement or an effect,
// and nothing was applied either.
func ApplyPipelined(ctx context.Context, pool *pgxpool.Pool, effect EffectFunc, msgs ...Message) error {
	return applyPipelined(ctx, pool, effect, msgs, func(ctx context.Context, _ Message) context.Context { return ctx })
}

// applyPipelined is ApplyPipelined, each message's effect queued under the
// context that start returns for it.
func applyPipelined(ctx context.Context, pool *pgxpool.Pool, effect EffectFunc, msgs []Message, start func(context.Context, Message) context.Context) error {
	seen := make(map[uuid.UUID]bool, len(msgs))
	for _, msg := range msgs {
		if seen[msg.EventID] {
			return ErrNotPipelined
		}
		seen[msg.EventID] = true
	}
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(insertInboxSQL, inboxArgs(msgs)...)
	q := &Queue{batch: b}
	for _, msg := range msgs {
		if err := effect(start(ctx, msg), q, msg); err != nil {
			return fmt.Errorf("%w: %w", ErrNotPipelined, err)
		}
	}
	q.batch = &pgx.Batch{} // the statements the callbacks queue
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return sendPipeline(ctx, conn, b, len(msgs), q)
}

// sendPipeline sends b (begun with Batch.BeginTx, then the inbox insert of
// n ids and the effects' first statements) on conn and reads its results,
// which runs the effects' callbacks; they queue on q. When every id was
// new and every callback succeeded, it sends the statements they queued
// with the COMMIT; else it rolls back and returns why. A connection left
// in a transaction by a failed ROLLBACK or COMMIT is closed by pgx or the
// pool, so that the pool never reuses it.
func sendPipeline(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, n int, q *Queue) error {
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback(ctx)
		}
	}()
	err := readPipeline(br, b, n)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rest := q.batch
	for _, qq := range rest.QueuedQueries {
		if qq.Fn != nil {
			return ErrNotPipelined // a result to read before the commit
		}
	}
	// The COMMIT goes in the batch, after the statements the callbacks
	// queued: a failing statement aborts the transaction, and the server
	// skips the COMMIT. tx is left as it is: Rollback would send a
	// ROLLBACK, a round trip, for nothing. A COMMIT whose outcome is
	// unknown (the connection lost) is safe to follow with the
	// message-by-message path: had it committed, the inbox turns every
	// message of the batch into a duplicate.
	rest.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return pgx.ErrTxCommitRollback
		}
		committed = true
		return nil
	})
	if err := conn.SendBatch(ctx, rest).Close(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// readPipeline reads the results of sendPipeline's batch b up to the
// inbox insert, and when all its n ids were new, the rest, running their
// callbacks.
func readPipeline(br pgx.BatchResults, b *pgx.Batch, n int) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("insert inbox: %w", err)
	}
	fresh := 0
	for rows.Next() {
		fresh++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert inbox: %w", err)
	}
	if fresh != n {
		// A duplicate: applyAll skips it. The effects' results are read
		// without their callbacks.
		for _, qq := range b.QueuedQueries[2:] {
			qq.Fn = nil
		}
		return ErrNotPipelined
	}
	return nil
}
