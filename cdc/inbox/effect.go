package inbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// An event's effect is written once, as an EffectFunc: the statements that
// apply it, queued on a Queue, each with the pgx callback that reads its
// result (pgx.QueuedQuery's Exec, QueryRow or Query). A callback may queue
// more statements, which depend on the result it read: they are sent once
// every statement queued before them has been read.
//
// The consumer runs an effect in one of two ways, with the same statements
// and callbacks:
//
//   - pipelined (pipeline.go): the first statements of every message of a
//     batch follow BEGIN and the inbox insert in one pipeline, and the
//     statements their callbacks queue go with the COMMIT in a second;
//   - round by round within a transaction (Run), for the
//     message-by-message path, replays and callers outside the consumer.
//
// The pipelined way sends a statement queued by a callback after the first
// statements of the batch's later messages. So it takes only statements
// without a callback there (an outbox row, a parked result: rows that no
// effect reads); a callback that queues one with a callback of its own
// (a statement whose result decides what comes next) sends the batch the
// message-by-message way, which runs each message's effect to its end
// before the next one's.

// Queue collects the statements of effects. Not safe for concurrent use.
type Queue struct {
	batch *pgx.Batch
}

// Queue queues a statement; set its callback on the returned QueuedQuery.
// Called from a callback, it queues a statement that runs after those
// queued so far.
func (q *Queue) Queue(sql string, args ...any) *pgx.QueuedQuery {
	return q.batch.Queue(sql, args...)
}

// EffectFunc queues on q the statements that apply m, within the
// consumer's transaction after m's id was inserted into the inbox. It and
// its callbacks follow ApplyFunc's rules: an error wrapped with Undecodable
// (or a Postgres data exception or check violation) dead-letters m, any
// other is transient. ctx is m's consumer span.
type EffectFunc func(ctx context.Context, q *Queue, m Message) error

// Effects maps an event type (the header eventType, one of the constants
// next to the messages in shop/proto) to its effect. Adding an event type
// to a consumer is one entry here.
type Effects map[string]EffectFunc

// ErrUnknownEventType is the reason of a message whose event type the
// consumer does not know (errors.Is). During a rolling upgrade a newer
// producer may emit a new type before every consumer knows it: such a
// message is dead-lettered, not skipped, so that once the consumer is
// upgraded an operator replays it (shopctl dead-letters replay) and its
// effect is applied after all (docs/upgrades.md, "Events a consumer does
// not know yet").
var ErrUnknownEventType = errors.New("unknown event type")

// Effect is the EffectFunc of the table: it calls the entry of m.Type. A
// message of a type the table does not know cannot be applied by this
// release: it is Undecodable with ErrUnknownEventType, and names the type.
func (e Effects) Effect(ctx context.Context, q *Queue, m Message) error {
	effect, ok := e[m.Type]
	if !ok {
		return Undecodable(fmt.Errorf("%w %q: this release of the consumer does not apply it; replay the dead letter once a release that knows it runs",
			ErrUnknownEventType, m.Type))
	}
	return effect(ctx, q, m)
}

// Apply is the ApplyFunc of the table: it runs m's effect within tx (Run).
func (e Effects) Apply(ctx context.Context, tx pgx.Tx, m Message) error {
	return EffectFunc(e.Effect).Apply(ctx, tx, m)
}

// Apply is the ApplyFunc of effect f: it runs f's statements for m within
// tx (Run).
func (f EffectFunc) Apply(ctx context.Context, tx pgx.Tx, m Message) error {
	return Run(ctx, tx, func(q *Queue) error { return f(ctx, q, m) })
}

// Run calls queue and runs the statements it queued within tx, in rounds:
// the statements queued before are sent in one batch, their callbacks run,
// and the statements those queued are the next round, until a round queues
// none. It returns the first error of queue, a statement or a callback;
// tx must then be rolled back.
func Run(ctx context.Context, tx pgx.Tx, queue func(q *Queue) error) error {
	q := &Queue{batch: &pgx.Batch{}}
	if err := queue(q); err != nil {
		return err
	}
	for q.batch.Len() > 0 {
		round := q.batch
		q.batch = &pgx.Batch{}
		if err := tx.SendBatch(ctx, round).Close(); err != nil {
			return err
		}
	}
	return nil
}
