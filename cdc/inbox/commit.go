package inbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"shop/sql/groupcommit"
)

// Group commit. Every partition a consumer owns reads its own messages, but
// all of them apply their batches through the consumer's committer
// (sql/groupcommit): at most two transactions at once, and the batches that
// wait when one ends go into the next together. Under load that turns many
// small transactions (at 500 events a second over six partitions, mostly
// one message each) into a few larger ones: one BEGIN, one COMMIT and one
// WAL flush for several partitions' messages. At rest nothing waits: a lone
// batch starts its transaction at once.
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
// Under moderate load the two transactions are seldom both running, and
// each batch got a transaction of its own (at 500 events a second, 1.4 to
// 1.5 messages per transaction). With a linger (Config.Linger), a batch
// that starts a transaction less than the linger after the transaction
// before started waits the linger: the batches that come meanwhile join
// its transaction. A batch that comes alone (the transaction before started
// longer ago) and a retry do not wait: at rest and at low rates nothing
// changes. Nor does a batch that comes while the other transaction runs:
// then the batches that come meanwhile merge anyway, and under heavy load,
// when both are mostly busy, nothing waits longer than without the linger.

// committerCount is the number of transactions a consumer runs at once.
// Two, so that a transaction that waits (a row lock held elsewhere, a slow
// flush) holds back only the partitions in it: the other committer serves
// the rest. Each partition has at most one batch at a committer, and two
// committers' transactions hold different partitions, hence different keys.
const committerCount = 2

// committer applies batches for all the partitions of one consumer, through
// sql/groupcommit: committerCount transactions at once, merged up to max
// messages, lingering as Config.Linger says (only while no other
// transaction runs, measured from the start of the transaction before). It
// is safe for concurrent use.
type committer struct {
	*groupcommit.Committer[[]*sarama.ConsumerMessage]
}

// newCommitter returns a committer whose transactions apply runs, with all
// their batches' messages.
func newCommitter(apply func(context.Context, []*sarama.ConsumerMessage) error, max int, linger time.Duration) *committer {
	cfg := groupcommit.Config[[]*sarama.ConsumerMessage]{
		Slots:            committerCount,
		Max:              max,
		Size:             func(b []*sarama.ConsumerMessage) int { return len(b) },
		Linger:           linger,
		LingerAfterGroup: true,
		LingerWhenIdle:   true,
	}
	g, err := groupcommit.New(cfg, func(ctx context.Context, batches [][]*sarama.ConsumerMessage) error {
		if len(batches) == 1 {
			return apply(ctx, batches[0])
		}
		return apply(ctx, slices.Concat(batches...))
	})
	if err != nil {
		// New validated max and linger.
		panic(fmt.Sprintf("inbox: group commit: %v", err))
	}
	return &committer{g}
}

// submit hands batch to the committer and waits for its transaction; a
// retry goes in a transaction of its own, without a linger. When ctx is
// done before the committer takes the batch, submit returns ctx's error and
// nothing was applied; once taken, submit returns its outcome.
func (c *committer) submit(ctx context.Context, batch []*sarama.ConsumerMessage, retry bool) error {
	if retry {
		return c.DoAlone(ctx, batch)
	}
	return c.Do(ctx, batch)
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
	if h.c.cfg.Committed != nil {
		h.c.cfg.Committed(distinctKeys(msgs))
	}
	h.c.log.Debug("batch committed", slog.Int("messages", len(msgs)), slog.Int("dead_letters", dead), slog.Duration("took", time.Since(start)))
	return nil
}

// distinctKeys returns the keys of msgs, each once; msgs are sorted by key.
func distinctKeys(msgs []*sarama.ConsumerMessage) []string {
	keys := make([]string, 0, len(msgs))
	for i, m := range msgs {
		if i == 0 || !bytes.Equal(m.Key, msgs[i-1].Key) {
			keys = append(keys, string(m.Key))
		}
	}
	return keys
}
