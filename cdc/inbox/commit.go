package inbox

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// Group commit. Every partition a consumer owns reads its own messages, but
// all of them apply their batches through the consumer's committers (two
// goroutines that take batches from one queue): the batches that are
// waiting when a committer's transaction ends go into its next transaction
// together. Under load that turns many small transactions (at 500 events a
// second over six partitions, mostly one message each) into a few larger
// ones: one BEGIN, one COMMIT and one WAL flush for several partitions'
// messages. At rest nothing waits: a lone batch starts its transaction at
// once, as before.
//
// Order and isolation stay as they were. A partition has at most one batch
// at the committer and marks its offsets only after that batch committed,
// so the messages of one key (one user) are applied in order, batch after
// batch and within a transaction (apply). A batch that failed is retried in a
// transaction of its own: one partition's transient failure (a message
// that keeps failing, a lock it keeps losing) holds back only that
// partition. A merged transaction that fails is tried again at once batch
// by batch, so that the other partitions' batches do not wait for a
// backoff they did not cause.
//
// Under moderate load the committers are seldom both busy, and each batch
// got a transaction of its own (at 500 events a second, 1.4 to 1.5 messages
// per transaction). With a linger (Config.Linger), a committer that takes a
// batch less than the linger after the batch before was taken waits the
// linger before it gathers: the batches that come meanwhile join its
// transaction. Only one committer takes batches at a time (turn), so the
// other one cannot start them in a transaction of their own while the
// first collects. A batch that comes alone (the one before is older than
// the linger) and a retry do not wait: at rest and at low rates nothing
// changes. Nor does a batch taken while the other committer is in a
// transaction: then the batches that come meanwhile merge anyway, and
// under heavy load, when both are mostly busy, nothing waits longer than
// without the linger.

// committerCount is the number of transactions a consumer runs at once.
// Two, so that a transaction that waits (a row lock held elsewhere, a slow
// flush) holds back only the partitions in it: the other committer serves
// the rest. Each partition has at most one batch at a committer, and two
// committers' transactions hold different partitions, hence different keys.
const committerCount = 2

// commitRequest is one partition's batch at the committer.
type commitRequest struct {
	msgs []*sarama.ConsumerMessage
	// alone asks for a transaction of its own (a retry).
	alone bool
	// done receives the outcome: nil once the batch committed.
	done chan error
}

// committer applies batches for all the partitions of one consumer; run
// may be called by several goroutines.
type committer struct {
	// apply runs one transaction over msgs (handler.apply).
	apply func(ctx context.Context, msgs []*sarama.ConsumerMessage) error
	// max caps the messages of a merged transaction.
	max  int
	reqs chan *commitRequest
	// linger is how long a committer collects batches that come less than
	// linger apart (0: never).
	linger time.Duration
	// turn holds a token while a committer takes and collects batches.
	turn chan struct{}
	// last is when the batch before was taken; guarded by turn.
	last time.Time
	// busy counts the committers in a transaction.
	busy atomic.Int32
}

func newCommitter(apply func(context.Context, []*sarama.ConsumerMessage) error, max int, linger time.Duration) *committer {
	return &committer{apply: apply, max: max, reqs: make(chan *commitRequest), linger: linger, turn: make(chan struct{}, 1)}
}

// submit hands batch to the committer and waits for its transaction. When
// ctx is done before the committer takes the batch, submit returns ctx's
// error and nothing was applied. Once taken, the batch's transaction may
// outlive ctx by up to shutdownGrace, and submit returns its outcome.
func (c *committer) submit(ctx context.Context, batch []*sarama.ConsumerMessage, alone bool) error {
	r := &commitRequest{msgs: batch, alone: alone, done: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

// run applies the batches submitted until ctx is done. Every batch it takes
// gets an answer: the batches of a shutdown finish within shutdownGrace.
func (c *committer) run(ctx context.Context) {
	for {
		merged, alone, ok := c.take(ctx)
		if !ok {
			return
		}
		c.commit(ctx, merged, alone)
	}
}

// take waits for its turn and a batch, collects the batches that come
// within the linger when it follows the batch before closely, and returns
// them as gather does. It reports false when ctx is done first.
func (c *committer) take(ctx context.Context) (merged, alone []*commitRequest, ok bool) {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, false
	}
	defer func() { <-c.turn }()
	var first *commitRequest
	select {
	case first = <-c.reqs:
	case <-ctx.Done():
		return nil, nil, false
	}
	now := time.Now()
	if lingers(c.linger, now.Sub(c.last), first.alone, c.busy.Load() > 0) {
		// A shutdown ends the wait; the batches taken are still applied.
		sleep(ctx, c.linger)
	}
	c.last = now
	merged, alone = c.gather(first)
	return merged, alone, true
}

// lingers reports whether a batch taken since after the batch before it
// waits linger for others to join its transaction: when it follows closely,
// is not a retry, and the other committer is idle. While the other is in
// a transaction (busy), the batches that come meanwhile wait for a
// committer anyway and merge without a linger: under heavy load nothing
// waits longer than before.
func lingers(linger, since time.Duration, retry, busy bool) bool {
	return linger > 0 && !retry && !busy && since < linger
}

// commit applies merged in one transaction and then each of alone in its
// own, and answers each.
func (c *committer) commit(ctx context.Context, merged, alone []*commitRequest) {
	c.commitMerged(ctx, merged)
	for _, r := range alone {
		r.done <- c.transact(ctx, r.msgs)
	}
}

// gather returns first and every batch already waiting, split into those
// that may share a transaction (up to max messages) and those that ask for
// one of their own.
func (c *committer) gather(first *commitRequest) (merged, alone []*commitRequest) {
	n := 0
	add := func(r *commitRequest) {
		if r.alone {
			alone = append(alone, r)
			return
		}
		merged = append(merged, r)
		n += len(r.msgs)
	}
	add(first)
	for n < c.max {
		select {
		case r := <-c.reqs:
			add(r)
		default:
			return merged, alone
		}
	}
	return merged, alone
}

// commitMerged applies the batches of group in one transaction and answers
// each. When that transaction fails, each batch is applied again alone, at
// once, unless ctx is done (a shutdown: every batch gets the failure).
func (c *committer) commitMerged(ctx context.Context, group []*commitRequest) {
	switch len(group) {
	case 0:
		return
	case 1:
		group[0].done <- c.transact(ctx, group[0].msgs)
		return
	}
	var msgs []*sarama.ConsumerMessage
	for _, r := range group {
		msgs = append(msgs, r.msgs...)
	}
	err := c.transact(ctx, msgs)
	for _, r := range group {
		if err != nil && ctx.Err() == nil {
			r.done <- c.transact(ctx, r.msgs)
			continue
		}
		r.done <- err
	}
}

// transact runs one transaction over msgs, counted in busy while it runs.
// busy is down again before the caller answers the batch, so that a batch
// submitted on that answer finds this committer idle, as it is.
func (c *committer) transact(ctx context.Context, msgs []*sarama.ConsumerMessage) error {
	c.busy.Add(1)
	defer c.busy.Add(-1)
	return c.apply(ctx, msgs)
}

// apply runs one transaction over msgs (applyBatch) and, once it committed,
// records its metrics. The messages are applied in the order of their keys
// (the user), each key's messages in offset order: a transaction locks its
// users' rows in that order, and so does every other transaction that
// locks several users' rows (orders/postgres creates merged orders sorted
// by user), so that two of them never wait for each other in a cycle. A
// partition's messages of different keys have no order between them to
// keep.
func (h *handler) apply(ctx context.Context, msgs []*sarama.ConsumerMessage) error {
	start := time.Now()
	msgs = slices.Clone(msgs)
	slices.SortStableFunc(msgs, func(a, b *sarama.ConsumerMessage) int { return bytes.Compare(a.Key, b.Key) })
	dead, delivered, err := h.applyBatch(ctx, msgs)
	if err != nil {
		return err
	}
	h.c.observeCommitted(msgs[0].Topic, delivered, dead)
	h.c.log.Debug("batch committed", slog.Int("messages", len(msgs)), slog.Int("dead_letters", dead), slog.Duration("took", time.Since(start)))
	return nil
}
