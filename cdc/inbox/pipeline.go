package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The pipelined path. Message by message, a transaction of k messages
// costs 3 + k round trips to Postgres: BEGIN, the inbox insert, one (or
// more) per message's effect, COMMIT. When the consumer has a
// PipelineFunc for every message of a batch, the batch is first tried in
// two: BEGIN, the inbox insert and every message's statements go in one
// pipeline (one Sync), and COMMIT follows once their results are read. It
// is optimistic: it assumes every event id is new and every message needs
// only the statements it queued. When that is not so (an id already in the
// inbox, a message whose results call for more, a statement that fails,
// anything unparseable) the transaction is rolled back and the batch goes
// the message-by-message way (applyAll, then savepoints), which decides as
// before. Both ways apply the same effects, so the outcome never depends on
// which one ran.

// ErrNotPipelined is returned by a PipelineFunc, or by the read function it
// returned, when its message needs more than statements queued ahead of
// time: the batch is then applied message by message, through Apply.
var ErrNotPipelined = errors.New("inbox: message needs the message-by-message path")

// ReadFunc reads, from a batch sent to Postgres, the results of the
// statements its PipelineFunc queued, in the order queued.
type ReadFunc func(br pgx.BatchResults) error

// PipelineFunc queues on b the statements that apply m, to run in the
// consumer's transaction after its inbox insert, and returns the function
// that reads their results once b has been sent: exactly one result per
// statement it queued, in order (the next message's read starts where it
// stops). When their results show
// that the statements applied m completely, read returns nil, and the
// effect must be exactly Apply's for m; else it returns ErrNotPipelined
// (or any error), the transaction is rolled back, and Apply decides. The
// pipeline runs with the same ctx as Apply would (m's consumer span).
type PipelineFunc func(ctx context.Context, m Message, b *pgx.Batch) (ReadFunc, error)

// Pipelines maps an event type to its PipelineFunc, as Handlers maps it to
// its ApplyFunc; a type without one is applied through Apply.
type Pipelines map[string]PipelineFunc

// Pipeline is the PipelineFunc of the table: it calls the entry of m.Type,
// or returns ErrNotPipelined when there is none.
func (p Pipelines) Pipeline(ctx context.Context, m Message, b *pgx.Batch) (ReadFunc, error) {
	f, ok := p[m.Type]
	if !ok {
		return nil, ErrNotPipelined
	}
	return f(ctx, m, b)
}

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

// applyPipelined applies batch in one pipeline and a COMMIT, as described
// above, and returns the created_at of each message (all were applied). Any
// error means nothing was applied: ErrNotPipelined when the batch is not
// for this path, else the failure, and the caller applies the batch message
// by message.
func (h *handler) applyPipelined(ctx context.Context, batch []*sarama.ConsumerMessage) (delivered []time.Time, err error) {
	msgs := make([]Message, 0, len(batch))
	seen := make(map[uuid.UUID]bool, len(batch))
	for _, m := range batch {
		msg, err := parseMessage(m)
		if err != nil || seen[msg.EventID] {
			return nil, ErrNotPipelined
		}
		seen[msg.EventID] = true
		msgs = append(msgs, msg)
	}
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(insertInboxSQL, inboxArgs(msgs)...)
	spans := make(messageSpans, 0, len(msgs))
	defer func() {
		if errors.Is(err, ErrNotPipelined) {
			spans.endNotPipelined()
			return
		}
		spans.end(err)
	}()
	reads := make([]ReadFunc, len(msgs))
	for i, msg := range msgs {
		mctx := spans.start(ctx, h.c.cfg.Group, msg)
		if reads[i], err = h.c.cfg.Pipeline(mctx, msg, b); err != nil {
			return nil, err
		}
	}
	conn, err := h.c.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if err := sendPipeline(ctx, conn, b, len(msgs), reads); err != nil {
		return nil, err
	}
	delivered = make([]time.Time, len(msgs))
	for i, msg := range msgs {
		delivered[i] = msg.CreatedAt
	}
	return delivered, nil
}

// sendPipeline sends b (begun with Batch.BeginTx, then the inbox insert
// of n ids and the statements that reads read) on conn, and commits when
// every id was new and every read succeeded; else it rolls back and
// returns why. A connection left in a transaction by a failed ROLLBACK or
// COMMIT is closed by pgx, so that the pool never reuses it.
func sendPipeline(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, n int, reads []ReadFunc) error {
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(ctx) }() // nothing to do once committed
	err := readPipeline(br, n, reads)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A COMMIT whose outcome is unknown (the connection lost) is safe to
	// follow with the message-by-message path: had it committed, the inbox
	// turns every message of the batch into a duplicate.
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// readPipeline reads the results of sendPipeline's batch.
func readPipeline(br pgx.BatchResults, n int, reads []ReadFunc) error {
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
		return ErrNotPipelined // a duplicate: applyAll skips it
	}
	for _, read := range reads {
		if err := read(br); err != nil {
			return err
		}
	}
	return nil
}
