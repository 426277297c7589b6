package inbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
)

// batchOf returns one partition's batch: partition p, offsets 0 to n-1.
func batchOf(p int32, n int) []*sarama.ConsumerMessage {
	var b []*sarama.ConsumerMessage
	for i := range n {
		b = append(b, &sarama.ConsumerMessage{Topic: "t", Partition: p, Offset: int64(i)})
	}
	return b
}

// describe names msgs as "p0:0,p0:1,p1:0".
func describe(msgs []*sarama.ConsumerMessage) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, fmt.Sprintf("p%d:%d", m.Partition, m.Offset))
	}
	return strings.Join(parts, ",")
}

// recorder is an apply func that records each transaction's messages,
// sorted, so that batches gathered in any order compare equal.
type recorder struct {
	mu  sync.Mutex
	txs []string
}

func (r *recorder) apply(_ context.Context, msgs []*sarama.ConsumerMessage) error {
	parts := strings.Split(describe(msgs), ",")
	slices.Sort(parts)
	r.mu.Lock()
	r.txs = append(r.txs, strings.Join(parts, ","))
	r.mu.Unlock()
	return nil
}

func (r *recorder) transactions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.txs)
}

// submitWithin submits batch and reports an error when its transaction
// failed or has not answered within limit.
func submitWithin(c *committer, batch []*sarama.ConsumerMessage, retry bool, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- c.submit(context.Background(), batch, retry) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		return fmt.Errorf("batch %s not applied within %v", describe(batch), limit)
	}
}

// The tests below check the consumer's settings of its group commit
// (sql/groupcommit tests the mechanism), in a synctest bubble: the clock
// moves only when every goroutine waits.

// TestCloseBatchesShareATransaction: a batch taken soon after the one before
// waits the linger, and the batches submitted meanwhile join its
// transaction, though the second committer is free. Without the linger
// each would have a transaction of its own.
func TestCloseBatchesShareATransaction(t *testing.T) {
	synctest.Test(t, testCloseBatchesShareATransaction)
}

func testCloseBatchesShareATransaction(t *testing.T) {
	var rec recorder
	c := newCommitter(rec.apply, 256, time.Second)
	// The first batch comes alone: it does not wait.
	if err := submitWithin(c, batchOf(0, 1), false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The next follows within the linger: it waits, and two more batches
	// submitted 20 ms later join it.
	var wg sync.WaitGroup
	for p := range int32(3) {
		if p == 1 {
			time.Sleep(20 * time.Millisecond)
		}
		wg.Go(func() {
			if err := submitWithin(c, batchOf(1+p, 1), false, 10*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff([]string{"p0:0", "p1:0,p2:0,p3:0"}, rec.transactions()); diff != "" {
		t.Errorf("transactions (-want +got):\n%s", diff)
	}
}

// TestLingerSkipsLoneBatchesAndRetries: with a linger far longer than the
// test's limit, a batch that comes alone and a retry are still applied at
// once.
func TestLingerSkipsLoneBatchesAndRetries(t *testing.T) {
	synctest.Test(t, testLingerSkipsLoneBatchesAndRetries)
}

func testLingerSkipsLoneBatchesAndRetries(t *testing.T) {
	var rec recorder
	c := newCommitter(rec.apply, 256, time.Hour)
	for p, retry := range []bool{false, true} {
		if err := submitWithin(c, batchOf(int32(p), 1), retry, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"p0:0", "p1:0"}, rec.transactions()); diff != "" {
		t.Errorf("transactions (-want +got):\n%s", diff)
	}
}

// TestLingerSkipsWhileOtherCommits: a batch that follows closely while the
// other committer is in a transaction does not wait, even with a linger far
// longer than the test's limit.
func TestLingerSkipsWhileOtherCommits(t *testing.T) {
	synctest.Test(t, testLingerSkipsWhileOtherCommits)
}

func testLingerSkipsWhileOtherCommits(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var rec recorder
	apply := func(ctx context.Context, msgs []*sarama.ConsumerMessage) error {
		if msgs[0].Partition == 0 {
			close(held)
			<-release
		}
		return rec.apply(ctx, msgs)
	}
	c := newCommitter(apply, 256, time.Hour)
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	defer let() // nothing stays held
	first := make(chan error, 1)
	go func() { first <- submitWithin(c, batchOf(0, 1), false, 10*time.Second) }()
	<-held
	if err := submitWithin(c, batchOf(1, 1), false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	let()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p1:0", "p0:0"}, rec.transactions()); diff != "" {
		t.Errorf("transactions (-want +got):\n%s", diff)
	}
}

func TestDistinctKeys(t *testing.T) {
	msg := func(key string) *sarama.ConsumerMessage { return &sarama.ConsumerMessage{Key: []byte(key)} }
	tests := []struct {
		name string
		msgs []*sarama.ConsumerMessage
		want []string
	}{
		{name: "One", msgs: []*sarama.ConsumerMessage{msg("alice")}, want: []string{"alice"}},
		{name: "RepeatedKeysOnce", msgs: []*sarama.ConsumerMessage{msg("alice"), msg("alice"), msg("bob"), msg("bob"), msg("carol")},
			want: []string{"alice", "bob", "carol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, distinctKeys(tt.msgs)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
