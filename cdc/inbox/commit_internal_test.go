package inbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
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

// TestCommitter queues requests before the committer starts, so that it
// finds them all waiting, and checks which transactions it runs and what
// each request is told.
func TestCommitter(t *testing.T) {
	type req struct {
		partition int32
		n         int
		alone     bool
	}
	tests := []struct {
		name string
		max  int
		reqs []req
		// failing partitions fail every transaction that holds one of
		// their messages.
		failing   []int32
		cancelled bool
		wantTxs   []string
		wantErr   []bool
	}{
		{
			name:    "waiting batches share one transaction",
			max:     256,
			reqs:    []req{{partition: 0, n: 2}, {partition: 1, n: 1}, {partition: 2, n: 1}},
			wantTxs: []string{"p0:0,p0:1,p1:0,p2:0"},
			wantErr: []bool{false, false, false},
		},
		{
			name:    "a lone batch goes alone",
			max:     256,
			reqs:    []req{{partition: 3, n: 2}},
			wantTxs: []string{"p3:0,p3:1"},
			wantErr: []bool{false},
		},
		{
			name:    "max caps a merged transaction",
			max:     3,
			reqs:    []req{{partition: 0, n: 2}, {partition: 1, n: 2}, {partition: 2, n: 1}},
			wantTxs: []string{"p0:0,p0:1,p1:0,p1:1", "p2:0"},
			wantErr: []bool{false, false, false},
		},
		{
			name:    "a retry gets a transaction of its own",
			max:     256,
			reqs:    []req{{partition: 0, n: 1, alone: true}, {partition: 1, n: 1}, {partition: 2, n: 1}},
			wantTxs: []string{"p1:0,p2:0", "p0:0"},
			wantErr: []bool{false, false, false},
		},
		{
			name:    "a failed merge is tried again batch by batch",
			max:     256,
			reqs:    []req{{partition: 0, n: 1}, {partition: 1, n: 2}, {partition: 2, n: 1}},
			failing: []int32{1},
			wantTxs: []string{"p0:0,p1:0,p1:1,p2:0", "p0:0", "p1:0,p1:1", "p2:0"},
			wantErr: []bool{false, true, false},
		},
		{
			name:      "at shutdown a failed merge is not tried again",
			max:       256,
			reqs:      []req{{partition: 0, n: 1}, {partition: 1, n: 1}},
			failing:   []int32{1},
			cancelled: true,
			wantTxs:   []string{"p0:0,p1:0"},
			wantErr:   []bool{true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var txs []string
			apply := func(_ context.Context, msgs []*sarama.ConsumerMessage) error {
				mu.Lock()
				txs = append(txs, describe(msgs))
				mu.Unlock()
				for _, m := range msgs {
					if slices.Contains(tt.failing, m.Partition) {
						return errors.New("transient")
					}
				}
				return nil
			}
			c := newCommitter(apply, tt.max, 0)
			c.reqs = make(chan *commitRequest, len(tt.reqs)) // all waiting at the start
			var rs []*commitRequest
			for _, r := range tt.reqs {
				cr := &commitRequest{msgs: batchOf(r.partition, r.n), alone: r.alone, done: make(chan error, 1)}
				rs = append(rs, cr)
				c.reqs <- cr
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				// A shutdown while the first batch is taken: run would
				// stop before taking one after ctx is done.
				first := <-c.reqs
				cancel()
				merged, alone := c.gather(first)
				c.commit(ctx, merged, alone)
			} else {
				go c.run(ctx)
			}
			var gotErr []bool
			for _, r := range rs {
				gotErr = append(gotErr, <-r.done != nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantTxs, txs); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("failed requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLingers(t *testing.T) {
	tests := []struct {
		name   string
		linger time.Duration
		since  time.Duration
		retry  bool
		busy   bool
		want   bool
	}{
		{name: "follows closely", linger: 3 * time.Millisecond, since: time.Millisecond, want: true},
		{name: "comes alone", linger: 3 * time.Millisecond, since: 5 * time.Millisecond},
		{name: "exactly the linger after", linger: 3 * time.Millisecond, since: 3 * time.Millisecond},
		{name: "a retry never waits", linger: 3 * time.Millisecond, since: time.Millisecond, retry: true},
		{name: "the other committer is busy", linger: 3 * time.Millisecond, since: time.Millisecond, busy: true},
		{name: "off", linger: 0, since: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lingers(tt.linger, tt.since, tt.retry, tt.busy); got != tt.want {
				t.Errorf("lingers(%v, %v, %v, %v) = %v, want %v", tt.linger, tt.since, tt.retry, tt.busy, got, tt.want)
			}
		})
	}
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

// startCommitters runs c's committerCount committers until the test ends.
func startCommitters(t *testing.T, c *committer) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range committerCount {
		wg.Go(func() { c.run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
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

// TestCloseBatchesShareATransaction: a batch taken soon after the one before
// waits the linger, and the batches submitted meanwhile join its
// transaction, though the second committer is free. Without the linger
// each would have a transaction of its own.
func TestCloseBatchesShareATransaction(t *testing.T) {
	var rec recorder
	c := newCommitter(rec.apply, 256, time.Second)
	startCommitters(t, c)
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

// TestCommitterIsIdleWhenItAnswers: once a batch is answered, its committer
// no longer counts as in a transaction. Were it still busy, a batch
// submitted on that answer would skip the linger for the wrong reason (as
// TestCloseBatchesShareATransaction once saw in CI).
func TestCommitterIsIdleWhenItAnswers(t *testing.T) {
	// Idle Ps take the answered goroutine at once, as on a busy machine;
	// with one or two the race is rarely seen.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	var rec recorder
	c := newCommitter(rec.apply, 256, 0)
	startCommitters(t, c)
	for i := range 20000 {
		if err := c.submit(context.Background(), batchOf(0, 1), false); err != nil {
			t.Fatal(err)
		}
		if n := c.busy.Load(); n != 0 {
			t.Fatalf("after answer %d: %d committers still in a transaction, want 0", i, n)
		}
	}
}

// TestLingerSkipsLoneBatchesAndRetries: with a linger far longer than the
// test's limit, a batch that comes alone and a retry are still applied at
// once.
func TestLingerSkipsLoneBatchesAndRetries(t *testing.T) {
	var rec recorder
	c := newCommitter(rec.apply, 256, time.Hour)
	startCommitters(t, c)
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
	startCommitters(t, c)
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // runs before the committers stop: nothing stays held
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
